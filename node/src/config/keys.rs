//! The table of settable keys, [`KEYS`]: one row per key says where it sits in
//! the file, how a value for it is checked and stored, and how it prints in
//! the summary. Its environment variable is derived from its name.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use wallet::Amount;

use crate::net::PeerAddr;

use super::layers::Builder;
use super::values::{
    boolean, check_bind_host, peer_list, size_at_least, text, timestamp, whole, whole_in, Raw,
};
use super::{default_data_dir, Config, ENV_PREFIX};

/// One settable key: a row of [`KEYS`].
struct KeySpec {
    /// `section.name`, as written in the file. The name alone gives the
    /// environment variable, so names are unique across sections.
    path: &'static str,
    /// Checks a value and stores it in the settings being layered.
    set: fn(&mut Builder, Raw<'_>) -> Result<(), String>,
    /// The effective value, as the summary prints it.
    show: fn(&Config) -> String,
    /// Said after the origin in the summary, when the value was derived from another.
    note: fn(&Config) -> &'static str,
}

/// For keys whose summary line needs no note.
fn no_note(_: &Config) -> &'static str {
    ""
}

/// Every key, in file order (which is also the order of the summary, of the
/// environment variables' checks, and of the known keys an error lists).
const KEYS: &[KeySpec] = &[
    KeySpec {
        path: "chain.difficulty",
        set: |b, raw| {
            b.config.chain.difficulty = whole_in(raw, 1, 64)? as u32;
            Ok(())
        },
        show: |c| c.chain.difficulty.to_string(),
        note: no_note,
    },
    KeySpec {
        path: "chain.mining_reward",
        set: |b, raw| {
            let n = whole(raw)?;
            b.config.chain.mining_reward = Amount::new(n).map_err(|e| format!("{e}, got {n}"))?;
            Ok(())
        },
        show: |c| c.chain.mining_reward.to_string(),
        note: no_note,
    },
    KeySpec {
        path: "chain.genesis_timestamp",
        set: |b, raw| {
            b.config.chain.genesis_timestamp = timestamp(raw)?;
            Ok(())
        },
        show: |c| format!("{:?}", c.chain.genesis_timestamp),
        note: no_note,
    },
    KeySpec {
        path: "chain.max_block_transactions",
        // The reward takes one place; a block must have room for a transfer too.
        set: |b, raw| {
            b.config.chain.max_block_transactions = size_at_least(raw, 2)?;
            Ok(())
        },
        show: |c| c.chain.max_block_transactions.to_string(),
        note: no_note,
    },
    KeySpec {
        path: "node.host",
        set: |b, raw| {
            b.config.node.host = check_bind_host(text(raw)?)?;
            Ok(())
        },
        show: |c| format!("{:?}", c.node.host),
        note: no_note,
    },
    KeySpec {
        path: "node.port",
        set: |b, raw| {
            b.config.node.port = whole_in(raw, 0, 65535)? as u16;
            Ok(())
        },
        show: |c| c.node.port.to_string(),
        note: no_note,
    },
    KeySpec {
        path: "node.public_url",
        set: |b, raw| {
            let url = text(raw)?;
            b.config.node.public_url = if url.is_empty() {
                None
            } else {
                Some(PeerAddr::parse(url).map_err(|e| e.to_string())?)
            };
            Ok(())
        },
        show: |c| match &c.node.public_url {
            Some(url) => format!("{:?}", url.url("")),
            None => "\"\"".to_owned(),
        },
        note: |c| {
            if c.node.public_url.is_some() {
                ""
            } else {
                " (http://host:port unless the host is a wildcard)"
            }
        },
    },
    KeySpec {
        path: "node.data_dir",
        // Empty means the default, which waits for the final port.
        set: |b, raw| {
            let dir = text(raw)?;
            b.data_dir = (!dir.is_empty()).then(|| PathBuf::from(dir));
            Ok(())
        },
        show: |c| format!("{:?}", c.node.data_dir.display().to_string()),
        note: |c| {
            if c.node.data_dir == default_data_dir(c.node.port) {
                ", data/node-<port>"
            } else {
                ""
            }
        },
    },
    KeySpec {
        path: "node.max_pool",
        set: |b, raw| {
            b.config.node.max_pool = size_at_least(raw, 1)?;
            Ok(())
        },
        show: |c| c.node.max_pool.to_string(),
        note: no_note,
    },
    KeySpec {
        path: "node.miner_threads",
        // 0 means one per core, which the builder resolves at the end.
        set: |b, raw| {
            b.miner_threads = whole_in(raw, 0, 1024)? as usize;
            Ok(())
        },
        show: |c| c.node.miner_threads.to_string(),
        note: |c| {
            if c.miner_threads_auto {
                ", 0 = one per core"
            } else {
                ""
            }
        },
    },
    KeySpec {
        path: "node.max_body_bytes",
        set: |b, raw| {
            b.config.node.max_body_bytes = size_at_least(raw, 1)?;
            Ok(())
        },
        show: |c| c.node.max_body_bytes.to_string(),
        note: no_note,
    },
    KeySpec {
        path: "node.stall_timeout_ms",
        set: |b, raw| {
            b.config.node.stall_timeout = Duration::from_millis(whole_in(raw, 1, 3_600_000)?);
            Ok(())
        },
        show: |c| c.node.stall_timeout.as_millis().to_string(),
        note: no_note,
    },
    KeySpec {
        path: "node.log_format",
        set: |b, raw| {
            b.config.node.log_format = super::LogFormat::parse(text(raw)?)?;
            Ok(())
        },
        show: |c| format!("{:?}", c.node.log_format.name()),
        note: no_note,
    },
    KeySpec {
        path: "peers.initial_peers",
        set: |b, raw| {
            b.config.peers.initial_peers = peer_list(raw)?;
            Ok(())
        },
        show: |c| {
            let list: Vec<String> = c
                .peers
                .initial_peers
                .iter()
                .map(|p| format!("{:?}", p.as_str()))
                .collect();
            format!("[{}]", list.join(", "))
        },
        note: no_note,
    },
    KeySpec {
        path: "peers.max_peers",
        set: |b, raw| {
            b.config.peers.max_peers = size_at_least(raw, 1)?;
            Ok(())
        },
        show: |c| c.peers.max_peers.to_string(),
        note: no_note,
    },
    KeySpec {
        path: "peers.timeout_ms",
        set: |b, raw| {
            b.config.peers.timeout = Duration::from_millis(whole_in(raw, 1, 3_600_000)?);
            Ok(())
        },
        show: |c| c.peers.timeout.as_millis().to_string(),
        note: no_note,
    },
    KeySpec {
        path: "peers.sync_interval_ms",
        set: |b, raw| {
            b.config.peers.sync_interval = Duration::from_millis(whole_in(raw, 0, 3_600_000)?);
            Ok(())
        },
        show: |c| c.peers.sync_interval.as_millis().to_string(),
        note: |c| {
            if c.peers.sync_interval.is_zero() {
                " (background sync off)"
            } else {
                ""
            }
        },
    },
    KeySpec {
        path: "peers.gossip",
        set: |b, raw| {
            b.config.peers.gossip = boolean(raw)?;
            Ok(())
        },
        show: |c| c.peers.gossip.to_string(),
        note: no_note,
    },
    KeySpec {
        path: "peers.max_failures",
        set: |b, raw| {
            b.config.peers.max_failures = whole_in(raw, 1, 1_000_000)? as u32;
            Ok(())
        },
        show: |c| c.peers.max_failures.to_string(),
        note: no_note,
    },
    KeySpec {
        path: "peers.max_unreachable",
        set: |b, raw| {
            b.config.peers.max_unreachable = whole_in(raw, 1, 1_000_000)? as u32;
            Ok(())
        },
        show: |c| c.peers.max_unreachable.to_string(),
        note: no_note,
    },
    KeySpec {
        path: "peers.open_registration",
        set: |b, raw| {
            b.config.peers.open_registration = boolean(raw)?;
            Ok(())
        },
        show: |c| c.peers.open_registration.to_string(),
        note: no_note,
    },
    KeySpec {
        path: "peers.allow_link_local",
        set: |b, raw| {
            b.config.peers.allow_link_local = boolean(raw)?;
            Ok(())
        },
        show: |c| c.peers.allow_link_local.to_string(),
        note: no_note,
    },
    KeySpec {
        path: "peers.max_chain_bytes",
        set: |b, raw| {
            b.config.peers.max_chain_bytes = size_at_least(raw, 1)?;
            Ok(())
        },
        show: |c| c.peers.max_chain_bytes.to_string(),
        note: no_note,
    },
];

