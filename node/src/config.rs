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

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use wallet::Amount;

use crate::net::{canonical_host, PeerAddr, PeerError};

/// The file read when `--config` is not given, relative to the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "config.toml";

/// Prefix of every environment variable the node reads for its settings.
pub const ENV_PREFIX: &str = "SIGCHAIN_";

/// Command-line flags of the `node` binary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(
    name = "node",
    version,
    about = "sigchain node: keeps the chain, mines, and talks to peers over HTTP",
    after_help = "Settings layer as: built-in defaults < config file < SIGCHAIN_* environment < flags."
)]
pub struct Args {
    /// Read settings from FILE [default: ./config.toml if it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (node.host).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Port to listen on (node.port); 0 picks a free one.
    #[arg(short, long, value_name = "PORT")]
    pub port: Option<String>,
    /// Directory for the chain, pool, peers and key (node.data_dir) [default: data/node-<port>].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A peer to know at start, as http://host:port or host:port; repeatable.
    #[arg(long = "peer", value_name = "URL")]
    pub peers: Vec<String>,
    /// Leading hex zeros required of a proof (chain.difficulty).
    #[arg(long, value_name = "N")]
    pub difficulty: Option<String>,
    /// Proof-of-work threads, 0 for one per core (node.miner_threads).
    #[arg(long, value_name = "N")]
    pub miner_threads: Option<String>,
}

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
    /// Where each key's value came from, indexed by `Key as usize`.
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
            },
            peers: PeerSettings {
                initial_peers: Vec::new(),
                max_peers: 64,
                timeout: Duration::from_millis(5000),
                max_chain_bytes: 64 * 1024 * 1024,
            },
            file: None,
            origins: vec![Origin::Default; KEYS.len()],
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

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A key of a config file.
    File {
        /// The file.
        path: PathBuf,
        /// The key, as `section.name`.
        key: &'static str,
    },
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("built-in default"),
            Origin::File { path, key } => write!(f, "config file {}, key {key}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// Why the settings could not be loaded. Each names where the bad value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config FILE` names a file that does not exist.
    #[error("config file {} (given with --config) does not exist", path.display())]
    MissingFile {
        /// The file.
        path: PathBuf,
    },
    /// The config file exists but cannot be read.
    #[error("config file {}: cannot read it: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("config file {}: not valid TOML at line {line}, column {column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The config file has a section or key the node does not know.
    #[error("config file {}: unknown {what} `{key}`{hint}", path.display())]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// "section" or "key".
        what: &'static str,
        /// The unknown name, as `section.name` for keys.
        key: String,
        /// The known names, to spot the typo.
        hint: String,
    },
    /// A value is of the wrong type or out of range.
    #[error("{origin}: {reason}")]
    Invalid {
        /// Where the value came from.
        origin: Origin,
        /// What is wrong, including the value.
        reason: String,
    },
    /// Two settings that cannot go together.
    #[error("{first} and {second}: {reason}")]
    Conflict {
        /// Where the first value came from.
        first: Origin,
        /// Where the second value came from.
        second: Origin,
        /// What is wrong.
        reason: String,
    },
    /// A `SIGCHAIN_*` variable holds bytes that are not UTF-8.
    #[error("environment variable {0}: not valid UTF-8")]
    NotUnicode(String),
}

/// One settable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Difficulty,
    MiningReward,
    GenesisTimestamp,
    MaxBlockTransactions,
    Host,
    Port,
    DataDir,
    MaxPool,
    MinerThreads,
    MaxBodyBytes,
    InitialPeers,
    MaxPeers,
    TimeoutMs,
    MaxChainBytes,
}

/// Every key, in file order; `KEYS[k as usize] == k`.
const KEYS: [Key; 14] = [
    Key::Difficulty,
    Key::MiningReward,
    Key::GenesisTimestamp,
    Key::MaxBlockTransactions,
    Key::Host,
    Key::Port,
    Key::DataDir,
    Key::MaxPool,
    Key::MinerThreads,
    Key::MaxBodyBytes,
    Key::InitialPeers,
    Key::MaxPeers,
    Key::TimeoutMs,
    Key::MaxChainBytes,
];

const SECTIONS: [&str; 3] = ["chain", "node", "peers"];

