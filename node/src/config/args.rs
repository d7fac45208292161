//! The `node` binary's command-line flags ([`Args`]), and which key each flag sets.

use std::path::PathBuf;

use clap::Parser;

use super::keys::Key;

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
    /// The URL other nodes reach this one at (node.public_url), as http://host:port.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// A peer to know at start, as http://host:port or host:port; repeatable.
    #[arg(long = "peer", value_name = "URL")]
    pub peers: Vec<String>,
    /// Leading hex zeros required of a proof (chain.difficulty).
    #[arg(long, value_name = "N")]
    pub difficulty: Option<String>,
    /// Proof-of-work threads, 0 for one per core (node.miner_threads).
    #[arg(long, value_name = "N")]
    pub miner_threads: Option<String>,
    /// Begin a new chain when chain.redb is missing or empty next to an existing node.key.
    #[arg(long)]
    pub new_chain: bool,
    /// Make a new key when node.key is missing next to a chain with mined blocks.
    #[arg(long)]
    pub new_key: bool,
    /// Verify every stored signature again at start (slow on a long chain);
    /// by default hashes, links, proofs and balances are checked.
    #[arg(long)]
    pub reverify: bool,
    /// Start even if the pending journal (pending-N.journal) is missing or
    /// damaged: it is moved aside and the transfers it held are dropped.
    #[arg(long)]
    pub drop_pending_journal: bool,
    /// Log lines as "text" or "json" (node.log_format).
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
}

/// A flag that sets one key from its text, checked like the key's environment variable.
pub(super) struct KeyFlag {
    /// The flag as the user types it, which errors and the summary name.
    pub(super) flag: &'static str,
    /// The key it sets.
    pub(super) key: Key,
    /// The flag's text, if given.
    pub(super) value: fn(&Args) -> Option<&str>,
}

/// The flags that set a key from text, in the order they are applied (so the
/// first bad one is the one reported). `--data-dir` and `--peer` are not here:
/// a path need not be text, and each `--peer` adds to the list rather than
/// replacing it.
pub(super) const KEY_FLAGS: &[KeyFlag] = &[
    KeyFlag {
        flag: "--host",
        key: Key::named("node.host"),
        value: |args| args.host.as_deref(),
    },
    KeyFlag {
        flag: "--port",
        key: Key::named("node.port"),
        value: |args| args.port.as_deref(),
    },
    KeyFlag {
        flag: "--public-url",
        key: Key::named("node.public_url"),
        value: |args| args.public_url.as_deref(),
    },
    KeyFlag {
        flag: "--difficulty",
        key: Key::named("chain.difficulty"),
        value: |args| args.difficulty.as_deref(),
    },
    KeyFlag {
        flag: "--miner-threads",
        key: Key::named("node.miner_threads"),
        value: |args| args.miner_threads.as_deref(),
    },
    KeyFlag {
        flag: "--log-format",
        key: Key::named("node.log_format"),
        value: |args| args.log_format.as_deref(),
    },
];