/// Each key's environment variable, in table order.
static ENV_NAMES: LazyLock<Vec<String>> =
    LazyLock::new(|| KEYS.iter().map(|spec| env_name(spec.path)).collect());

/// `SIGCHAIN_` and the key's name (without its section) in upper case:
/// `node.data_dir` is read from `SIGCHAIN_DATA_DIR`.
fn env_name(path: &str) -> String {
    let name = path.split_once('.').map_or(path, |(_, name)| name);
    format!("{ENV_PREFIX}{}", name.to_ascii_uppercase())
}

/// A key: a row of [`KEYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key(usize);

/// The sections, in file order, as `(section, its keys)`.
pub(super) fn sections() -> Vec<(&'static str, Vec<Key>)> {
    let mut sections: Vec<(&'static str, Vec<Key>)> = Vec::new();
    for key in Key::all() {
        match sections.iter_mut().find(|(s, _)| *s == key.section()) {
            Some((_, keys)) => keys.push(key),
            None => sections.push((key.section(), vec![key])),
        }
    }
    sections
}

impl Key {
    /// The key whose path is `path`. Used in constants, so a path missing
    /// from the table stops the build.
    pub(super) const fn named(path: &str) -> Key {
        let mut i = 0;
        while i < KEYS.len() {
            if str_eq(KEYS[i].path, path) {
                return Key(i);
            }
            i += 1;
        }
        panic!("no key with this path in the table");
    }

    /// The key whose path is `path`, if there is one.
    pub(super) fn find(path: &str) -> Option<Key> {
        KEYS.iter().position(|spec| spec.path == path).map(Key)
    }

    /// Every key, in table order.
    pub(super) fn all() -> impl Iterator<Item = Key> {
        (0..KEYS.len()).map(Key)
    }

    /// How many keys there are.
    pub(super) fn count() -> usize {
        KEYS.len()
    }

    /// The key's place in the table, which indexes per-key lists.
    pub(super) fn index(self) -> usize {
        self.0
    }

    fn spec(self) -> &'static KeySpec {
        &KEYS[self.0]
    }

    /// `section.name`, as written in the file.
    pub(super) fn path(self) -> &'static str {
        self.spec().path
    }

    /// The section the key belongs to.
    pub(super) fn section(self) -> &'static str {
        self.path()
            .split_once('.')
            .map_or("", |(section, _)| section)
    }

    /// The key's name within its section.
    pub(super) fn name(self) -> &'static str {
        self.path().split_once('.').map_or("", |(_, name)| name)
    }

    /// The environment variable that sets the key.
    pub(super) fn env(self) -> &'static str {
        &ENV_NAMES[self.0]
    }

    /// Checks `raw` as this key's value and stores it in `builder`.
    pub(super) fn set(self, builder: &mut Builder, raw: Raw<'_>) -> Result<(), String> {
        (self.spec().set)(builder, raw)
    }

    /// The key's effective value in `config`, as the summary prints it.
    pub(super) fn show(self, config: &Config) -> String {
        (self.spec().show)(config)
    }

    /// The summary's note after the origin: empty, or `, ` and the note.
    pub(super) fn note(self, config: &Config) -> &'static str {
        (self.spec().note)(config)
    }
}

