//! What the `wallet` and `sigscript` commands share: one-line usage errors, exit statuses, and reading a secret without ever echoing it.
//!
//! Both commands promise one clear line on stderr for every failure, exit
//! status 2 for a wrong command line and 1 for bad keys, addresses or files,
//! and never to print a secret. Keeping those rules here means the two
//! `main`s only parse arguments and call the wallet.

use std::fmt;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use zeroize::Zeroizing;

use wallet::{Wallet, WalletError};

/// The largest secret read from stdin or a file. A 4096-bit secret is about
/// 4.5 KB; anything much larger is the wrong file, and reading it whole would
/// only waste memory.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Why a command stopped, and so which exit status it gets.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is wrong: exit status 2.
    #[error("{0} (see --help)")]
    Usage(String),
    /// An address or secret given to the command is invalid: exit status 1.
    #[error("{what}: {source}")]
    Invalid {
        /// Which input, e.g. `SENDER` or `secret from stdin`.
        what: String,
        /// What was wrong with it.
        source: WalletError,
    },
    /// The secret belongs to another address than the one named as sender,
    /// so its signature could never verify: exit status 1.
    #[error(
        "SENDER is not the address of this secret; a signature made with it would never verify"
    )]
    NotSendersSecret,
    /// Reading or writing a file or a stream failed: exit status 1.
    #[error("{what}: {source}")]
    Io {
        /// What was being read or written.
        what: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }

    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        CliError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Runs a command's body and turns its outcome into an exit status, printing
/// a failure as one line `NAME: message` on stderr.
pub fn run(name: &str, body: impl FnOnce() -> Result<(), CliError>) -> ExitCode {
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Nested reasons (from the PEM and DER decoders) could carry line
            // breaks; the promise is one line.
            let line = err.to_string().replace(['\n', '\r'], " ");
            eprintln!("{name}: {line}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Parses the process arguments. `--help` and `--version` print and exit 0;
/// any other problem becomes a one-line [`CliError::Usage`].
pub fn parse_args<P: clap::Parser>() -> Result<P, CliError> {
    P::try_parse().map_err(|err| match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => err.exit(),
        _ => CliError::Usage(usage_line(&err, &P::command())),
    })
}

/// One line describing a command-line error of `command`, naming the argument.
///
/// Clap's own message spans several lines and quotes the offending value; a
/// value in the wrong place may be a secret, so only argument names are
/// shown, and an unexpected argument only when it looks like an option.
pub fn usage_line(err: &clap::Error, command: &clap::Command) -> String {
    let arg = text(err.get(ContextKind::InvalidArg));
    match err.kind() {
        ErrorKind::MissingRequiredArgument => match err.get(ContextKind::InvalidArg) {
            Some(ContextValue::Strings(list)) if list.len() > 1 => {
                format!("missing arguments {arg}")
            }
            _ => format!("missing argument {arg}"),
        },
        ErrorKind::ValueValidation => match std::error::Error::source(err) {
            Some(reason) => format!("invalid {arg}: {reason}"),
            None => format!("invalid {arg}"),
        },
        ErrorKind::InvalidValue => match err.get(ContextKind::InvalidValue) {
            Some(ContextValue::String(value)) if value.is_empty() => {
                format!("{arg} needs a value")
            }
            _ => format!("invalid {arg}"),
        },
        ErrorKind::UnknownArgument if arg.starts_with('-') => format!("unknown option {arg}"),
        ErrorKind::UnknownArgument => "unexpected extra argument".to_owned(),
        ErrorKind::ArgumentConflict => {
            let prior = err.get(ContextKind::PriorArg).map(|p| text(Some(p)));
            let prior = prior.unwrap_or_else(|| arg.clone());
            if prior == arg {
                format!("{arg} was given more than once")
            } else {
                format!("{arg} cannot be used with {prior}")
            }
        }
        ErrorKind::InvalidSubcommand => {
            let command = text(err.get(ContextKind::InvalidSubcommand));
            // A pasted secret is thousands of characters; a typo is short.
            if command.len() <= 24 {
                format!("unknown command '{command}'")
            } else {
                "unknown command".to_owned()
            }
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let names: Vec<&str> = command
                .get_subcommands()
                .map(clap::Command::get_name)
                .filter(|name| *name != "help")
                .collect();
            format!("missing command, one of: {}", names.join(", "))
        }
        ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues | ErrorKind::TooFewValues => {
            format!("wrong number of values for {arg}")
        }
        ErrorKind::InvalidUtf8 => "an argument is not valid UTF-8".to_owned(),
        _ => format!("invalid command line: {}", err.kind()),
    }
}

/// A clap context value as text, lists joined with commas.
fn text(value: Option<&ContextValue>) -> String {
    match value {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(list)) => list.join(", "),
        Some(ContextValue::StyledStr(s)) => s.to_string(),
        Some(ContextValue::StyledStrs(list)) => {
            let list: Vec<String> = list.iter().map(ToString::to_string).collect();
            list.join(", ")
        }
        Some(ContextValue::Number(n)) => n.to_string(),
        _ => "argument".to_owned(),
    }
}

