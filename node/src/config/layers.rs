//! Layering the settings: the config file, then the environment, then the
//! flags, each checked key by key on top of the built-in defaults, and the
//! checks of settings against each other at the end.

use std::path::{Path, PathBuf};

use crate::net::{PeerAddr, PeerError};

use super::args::{Args, KEY_FLAGS};
use super::keys::{sections, Key};
use super::values::{toml_type, Raw};
use super::{core_count, default_data_dir, Config, ConfigError, Origin};

/// The data directory's key, which the `--data-dir` flag sets without the text checks.
const DATA_DIR: Key = Key::named("node.data_dir");
/// The initial peers' key, to which each `--peer` adds.
const INITIAL_PEERS: Key = Key::named("peers.initial_peers");
/// The cap that the initial peers must fit.
const MAX_PEERS: Key = Key::named("peers.max_peers");
/// The port, on which the default data directory depends.
const PORT: Key = Key::named("node.port");

/// Settings being layered. `data_dir` stays unresolved until the port is final.
pub(super) struct Builder {
    /// The settings so far.
    pub(super) config: Config,
    /// The configured data directory; `None` for the per-port default.
    pub(super) data_dir: Option<PathBuf>,
    /// The configured value, 0 meaning one per core.
    pub(super) miner_threads: usize,
}

impl Builder {
    /// The built-in defaults, no layer applied yet.
    pub(super) fn new() -> Builder {
        Builder {
            config: Config::default(),
            data_dir: None,
            miner_threads: 0,
        }
    }

    /// Checks `raw` as the value of `key` and sets it.
    fn apply(&mut self, key: Key, raw: Raw<'_>, origin: Origin) -> Result<(), ConfigError> {
        key.set(self, raw).map_err(|reason| ConfigError::Invalid {
            origin: origin.clone(),
            reason,
        })?;
        self.config.origins[key.index()] = origin;
        Ok(())
    }

    /// Applies the config file `path`, whose contents are `text`.
    pub(super) fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
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
        let sections = sections();
        for (section, body) in &table {
            let found = sections.iter().find(|(s, _)| *s == section.as_str());
            let Some(&(section_name, ref keys)) = found else {
                let known: Vec<String> = sections.iter().map(|(s, _)| format!("[{s}]")).collect();
                return Err(ConfigError::UnknownKey {
                    path: path.to_owned(),
                    what: "section",
                    key: section.clone(),
                    hint: format!(" (known sections: {})", known.join(", ")),
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

    /// Applies every key's environment variable that `env` has a value for.
    pub(super) fn apply_env(
        &mut self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for key in Key::all() {
            if let Some(value) = env(key.env()) {
                self.apply(key, Raw::Text(&value), Origin::Env(key.env()))?;
            }
        }
        Ok(())
    }

    /// Applies the flags in `args`.
    pub(super) fn apply_flags(&mut self, args: &Args) -> Result<(), ConfigError> {
        for flag in KEY_FLAGS {
            if let Some(value) = (flag.value)(args) {
                self.apply(flag.key, Raw::Text(value), Origin::Flag(flag.flag))?;
            }
        }
        if let Some(dir) = &args.data_dir {
            // A path from the command line need not be UTF-8, so it skips the
            // text checks; clap already refuses an empty one.
            self.data_dir = Some(dir.clone());
            self.config.origins[DATA_DIR.index()] = Origin::Flag("--data-dir");
        }
        for entry in &args.peers {
            let peer = PeerAddr::parse(entry).map_err(|e: PeerError| ConfigError::Invalid {
                origin: Origin::Flag("--peer"),
                reason: e.to_string(),
            })?;
            let initial = &mut self.config.peers.initial_peers;
            if !initial.contains(&peer) {
                initial.push(peer);
            }
            self.config.origins[INITIAL_PEERS.index()] = Origin::Flag("--peer");
        }
        Ok(())
    }

    /// Checks the settings against each other and fills in the derived ones.
    pub(super) fn finish(mut self) -> Result<Config, ConfigError> {
        let origin = |key: Key| self.config.origins[key.index()].clone();
        let peers = &self.config.peers;
        if peers.initial_peers.len() > peers.max_peers {
            return Err(ConfigError::Conflict {
                first: origin(INITIAL_PEERS),
                second: origin(MAX_PEERS),
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
                    first: origin(PORT),
                    second: origin(DATA_DIR),
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

/// The config file to read: `--config FILE` (which must exist), else
/// `default_file` if it exists; with its contents.
pub(super) fn read_file(
    args: &Args,
    default_file: &Path,
) -> Result<Option<(PathBuf, String)>, ConfigError> {
    let (path, required) = match &args.config {
        Some(path) => (path.as_path(), true),
        None => (default_file, false),
    };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some((path.to_owned(), text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if required {
                Err(ConfigError::MissingFile {
                    path: path.to_owned(),
                })
            } else {
                Ok(None)
            }
        }
        Err(source) => Err(ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        }),
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