impl Key {
    /// `section.name`, as written in the file.
    fn path(self) -> &'static str {
        match self {
            Key::Difficulty => "chain.difficulty",
            Key::MiningReward => "chain.mining_reward",
            Key::GenesisTimestamp => "chain.genesis_timestamp",
            Key::MaxBlockTransactions => "chain.max_block_transactions",
            Key::Host => "node.host",
            Key::Port => "node.port",
            Key::DataDir => "node.data_dir",
            Key::MaxPool => "node.max_pool",
            Key::MinerThreads => "node.miner_threads",
            Key::MaxBodyBytes => "node.max_body_bytes",
            Key::InitialPeers => "peers.initial_peers",
            Key::MaxPeers => "peers.max_peers",
            Key::TimeoutMs => "peers.timeout_ms",
            Key::MaxChainBytes => "peers.max_chain_bytes",
        }
    }

    fn section(self) -> &'static str {
        self.path()
            .split_once('.')
            .map_or("", |(section, _)| section)
    }

    fn name(self) -> &'static str {
        self.path().split_once('.').map_or("", |(_, name)| name)
    }

    /// The environment variable: `SIGCHAIN_` and the name in upper case.
    fn env(self) -> &'static str {
        match self {
            Key::Difficulty => "SIGCHAIN_DIFFICULTY",
            Key::MiningReward => "SIGCHAIN_MINING_REWARD",
            Key::GenesisTimestamp => "SIGCHAIN_GENESIS_TIMESTAMP",
            Key::MaxBlockTransactions => "SIGCHAIN_MAX_BLOCK_TRANSACTIONS",
            Key::Host => "SIGCHAIN_HOST",
            Key::Port => "SIGCHAIN_PORT",
            Key::DataDir => "SIGCHAIN_DATA_DIR",
            Key::MaxPool => "SIGCHAIN_MAX_POOL",
            Key::MinerThreads => "SIGCHAIN_MINER_THREADS",
            Key::MaxBodyBytes => "SIGCHAIN_MAX_BODY_BYTES",
            Key::InitialPeers => "SIGCHAIN_INITIAL_PEERS",
            Key::MaxPeers => "SIGCHAIN_MAX_PEERS",
            Key::TimeoutMs => "SIGCHAIN_TIMEOUT_MS",
            Key::MaxChainBytes => "SIGCHAIN_MAX_CHAIN_BYTES",
        }
    }
}

/// A value before it is checked: from the TOML file, or text from the environment or a flag.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Toml(&'a toml::Value),
    Text(&'a str),
}

