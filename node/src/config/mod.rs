//! The node's settings: command-line flags, and the layering of built-in defaults, the config file, the environment and the flags into one checked [`Config`].
//!
//! # Layers
//!
//! Each later layer overrides the earlier ones, key by key, as bitcoind does:
//!
//! 1. built-in defaults (the same values as the shipped `config.toml`);
//! 2. the config file: `--config FILE`, else `./config.toml` if it exists
//!    (a file named with `--config` that is missing is an error);
//! 3. the environment: one variable per key, `SIGCHAIN_` followed by the key's
//!    name in upper case (key names are unique across sections), for example
//!    `SIGCHAIN_DIFFICULTY`, `SIGCHAIN_PORT`, `SIGCHAIN_DATA_DIR`,
//!    `SIGCHAIN_INITIAL_PEERS` (a comma- or space-separated list, which
//!    replaces the file's list);
//! 4. flags: `--host`, `--port`, `--data-dir`, `--difficulty`,
//!    `--miner-threads`, and `--peer URL` (repeatable; each adds to the
//!    initial peers of the lower layers).
//!
//! # Paths
//!
//! A relative `data_dir` is relative to the node's working directory, like
//! every path given on the command line. An empty or unset `data_dir` means
//! `data/node-<port>` there, so two nodes started with different ports in one
//! directory never share a data directory. Port 0 (any free port) therefore
//! needs an explicit `data_dir`.
//!
//! Every error names the file and key, the variable, or the flag, and says
//! what is wrong with the value.
//!
//! # Layout
//!
//! - this file: [`Config`] and its sections, their defaults, and `load*`;
//! - `args.rs`: the flags ([`Args`]) and which key each text flag sets;
//! - `keys.rs`: the table of keys, one row per key: its `section.name`, how a
//!   value is checked and stored, how it prints in the summary;
//! - `values.rs`: the value checks the rows share (whole numbers in a range,
//!   host names, peer lists, ...);
//! - `layers.rs`: applying the file, the environment and the flags, then the
//!   checks of settings against each other;
//! - `error.rs`: [`Origin`] and [`ConfigError`].
//!
//! # Adding a setting
//!
//! Add the field (with its `///` line) to its section's struct here and its
//! default to the `Default` impl, then one row to `KEYS` in `keys.rs`. The
//! row alone makes the key readable from the file and from its environment
//! variable (`SIGCHAIN_` and the name after the dot, upper-cased: the name
//! must be unique across sections, which a test checks), and lists it in the
//! summary. A flag that sets the key is a field of [`Args`] and one row of
//! `KEY_FLAGS` in `args.rs`.

mod args;
mod error;
mod keys;
mod layers;
mod values;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wallet::Amount;

use crate::net::{PeerAddr, PeerPolicy};

pub use args::Args;
pub use error::{ConfigError, Origin};
use keys::Key;
use layers::Builder;

/// The file read when `--config` is not given, relative to the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "config.toml";

/// Prefix of every environment variable the node reads for its settings.
pub const ENV_PREFIX: &str = "SIGCHAIN_";

/// The consensus parameters: every node of one network must share them.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainParams {
    /// Leading hex zeros required of the proof-of-work hash, `1..=64`.
    pub difficulty: u32,
    /// Coins the miner of a block pays itself.
    pub mining_reward: Amount,
    /// Timestamp of the genesis block, seconds since the epoch; finite, `>= 0`.
    pub genesis_timestamp: f64,
    /// At most this many transactions in one block, reward included; `>= 2`.
    pub max_block_transactions: usize,
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            difficulty: 4,
            mining_reward: Amount::ONE,
            genesis_timestamp: 0.0,
            max_block_transactions: 1000,
        }
    }
}

/// How this node runs: where it listens, where it keeps its data, its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    /// Address to listen on: an IP address (IPv6 without brackets) or a host name.
    pub host: String,
    /// Port to listen on; 0 lets the system pick one.
    pub port: u16,
    /// Where the chain, pool, peers and key live (the default already applied).
    pub data_dir: PathBuf,
    /// At most this many pending transactions; `>= 1`.
    pub max_pool: usize,
    /// Proof-of-work threads, `>= 1` (a configured 0 is already replaced by the core count).
    pub miner_threads: usize,
    /// Largest accepted request body, in bytes; `>= 1`.
    pub max_body_bytes: usize,
    /// How long a streamed chain (`/chain`, `/nodes/resolve`) waits for its
    /// client to take the next part before it is cut short and its store
    /// snapshot let go (`node.stall_timeout_ms`).
    pub stall_timeout: Duration,
    /// The URL other nodes reach this one at (`node.public_url`), when set;
    /// see [`Config::public_url`] for the default.
    pub public_url: Option<PeerAddr>,
    /// How log lines are written (`node.log_format`, `--log-format`).
    pub log_format: LogFormat,
}

/// How the node writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (`text`).
    #[default]
    Text,
    /// One JSON object a line, for a log pipeline (`json`).
    Json,
}