/// Where a secret comes from.
#[derive(Clone)]
pub enum SecretSource {
    /// The text itself, from a command-line argument or an environment variable.
    Text {
        /// How the user gave it, e.g. `SECRET argument`.
        origin: &'static str,
        /// The secret.
        text: Zeroizing<String>,
    },
    /// Standard input, read to its end.
    Stdin,
    /// A file, such as one written by `wallet new --out`.
    File(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the text itself: Debug output ends up in logs and panics.
        write!(f, "SecretSource({self})")
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Text { origin, .. } => f.write_str(origin),
            SecretSource::Stdin => f.write_str("stdin"),
            SecretSource::File(path) => write!(f, "--secret-file {}", path.display()),
        }
    }
}

impl SecretSource {
    /// A secret given as text; `origin` names how, e.g. `SECRET argument`.
    pub fn from_text(origin: &'static str, text: String) -> Self {
        SecretSource::Text {
            origin,
            text: Zeroizing::new(text),
        }
    }

    /// Reads the secret text.
    pub fn read(&self) -> Result<Zeroizing<String>, CliError> {
        match self {
            SecretSource::Text { text, .. } => Ok(text.clone()),
            SecretSource::Stdin => {
                let stdin = std::io::stdin();
                if stdin.is_terminal() {
                    eprintln!("Paste the secret, then press Enter and Ctrl-D:");
                }
                read_limited(stdin.lock(), "secret from stdin")
            }
            SecretSource::File(path) => read_file(path),
        }
    }

    /// Reads the secret and loads the wallet it belongs to.
    pub fn load(&self) -> Result<Wallet, CliError> {
        let text = self.read()?;
        Wallet::from_secret(&text).map_err(|source| CliError::Invalid {
            what: format!("secret from {self}"),
            source,
        })
    }
}

fn read_file(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let what = format!("secret file {}", path.display());
    let file = std::fs::File::open(path).map_err(|e| CliError::io(&what, e))?;
    read_limited(file, &what)
}

/// Reads at most [`MAX_SECRET_BYTES`] of UTF-8 into wiped-on-drop memory.
fn read_limited(reader: impl Read, what: &str) -> Result<Zeroizing<String>, CliError> {
    let mut bytes = Zeroizing::new(Vec::new());
    reader
        .take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::io(what, e))?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(CliError::io(
            what,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "larger than 64 KiB, so not a secret",
            ),
        ));
    }
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(_) => Err(CliError::Invalid {
            what: what.to_owned(),
            source: WalletError::NotBase64 { what: "secret" },
        }),
    }
}

/// Exactly one secret source out of those the user gave (each with the
/// name of the argument that gave it), or a usage error naming them; `hint`
/// says how to give one.
pub fn one_source(
    mut given: Vec<(&'static str, SecretSource)>,
    hint: &str,
) -> Result<SecretSource, CliError> {
    match given.len() {
        1 => Ok(given.remove(0).1),
        0 => Err(CliError::Usage(format!("no secret given: {hint}"))),
        _ => {
            let names: Vec<&str> = given.iter().map(|(name, _)| *name).collect();
            Err(CliError::Usage(format!(
                "the secret was given more than once ({}); give exactly one",
                names.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_input_is_refused() {
        let big = vec![b'A'; MAX_SECRET_BYTES as usize + 1];
        let err = read_limited(&big[..], "secret from stdin").unwrap_err();
        assert!(err.to_string().contains("larger than 64 KiB"), "{err}");
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn non_utf8_input_is_not_base64() {
        let err = read_limited(&[0xff, 0xfe][..], "secret from stdin").unwrap_err();
        assert!(matches!(
            err,
            CliError::Invalid {
                source: WalletError::NotBase64 { .. },
                ..
            }
        ));
    }

    #[test]
    fn debug_of_a_source_hides_the_text() {
        let source = SecretSource::Text {
            origin: "SECRET argument",
            text: Zeroizing::new("hunter2".to_owned()),
        };
        assert_eq!(format!("{source:?}"), "SecretSource(SECRET argument)");
    }

    #[test]
    fn exactly_one_source_is_accepted() {
        let none = one_source(vec![], "pass SECRET").unwrap_err();
        assert_eq!(
            none.to_string(),
            "no secret given: pass SECRET (see --help)"
        );
        let two = vec![
            ("SECRET", SecretSource::Stdin),
            ("--secret-file", SecretSource::File("k".into())),
        ];
        let err = one_source(two, "").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("SECRET, --secret-file"), "{err}");
        let one = one_source(vec![("SECRET", SecretSource::Stdin)], "").unwrap();
        assert!(matches!(one, SecretSource::Stdin));
    }
}