fn toml_type(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

/// A whole number `>= 0`.
fn whole(raw: Raw<'_>) -> Result<u64, String> {
    match raw {
        Raw::Toml(toml::Value::Integer(n)) => {
            u64::try_from(*n).map_err(|_| format!("must not be negative, got {n}"))
        }
        Raw::Toml(other) => Err(format!("must be a whole number, got {}", toml_type(other))),
        Raw::Text("") => Err("is empty; give a whole number or unset it".into()),
        Raw::Text(text) if text.bytes().all(|b| b.is_ascii_digit()) => text
            .parse::<u64>()
            .map_err(|_| format!("{text:?} is too large")),
        Raw::Text(text) => Err(format!("{text:?} is not a whole number")),
    }
}

/// A whole number in `min..=max`.
fn whole_in(raw: Raw<'_>, min: u64, max: u64) -> Result<u64, String> {
    let n = whole(raw)?;
    if n < min || n > max {
        Err(format!("must be from {min} to {max}, got {n}"))
    } else {
        Ok(n)
    }
}

/// A whole number `>= min` that fits a `usize`.
fn size_at_least(raw: Raw<'_>, min: u64) -> Result<usize, String> {
    let n = whole_in(raw, min, usize::MAX as u64)?;
    usize::try_from(n).map_err(|_| format!("{n} is too large for this machine"))
}

fn text(raw: Raw<'_>) -> Result<&str, String> {
    match raw {
        Raw::Toml(toml::Value::String(s)) => Ok(s),
        Raw::Toml(other) => Err(format!("must be a string, got {}", toml_type(other))),
        Raw::Text(s) => Ok(s),
    }
}

/// Settings being layered. `data_dir` stays unresolved until the port is final.
struct Builder {
    config: Config,
    data_dir: Option<PathBuf>,
    /// The configured value, 0 meaning one per core.
    miner_threads: usize,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            config: Config::default(),
            data_dir: None,
            miner_threads: 0,
        }
    }

    /// Checks `raw` as the value of `key` and sets it.
    fn apply(&mut self, key: Key, raw: Raw<'_>, origin: Origin) -> Result<(), ConfigError> {
        self.set(key, raw).map_err(|reason| ConfigError::Invalid {
            origin: origin.clone(),
            reason,
        })?;
        self.config.origins[key as usize] = origin;
        Ok(())
    }

    fn set(&mut self, key: Key, raw: Raw<'_>) -> Result<(), String> {
        let config = &mut self.config;
        match key {
            Key::Difficulty => config.chain.difficulty = whole_in(raw, 1, 64)? as u32,
            Key::MiningReward => {
                let n = whole(raw)?;
                config.chain.mining_reward = Amount::new(n).map_err(|e| format!("{e}, got {n}"))?;
            }
            Key::GenesisTimestamp => {
                let t = match raw {
                    Raw::Toml(toml::Value::Float(t)) => *t,
                    Raw::Toml(toml::Value::Integer(n)) => *n as f64,
                    Raw::Toml(other) => {
                        return Err(format!("must be a number, got {}", toml_type(other)))
                    }
                    Raw::Text(s) => s
                        .parse::<f64>()
                        .map_err(|_| format!("{s:?} is not a number"))?,
                };
                if !t.is_finite() || t < 0.0 {
                    return Err(format!("must be a finite number >= 0, got {t}"));
                }
                config.chain.genesis_timestamp = t;
            }
            // The reward takes one place; a block must have room for a transfer too.
            Key::MaxBlockTransactions => {
                config.chain.max_block_transactions = size_at_least(raw, 2)?
            }
            Key::Host => {
                let host = text(raw)?;
                config.node.host = check_bind_host(host)?;
            }
            Key::Port => config.node.port = whole_in(raw, 0, 65535)? as u16,
            Key::DataDir => {
                let dir = text(raw)?;
                self.data_dir = (!dir.is_empty()).then(|| PathBuf::from(dir));
            }
            Key::MaxPool => config.node.max_pool = size_at_least(raw, 1)?,
            Key::MinerThreads => self.miner_threads = whole_in(raw, 0, 1024)? as usize,
            Key::MaxBodyBytes => config.node.max_body_bytes = size_at_least(raw, 1)?,
            Key::InitialPeers => config.peers.initial_peers = peer_list(raw)?,
            Key::MaxPeers => config.peers.max_peers = size_at_least(raw, 1)?,
            Key::TimeoutMs => {
                config.peers.timeout = Duration::from_millis(whole_in(raw, 1, 3_600_000)?)
            }
            Key::MaxChainBytes => config.peers.max_chain_bytes = size_at_least(raw, 1)?,
        }
        Ok(())
    }

    fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| line_column(text, span.start));
            ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                // One line, so the CLI prints one line.
                message: e.message().trim().lines().collect::<Vec<_>>().join("; "),
            }
        })?;
        for (section, body) in &table {
            let Some(&section_name) = SECTIONS.iter().find(|s| **s == section.as_str()) else {
                return Err(ConfigError::UnknownKey {
                    path: path.to_owned(),
                    what: "section",
                    key: section.clone(),
                    hint: format!(
                        " (known sections: {})",
                        SECTIONS.map(|s| format!("[{s}]")).join(", ")
                    ),
                });
            };
            let toml::Value::Table(body) = body else {
                return Err(ConfigError::Invalid {
                    origin: Origin::File {
                        path: path.to_owned(),
                        key: section_name,
                    },
                    reason: format!(
                        "must be a section [{section_name}], got {}",
                        toml_type(body)
                    ),
                });
            };
            let keys: Vec<Key> = KEYS
                .into_iter()
                .filter(|k| k.section() == section_name)
                .collect();
            for (name, value) in body {
                let Some(&key) = keys.iter().find(|k| k.name() == name.as_str()) else {
                    let known: Vec<&str> = keys.iter().map(|k| k.name()).collect();
                    return Err(ConfigError::UnknownKey {
                        path: path.to_owned(),
                        what: "key",
                        key: format!("{section_name}.{name}"),
                        hint: format!(" (known keys in [{section_name}]: {})", known.join(", ")),
                    });
                };
                let origin = Origin::File {
                    path: path.to_owned(),
                    key: key.path(),
                };
                self.apply(key, Raw::Toml(value), origin)?;
            }
        }
        self.config.file = Some(path.to_owned());
        Ok(())
    }

    /// Checks the settings against each other and fills in the derived ones.
    fn finish(mut self) -> Result<Config, ConfigError> {
        let origin = |key: Key| self.config.origins[key as usize].clone();
        let peers = &self.config.peers;
        if peers.initial_peers.len() > peers.max_peers {
            return Err(ConfigError::Conflict {
                first: origin(Key::InitialPeers),
                second: origin(Key::MaxPeers),
                reason: format!(
                    "{} initial peers are more than peers.max_peers = {}",
                    peers.initial_peers.len(),
                    peers.max_peers
                ),
            });
        }
        self.config.node.data_dir = match self.data_dir.take() {
            Some(dir) => dir,
            None if self.config.node.port == 0 => {
                return Err(ConfigError::Conflict {
                    first: origin(Key::Port),
                    second: origin(Key::DataDir),
                    reason: "node.port = 0 (any free port) needs node.data_dir set: \
                             the default data/node-<port> needs a fixed port"
                        .into(),
                })
            }
            None => default_data_dir(self.config.node.port),
        };
        self.config.miner_threads_auto = self.miner_threads == 0;
        self.config.node.miner_threads = match self.miner_threads {
            0 => core_count(),
            n => n,
        };
        Ok(self.config)
    }
}