impl LogFormat {
    /// Reads `text` or `json`.
    pub fn parse(text: &str) -> Result<LogFormat, String> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("must be \"text\" or \"json\", got {other:?}")),
        }
    }

    /// The name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl NodeSettings {
    /// The `host:port` to bind, with brackets around an IPv6 host.
    pub fn bind_address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// How this node talks to its peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSettings {
    /// Peers to know at start (`peers.initial_peers` plus every `--peer`), without duplicates.
    pub initial_peers: Vec<PeerAddr>,
    /// At most this many registered peers; `>= 1`.
    pub max_peers: usize,
    /// How long one peer may take to answer `/chain` (`peers.timeout_ms`).
    pub timeout: Duration,
    /// Largest `/chain` answer read from a peer, in bytes; `>= 1`.
    pub max_chain_bytes: usize,
    /// How often to ask each peer for its tip and sync from one that is ahead; zero turns it off.
    pub sync_interval: Duration,
    /// A peer whose answers are malformed or invalid this many times in a row is dropped; `>= 1`.
    pub max_failures: u32,
    /// Whether to announce new blocks and relay admitted transfers to peers
    /// (off: nodes agree only through sync and resolve, as in the seed).
    pub gossip: bool,
    /// A peer that cannot be reached this many times in a row (with a
    /// doubling wait between attempts) is dropped; `>= 1`.
    pub max_unreachable: u32,
    /// Whether any caller may register peers (as in the seed); when false only loopback callers may.
    pub open_registration: bool,
    /// Whether peers at link-local (169.254.0.0/16, fe80::/10) addresses may be registered and fetched.
    pub allow_link_local: bool,
}

/// Every setting of a node, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[chain]`: consensus parameters.
    pub chain: ChainParams,
    /// `[node]`: this node's listening address, data directory and limits.
    pub node: NodeSettings,
    /// `[peers]`: peers and the limits on talking to them.
    pub peers: PeerSettings,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
    /// Where each key's value came from, indexed by [`Key::index`].
    origins: Vec<Origin>,
    /// Whether `miner_threads` was configured as 0 (one per core).
    miner_threads_auto: bool,
}

impl Default for Config {
    /// The built-in defaults (the shipped `config.toml`), on this machine.
    fn default() -> Self {
        let port = 5000;
        Config {
            chain: ChainParams::default(),
            node: NodeSettings {
                host: "127.0.0.1".into(),
                port,
                data_dir: default_data_dir(port),
                max_pool: 10_000,
                miner_threads: core_count(),
                max_body_bytes: 65_536,
                stall_timeout: Duration::from_secs(60),
                public_url: None,
                log_format: LogFormat::Text,
            },
            peers: PeerSettings {
                initial_peers: Vec::new(),
                max_peers: 64,
                timeout: Duration::from_millis(5000),
                max_chain_bytes: 64 * 1024 * 1024,
                sync_interval: Duration::from_millis(2000),
                max_failures: 3,
                max_unreachable: 30,
                gossip: true,
                open_registration: true,
                allow_link_local: false,
            },
            file: None,
            origins: vec![Origin::Default; Key::count()],
            miner_threads_auto: true,
        }
    }
}

/// The default data directory for a node listening on `port`: `data/node-<port>`.
pub fn default_data_dir(port: u16) -> PathBuf {
    Path::new("data").join(format!("node-{port}"))
}

/// The number of cores, which a `miner_threads` of 0 stands for.
fn core_count() -> usize {
    // If the system cannot say, one thread still mines correctly.
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl Config {
    /// The address other nodes reach this one at: `node.public_url`, else
    /// `host:port` when the host is not a wildcard (`0.0.0.0`, `::`), else
    /// unknown.
    pub fn public_url(&self) -> Option<PeerAddr> {
        if let Some(url) = &self.node.public_url {
            return Some(url.clone());
        }
        let wildcard = self
            .node
            .host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        if wildcard {
            return None;
        }
        PeerAddr::parse(&self.node.bind_address()).ok()
    }

    /// Which addresses this node accepts as peers: never itself (on its
    /// configured host and port), link-local ones only when allowed.
    pub fn peer_policy(&self) -> PeerPolicy {
        PeerPolicy {
            allow_link_local: self.peers.allow_link_local,
            own_port: self.node.port,
            own_host: self.node.host.clone(),
        }
    }
}

impl Config {
    /// Layers defaults, the config file (`--config`, else `./config.toml` if
    /// present), the environment as read by `env`, and the flags in `args`.
    pub fn load(args: &Args, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::load_with_default_file(args, env, Path::new(DEFAULT_CONFIG_FILE))
    }

    /// [`Config::load`] with the process environment; a `SIGCHAIN_*` variable
    /// that is not UTF-8 is an error rather than silently ignored.
    pub fn load_from_process(args: &Args) -> Result<Config, ConfigError> {
        for (name, value) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text.starts_with(ENV_PREFIX) && value.to_str().is_none() {
                return Err(ConfigError::NotUnicode(name_text.into_owned()));
            }
        }
        Config::load(args, |name| std::env::var(name).ok())
    }

    /// [`Config::load`] reading `default_file` instead of `./config.toml` when
    /// `--config` is not given (a missing `default_file` is simply skipped).
    pub fn load_with_default_file(
        args: &Args,
        env: impl Fn(&str) -> Option<String>,
        default_file: &Path,
    ) -> Result<Config, ConfigError> {
        let mut builder = Builder::new();
        if let Some((path, text)) = layers::read_file(args, default_file)? {
            builder.apply_file(&path, &text)?;
        }
        builder.apply_env(env)?;
        builder.apply_flags(args)?;
        builder.finish()
    }

    /// Where the value of the key `section.name` came from (`None` for an unknown key).
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        Key::find(key).map(|k| &self.origins[k.index()])
    }

    /// The effective settings, one `key = value (origin)` line each, for the start-up log.
    pub fn summary(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(path) => writeln!(f, "settings (config file {}):", path.display())?,
            None => writeln!(f, "settings (no config file):")?,
        }
        for key in Key::all() {
            let origin = match &self.origins[key.index()] {
                Origin::Default => "default",
                Origin::File { .. } => "config file",
                Origin::Env(var) => var,
                Origin::Flag(flag) => flag,
            };
            if key.index() > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "  {} = {} ({origin}{})",
                key.path(),
                key.show(self),
                key.note(self)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
