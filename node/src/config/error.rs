//! Where a setting came from ([`Origin`]) and why settings could not be loaded ([`ConfigError`]).

use std::fmt;
use std::path::PathBuf;

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