/// `a == b`, usable in constants.
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_a_known_section_and_a_snake_case_name() {
        for key in Key::all() {
            let path = key.path();
            assert_eq!(path.matches('.').count(), 1, "{path}");
            for part in [key.section(), key.name()] {
                assert!(!part.is_empty(), "{path}");
                assert!(
                    part.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{path}: lower-case letters, digits and _ only"
                );
            }
            assert_eq!(Key::find(path), Some(key));
        }
        let names: Vec<&str> = sections().into_iter().map(|(s, _)| s).collect();
        assert_eq!(names, ["chain", "node", "peers"]);
        assert_eq!(Key::find("node"), None);
        assert_eq!(Key::find("port"), None);
    }

    #[test]
    fn names_are_unique_across_sections_so_each_key_has_its_own_variable() {
        let mut vars: Vec<&str> = Key::all().map(Key::env).collect();
        vars.sort_unstable();
        vars.dedup();
        assert_eq!(vars.len(), Key::count(), "{vars:?}");
        assert_eq!(Key::named("node.data_dir").env(), "SIGCHAIN_DATA_DIR");
    }

    #[test]
    fn no_key_reads_a_variable_meant_for_the_scripts_or_the_tests() {
        // The client scripts and the tests read these; a node started by them
        // inherits them, so a key with one of these names would pick it up.
        let others = [
            "SIGCHAIN_BIN_DIR",
            "SIGCHAIN_CRASH_ROUNDS",
            "SIGCHAIN_CRASH_SEED",
            "SIGCHAIN_DATA",
            "SIGCHAIN_MINE_TIMEOUT",
            "SIGCHAIN_NODE_BIN",
            "SIGCHAIN_NO_JQ",
            "SIGCHAIN_PS1_ORIG",
            "SIGCHAIN_QUIET",
            "SIGCHAIN_RAW",
            "SIGCHAIN_RESOLVE_TIMEOUT",
            "SIGCHAIN_TESTNET_STOP_WAIT",
            "SIGCHAIN_TESTNET_WAIT",
            "SIGCHAIN_TIMEOUT",
        ];
        for key in Key::all() {
            assert!(
                !others.contains(&key.env()),
                "{} reads {}",
                key.path(),
                key.env()
            );
        }
    }
}