/// Checks a listening address: an IP address (IPv6 with or without brackets) or a host name.
fn check_bind_host(host: &str) -> Result<String, String> {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = unbracketed.parse::<std::net::IpAddr>() {
        return Ok(ip.to_string());
    }
    if host.is_empty() {
        return Err("is empty; give an IP address or host name".into());
    }
    canonical_host(host).map_err(|_| format!("{host:?} is not an IP address or host name"))
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A list of peers: a TOML list of strings, or text separated by commas or whitespace.
fn peer_list(raw: Raw<'_>) -> Result<Vec<PeerAddr>, String> {
    let entries: Vec<&str> = match raw {
        Raw::Toml(toml::Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) => Ok(s.as_str()),
                other => Err(format!("must list strings, found {}", toml_type(other))),
            })
            .collect::<Result<_, _>>()?,
        Raw::Toml(other) => {
            return Err(format!(
                "must be a list of strings, got {}",
                toml_type(other)
            ))
        }
        Raw::Text(s) => s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .collect(),
    };
    let mut peers: Vec<PeerAddr> = Vec::new();
    for entry in entries {
        let peer = PeerAddr::parse(entry).map_err(|e| e.to_string())?;
        if !peers.contains(&peer) {
            peers.push(peer);
        }
    }
    Ok(peers)
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

        let file = match &args.config {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Some((path.clone(), text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ConfigError::MissingFile { path: path.clone() })
                }
                Err(source) => {
                    return Err(ConfigError::ReadFile {
                        path: path.clone(),
                        source,
                    })
                }
            },
            None => match std::fs::read_to_string(default_file) {
                Ok(text) => Some((default_file.to_owned(), text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(ConfigError::ReadFile {
                        path: default_file.to_owned(),
                        source,
                    })
                }
            },
        };
        if let Some((path, text)) = file {
            builder.apply_file(&path, &text)?;
        }

        for key in KEYS {
            if let Some(value) = env(key.env()) {
                builder.apply(key, Raw::Text(&value), Origin::Env(key.env()))?;
            }
        }

        let flags: [(Key, &'static str, Option<&str>); 4] = [
            (Key::Host, "--host", args.host.as_deref()),
            (Key::Port, "--port", args.port.as_deref()),
            (Key::Difficulty, "--difficulty", args.difficulty.as_deref()),
            (
                Key::MinerThreads,
                "--miner-threads",
                args.miner_threads.as_deref(),
            ),
        ];
        for (key, flag, value) in flags {
            if let Some(value) = value {
                builder.apply(key, Raw::Text(value), Origin::Flag(flag))?;
            }
        }
        if let Some(dir) = &args.data_dir {
            // A path from the command line need not be UTF-8, so it skips the
            // text checks; clap already refuses an empty one.
            builder.data_dir = Some(dir.clone());
            builder.config.origins[Key::DataDir as usize] = Origin::Flag("--data-dir");
        }
        for entry in &args.peers {
            let peer = PeerAddr::parse(entry).map_err(|e: PeerError| ConfigError::Invalid {
                origin: Origin::Flag("--peer"),
                reason: e.to_string(),
            })?;
            let initial = &mut builder.config.peers.initial_peers;
            if !initial.contains(&peer) {
                initial.push(peer);
            }
            builder.config.origins[Key::InitialPeers as usize] = Origin::Flag("--peer");
        }

        builder.finish()
    }

    /// Where the value of the key `section.name` came from (`None` for an unknown key).
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        KEYS.iter()
            .find(|k| k.path() == key)
            .map(|k| &self.origins[*k as usize])
    }

    /// The effective settings, one `key = value (origin)` line each, for the start-up log.
    pub fn summary(&self) -> String {
        self.to_string()
    }

    fn value_text(&self, key: Key) -> String {
        let (chain, node, peers) = (&self.chain, &self.node, &self.peers);
        match key {
            Key::Difficulty => chain.difficulty.to_string(),
            Key::MiningReward => chain.mining_reward.to_string(),
            Key::GenesisTimestamp => format!("{:?}", chain.genesis_timestamp),
            Key::MaxBlockTransactions => chain.max_block_transactions.to_string(),
            Key::Host => format!("{:?}", node.host),
            Key::Port => node.port.to_string(),
            Key::DataDir => format!("{:?}", node.data_dir.display().to_string()),
            Key::MaxPool => node.max_pool.to_string(),
            Key::MinerThreads => node.miner_threads.to_string(),
            Key::MaxBodyBytes => node.max_body_bytes.to_string(),
            Key::InitialPeers => {
                let list: Vec<String> = peers
                    .initial_peers
                    .iter()
                    .map(|p| format!("{:?}", p.as_str()))
                    .collect();
                format!("[{}]", list.join(", "))
            }
            Key::MaxPeers => peers.max_peers.to_string(),
            Key::TimeoutMs => peers.timeout.as_millis().to_string(),
            Key::MaxChainBytes => peers.max_chain_bytes.to_string(),
        }
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(path) => writeln!(f, "settings (config file {}):", path.display())?,
            None => writeln!(f, "settings (no config file):")?,
        }
        for (i, key) in KEYS.into_iter().enumerate() {
            let origin = match &self.origins[key as usize] {
                Origin::Default => "default".to_owned(),
                Origin::File { .. } => "config file".to_owned(),
                Origin::Env(var) => (*var).to_owned(),
                Origin::Flag(flag) => (*flag).to_owned(),
            };
            let note = match key {
                Key::DataDir if self.node.data_dir == default_data_dir(self.node.port) => {
                    ", data/node-<port>"
                }
                Key::MinerThreads if self.miner_threads_auto => ", 0 = one per core",
                _ => "",
            };
            write!(
                f,
                "  {} = {} ({origin}{note})",
                key.path(),
                self.value_text(key)
            )?;
            if i + 1 < KEYS.len() {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn args(flags: &[&str]) -> Args {
        let mut argv = vec!["node"];
        argv.extend_from_slice(flags);
        Args::try_parse_from(argv).unwrap()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    /// A temporary directory holding `config.toml` with `text`.
    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// Loads with `text` as the explicit config file.
    fn load_text(text: &str, flags: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let (_dir, path) = file(text);
        let mut all = vec!["--config", path.to_str().unwrap()];
        all.extend_from_slice(flags);
        Config::load(&args(&all), env_of(env))
    }

    fn error(text: &str, flags: &[&str], env: &[(&str, &str)]) -> String {
        match load_text(text, flags, env) {
            Ok(config) => panic!("should fail, got {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn nowhere() -> PathBuf {
        PathBuf::from("/nonexistent/sigchain/config.toml")
    }

    #[test]
    fn no_file_no_env_no_flags_gives_the_defaults() {
        let config = Config::load_with_default_file(&args(&[]), no_env, &nowhere()).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.node.data_dir, PathBuf::from("data/node-5000"));
        assert_eq!(config.chain.difficulty, 4);
        assert_eq!(config.peers.timeout, Duration::from_millis(5000));
        assert!(config.node.miner_threads >= 1);
        assert_eq!(config.file, None);
        assert_eq!(config.origin("chain.difficulty"), Some(&Origin::Default));
    }

    #[test]
    fn the_shipped_config_toml_documents_the_defaults() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.toml");
        let flags = ["--config", shipped.to_str().unwrap()];
        let config = Config::load(&args(&flags), no_env).unwrap();
        let defaults = Config::default();
        assert_eq!(config.chain, defaults.chain);
        assert_eq!(config.node, defaults.node);
        assert_eq!(config.peers, defaults.peers);
        assert_eq!(config.file.as_deref(), Some(shipped.as_path()));
    }

    #[test]
    fn each_layer_overrides_the_one_before() {
        let text = "[chain]\ndifficulty = 5\n[node]\nport = 6000\nhost = \"0.0.0.0\"\n";
        let only_file = load_text(text, &[], &[]).unwrap();
        assert_eq!(only_file.chain.difficulty, 5);
        assert_eq!(only_file.node.port, 6000);
        assert_eq!(only_file.node.host, "0.0.0.0");
        assert!(matches!(
            only_file.origin("chain.difficulty"),
            Some(Origin::File {
                key: "chain.difficulty",
                ..
            })
        ));
        // Keys the file does not set keep their defaults.
        assert_eq!(only_file.chain.max_block_transactions, 1000);

        let env = [("SIGCHAIN_DIFFICULTY", "6"), ("SIGCHAIN_PORT", "6001")];
        let with_env = load_text(text, &[], &env).unwrap();
        assert_eq!(with_env.chain.difficulty, 6);
        assert_eq!(with_env.node.port, 6001);
        assert_eq!(with_env.node.host, "0.0.0.0");
        assert_eq!(
            with_env.origin("node.port"),
            Some(&Origin::Env("SIGCHAIN_PORT"))
        );

        let flags = ["--difficulty", "7", "--port", "6002", "--host", "::1"];
        let with_flags = load_text(text, &flags, &env).unwrap();
        assert_eq!(with_flags.chain.difficulty, 7);
        assert_eq!(with_flags.node.port, 6002);
        assert_eq!(with_flags.node.host, "::1");
        assert_eq!(with_flags.node.bind_address(), "[::1]:6002");
        assert_eq!(
            with_flags.origin("node.port"),
            Some(&Origin::Flag("--port"))
        );
        assert_eq!(with_flags.node.data_dir, PathBuf::from("data/node-6002"));
    }

    #[test]
    fn every_key_has_a_working_environment_variable() {
        let env = [
            ("SIGCHAIN_DIFFICULTY", "3"),
            ("SIGCHAIN_MINING_REWARD", "50"),
            ("SIGCHAIN_GENESIS_TIMESTAMP", "1.5"),
            ("SIGCHAIN_MAX_BLOCK_TRANSACTIONS", "10"),
            ("SIGCHAIN_HOST", "localhost"),
            ("SIGCHAIN_PORT", "5005"),
            ("SIGCHAIN_DATA_DIR", "/var/lib/sigchain"),
            ("SIGCHAIN_MAX_POOL", "11"),
            ("SIGCHAIN_MINER_THREADS", "3"),
            ("SIGCHAIN_MAX_BODY_BYTES", "1024"),
            ("SIGCHAIN_INITIAL_PEERS", "http://a:1, b:2 a:1"),
            ("SIGCHAIN_MAX_PEERS", "8"),
            ("SIGCHAIN_TIMEOUT_MS", "250"),
            ("SIGCHAIN_MAX_CHAIN_BYTES", "4096"),
        ];
        assert_eq!(env.len(), KEYS.len());
        let config = Config::load_with_default_file(&args(&[]), env_of(&env), &nowhere()).unwrap();
        assert_eq!(config.chain.difficulty, 3);
        assert_eq!(config.chain.mining_reward.get(), 50);
        assert_eq!(config.chain.genesis_timestamp, 1.5);
        assert_eq!(config.chain.max_block_transactions, 10);
        assert_eq!(config.node.host, "localhost");
        assert_eq!(config.node.port, 5005);
        assert_eq!(config.node.data_dir, PathBuf::from("/var/lib/sigchain"));
        assert_eq!(config.node.max_pool, 11);
        assert_eq!(config.node.miner_threads, 3);
        assert_eq!(config.node.max_body_bytes, 1024);
        let peers: Vec<&str> = config
            .peers
            .initial_peers
            .iter()
            .map(PeerAddr::as_str)
            .collect();
        assert_eq!(peers, ["a:1", "b:2"]);
        assert_eq!(config.peers.max_peers, 8);
        assert_eq!(config.peers.timeout, Duration::from_millis(250));
        assert_eq!(config.peers.max_chain_bytes, 4096);
        for key in KEYS {
            assert_eq!(config.origins[key as usize], Origin::Env(key.env()));
        }
    }

    #[test]
    fn peers_from_the_environment_replace_the_file_and_flags_add() {
        let text = "[peers]\ninitial_peers = [\"http://f:1/\", \"g:2\"]\n";
        let from_file = load_text(text, &[], &[]).unwrap();
        let list = |c: &Config| -> Vec<String> {
            c.peers
                .initial_peers
                .iter()
                .map(|p| p.to_string())
                .collect()
        };
        assert_eq!(list(&from_file), ["f:1", "g:2"]);
        let env = [("SIGCHAIN_INITIAL_PEERS", "e:3")];
        assert_eq!(list(&load_text(text, &[], &env).unwrap()), ["e:3"]);
        let flags = ["--peer", "http://p:4", "--peer", "e:3", "--peer", "q:5"];
        assert_eq!(
            list(&load_text(text, &flags, &env).unwrap()),
            ["e:3", "p:4", "q:5"]
        );
        // An empty variable clears the file's list.
        let cleared = load_text(text, &[], &[("SIGCHAIN_INITIAL_PEERS", "")]).unwrap();
        assert!(cleared.peers.initial_peers.is_empty());
    }

    #[test]
    fn the_implicit_file_is_read_when_present_and_an_explicit_one_wins() {
        let (_dir, implicit) = file("[node]\nport = 7001\n");
        let config = Config::load_with_default_file(&args(&[]), no_env, &implicit).unwrap();
        assert_eq!(config.node.port, 7001);
        assert_eq!(config.file.as_deref(), Some(implicit.as_path()));

        let (_dir2, explicit) = file("[node]\nport = 7002\n");
        let flags = ["--config", explicit.to_str().unwrap()];
        let config = Config::load_with_default_file(&args(&flags), no_env, &implicit).unwrap();
        assert_eq!(config.node.port, 7002);
    }

    #[test]
    fn a_missing_explicit_file_is_an_error_naming_it() {
        let flags = ["--config", "/nonexistent/sigchain/my.toml"];
        let err = Config::load(&args(&flags), no_env).unwrap_err();
        assert!(matches!(err, ConfigError::MissingFile { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("/nonexistent/sigchain/my.toml"), "{text}");
        assert!(text.contains("--config"), "{text}");
    }

    #[test]
    fn a_directory_as_config_file_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let flags = ["--config", dir.path().to_str().unwrap()];
        let err = Config::load(&args(&flags), no_env).unwrap_err();
        assert!(matches!(err, ConfigError::ReadFile { .. }), "{err:?}");
    }

    #[test]
    fn unknown_keys_and_sections_are_named() {
        let text = error("[node]\nprot = 5000\n", &[], &[]);
        assert!(text.contains("unknown key `node.prot`"), "{text}");
        assert!(text.contains("known keys in [node]: host, port"), "{text}");
        let text = error("[nodes]\nport = 5000\n", &[], &[]);
        assert!(text.contains("unknown section `nodes`"), "{text}");
        let text = error("port = 5000\n", &[], &[]);
        assert!(text.contains("unknown section `port`"), "{text}");
        // Keys belong to their own section only.
        let text = error("[chain]\nport = 5000\n", &[], &[]);
        assert!(text.contains("unknown key `chain.port`"), "{text}");
    }

    #[test]
    fn syntax_errors_give_file_line_and_one_line_of_text() {
        let text = error("[chain]\ndifficulty = 4\nmining_reward = = 1\n", &[], &[]);
        assert!(
            text.contains("config.toml: not valid TOML at line 3"),
            "{text}"
        );
        assert!(!text.contains('\n'), "one line: {text}");
        let text = error("[chain]\ndifficulty = 4\ndifficulty = 5\n", &[], &[]);
        assert!(text.contains("not valid TOML at line 3"), "{text}");
    }

    #[test]
    fn bad_file_values_name_file_key_and_problem() {
        for (body, needle) in [
            (
                "[chain]\ndifficulty = 0",
                "chain.difficulty: must be from 1 to 64, got 0",
            ),
            ("[chain]\ndifficulty = 65", "must be from 1 to 64, got 65"),
            ("[chain]\ndifficulty = -1", "must not be negative, got -1"),
            (
                "[chain]\ndifficulty = \"4\"",
                "must be a whole number, got a string",
            ),
            (
                "[chain]\ndifficulty = 4.0",
                "must be a whole number, got a float",
            ),
            (
                "[chain]\nmining_reward = 0",
                "chain.mining_reward: amount must be at least 1, got 0",
            ),
            (
                "[chain]\nmining_reward = 9007199254740992",
                "at most 9007199254740991",
            ),
            (
                "[chain]\ngenesis_timestamp = nan",
                "finite number >= 0, got NaN",
            ),
            (
                "[chain]\ngenesis_timestamp = inf",
                "finite number >= 0, got inf",
            ),
            (
                "[chain]\ngenesis_timestamp = -1.0",
                "finite number >= 0, got -1",
            ),
            (
                "[chain]\ngenesis_timestamp = \"0\"",
                "must be a number, got a string",
            ),
            ("[chain]\nmax_block_transactions = 0", "must be from 2 to"),
            ("[chain]\nmax_block_transactions = 1", "must be from 2 to"),
            (
                "[node]\nport = 65536",
                "node.port: must be from 0 to 65535, got 65536",
            ),
            (
                "[node]\nhost = \"bad host\"",
                "node.host: \"bad host\" is not an IP address",
            ),
            ("[node]\nhost = \"\"", "node.host: is empty"),
            (
                "[node]\ndata_dir = 5",
                "node.data_dir: must be a string, got an integer",
            ),
            ("[node]\nmax_pool = 0", "node.max_pool: must be from 1"),
            (
                "[node]\nminer_threads = 5000",
                "node.miner_threads: must be from 0 to 1024",
            ),
            (
                "[node]\nmax_body_bytes = 0",
                "node.max_body_bytes: must be from 1",
            ),
            (
                "[peers]\ninitial_peers = \"a:1\"",
                "must be a list of strings, got a string",
            ),
            (
                "[peers]\ninitial_peers = [1]",
                "must list strings, found an integer",
            ),
            (
                "[peers]\ninitial_peers = [\"https://a:1\"]",
                "\"https://a:1\": uses https://",
            ),
            ("[peers]\nmax_peers = 0", "peers.max_peers: must be from 1"),
            (
                "[peers]\ntimeout_ms = 0",
                "peers.timeout_ms: must be from 1 to 3600000",
            ),
            (
                "[peers]\nmax_chain_bytes = -5",
                "peers.max_chain_bytes: must not be negative",
            ),
            (
                "chain = 5",
                "key chain: must be a section [chain], got an integer",
            ),
        ] {
            let text = error(body, &[], &[]);
            assert!(text.starts_with("config file "), "{text}");
            assert!(
                text.contains(needle),
                "{body:?}: {text:?} should contain {needle:?}"
            );
        }
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        for (var, value, needle) in [
            ("SIGCHAIN_PORT", "abc", "\"abc\" is not a whole number"),
            ("SIGCHAIN_PORT", "", "is empty"),
            ("SIGCHAIN_PORT", " 5000", "is not a whole number"),
            ("SIGCHAIN_PORT", "-1", "is not a whole number"),
            ("SIGCHAIN_DIFFICULTY", "99", "must be from 1 to 64, got 99"),
            (
                "SIGCHAIN_DIFFICULTY",
                "99999999999999999999999",
                "is too large",
            ),
            ("SIGCHAIN_GENESIS_TIMESTAMP", "NaN", "finite number"),
            (
                "SIGCHAIN_GENESIS_TIMESTAMP",
                "soon",
                "\"soon\" is not a number",
            ),
            ("SIGCHAIN_MINING_REWARD", "1.5", "is not a whole number"),
            ("SIGCHAIN_INITIAL_PEERS", "a:1,b", "\"b\": has no port"),
        ] {
            let text = error("", &[], &[(var, value)]);
            assert!(
                text.starts_with(&format!("environment variable {var}: ")),
                "{text}"
            );
            assert!(
                text.contains(needle),
                "{var}={value:?}: {text:?} should contain {needle:?}"
            );
        }
    }

    #[test]
    fn bad_flag_values_name_the_flag() {
        for (flags, needle) in [
            (
                &["--port", "http"][..],
                "flag --port: \"http\" is not a whole number",
            ),
            (&["--port", "65536"], "flag --port: must be from 0 to 65535"),
            (
                &["--difficulty", "0"],
                "flag --difficulty: must be from 1 to 64",
            ),
            (
                &["--miner-threads", "many"],
                "flag --miner-threads: \"many\" is not",
            ),
            (
                &["--host", "a/b"],
                "flag --host: \"a/b\" is not an IP address",
            ),
            (
                &["--peer", "https://x:1"],
                "flag --peer: invalid peer address \"https://x:1\"",
            ),
        ] {
            let text = error("", flags, &[]);
            assert!(
                text.contains(needle),
                "{flags:?}: {text:?} should contain {needle:?}"
            );
        }
    }

    #[test]
    fn port_zero_needs_an_explicit_data_dir() {
        let err = load_text("", &["--port", "0"], &[]).unwrap_err();
        assert!(matches!(err, ConfigError::Conflict { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("flag --port"), "{text}");
        assert!(text.contains("needs node.data_dir"), "{text}");
        let config = load_text("", &["--port", "0", "--data-dir", "/tmp/x"], &[]).unwrap();
        assert_eq!(config.node.port, 0);
        assert_eq!(config.node.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn data_dir_defaults_per_port_and_empty_means_default() {
        let config = load_text("[node]\ndata_dir = \"\"\nport = 5010\n", &[], &[]).unwrap();
        assert_eq!(config.node.data_dir, PathBuf::from("data/node-5010"));
        let config = load_text("[node]\ndata_dir = \"mine\"\n", &["-p", "5011"], &[]).unwrap();
        assert_eq!(config.node.data_dir, PathBuf::from("mine"));
        // An empty --data-dir is a usage error (clap refuses empty paths).
        assert!(Args::try_parse_from(["node", "--data-dir", ""]).is_err());
        let env = [("SIGCHAIN_DATA_DIR", "from-env")];
        let config = load_text("[node]\ndata_dir = \"mine\"\n", &[], &env).unwrap();
        assert_eq!(config.node.data_dir, PathBuf::from("from-env"));
        let config = load_text("", &["--data-dir", "flag-dir"], &env).unwrap();
        assert_eq!(config.node.data_dir, PathBuf::from("flag-dir"));
    }

    #[test]
    fn more_initial_peers_than_max_peers_is_a_conflict() {
        let text = "[peers]\nmax_peers = 2\ninitial_peers = [\"a:1\", \"b:2\"]\n";
        assert_eq!(
            load_text(text, &[], &[]).unwrap().peers.initial_peers.len(),
            2
        );
        let err = load_text(text, &["--peer", "c:3"], &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("flag --peer and config file"), "{msg}");
        assert!(
            msg.contains("3 initial peers are more than peers.max_peers = 2"),
            "{msg}"
        );
    }

    #[test]
    fn miner_threads_zero_means_one_per_core() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let config = load_text("[node]\nminer_threads = 0\n", &[], &[]).unwrap();
        assert_eq!(config.node.miner_threads, cores);
        let config = load_text("", &["--miner-threads", "3"], &[]).unwrap();
        assert_eq!(config.node.miner_threads, 3);
    }

    #[test]
    fn integers_are_accepted_for_the_genesis_timestamp() {
        let config = load_text("[chain]\ngenesis_timestamp = 1700000000\n", &[], &[]).unwrap();
        assert_eq!(config.chain.genesis_timestamp, 1_700_000_000.0);
    }

    #[test]
    fn args_parse_the_seed_flag_and_repeated_peers() {
        let parsed = args(&["-p", "5001", "--peer", "a:1", "--peer", "http://b:2"]);
        assert_eq!(parsed.port.as_deref(), Some("5001"));
        assert_eq!(parsed.peers, ["a:1", "http://b:2"]);
        assert!(Args::try_parse_from(["node", "--bogus"]).is_err());
    }

    #[test]
    fn summary_lists_every_key_with_its_origin() {
        let flags = ["--port", "5003"];
        let config = load_text(
            "[chain]\ndifficulty = 2\n",
            &flags,
            &[("SIGCHAIN_MAX_POOL", "9")],
        )
        .unwrap();
        let summary = config.summary();
        assert_eq!(summary.lines().count(), KEYS.len() + 1, "{summary}");
        for key in KEYS {
            assert!(
                summary.contains(key.path()),
                "{summary} lacks {}",
                key.path()
            );
        }
        assert!(
            summary.contains("chain.difficulty = 2 (config file)"),
            "{summary}"
        );
        assert!(summary.contains("node.port = 5003 (--port)"), "{summary}");
        assert!(
            summary.contains("node.max_pool = 9 (SIGCHAIN_MAX_POOL)"),
            "{summary}"
        );
        assert!(
            summary.contains("node.data_dir = \"data/node-5003\" (default, data/node-<port>)"),
            "{summary}"
        );
        assert!(summary.contains("(default, 0 = one per core)"), "{summary}");
        assert!(
            summary.contains("chain.mining_reward = 1 (default)"),
            "{summary}"
        );
    }
}
