//! `wallet`: makes a fresh key pair, or prints the address of a secret, without running a node.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sigscript::cli::{self, CliError, SecretSource};
use wallet::Wallet;

/// Make sigchain wallets.
///
/// A wallet is an RSA key: its address receives coins, its secret signs
/// transfers (see `sigscript`). Keep the secret private; whoever has it can
/// spend the address's coins.
#[derive(Parser)]
#[command(name = "wallet", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a fresh 2048-bit key and print its address and secret
    New {
        /// Print {"address", "secret"} as JSON (only {"address"} with --out)
        #[arg(long)]
        json: bool,
        /// Write the secret to this new file (mode 0600, never overwritten) and print only the address
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print the address of a secret read from stdin or --secret-file
    Address {
        /// Read the secret from this file instead of stdin
        #[arg(long, value_name = "PATH")]
        secret_file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    cli::run("wallet", || match cli::parse_args::<Args>()?.command {
        Command::New { json, out } => new(json, out.as_deref()),
        Command::Address { secret_file } => {
            let source = secret_file.map_or(SecretSource::Stdin, SecretSource::File);
            println!("{}", source.load()?.address());
            Ok(())
        }
    })
}

fn new(json: bool, out: Option<&Path>) -> Result<(), CliError> {
    let wallet = Wallet::generate();
    let address = wallet.address().as_str();
    match (out, json) {
        (Some(path), _) => {
            write_secret(path, &wallet)?;
            if json {
                println!("{}", serde_json::json!({ "address": address }));
            } else {
                println!("{address}");
            }
        }
        (None, true) => {
            let secret = wallet.secret();
            println!(
                "{}",
                serde_json::json!({ "address": address, "secret": secret.as_str() })
            );
        }
        (None, false) => {
            println!("address: {address}");
            println!("secret: {}", wallet.secret().as_str());
        }
    }
    Ok(())
}

/// Writes the secret to a file only its owner can read, refusing to replace
/// an existing file: overwriting a key file would lose the coins it controls.
fn write_secret(path: &Path, wallet: &Wallet) -> Result<(), CliError> {
    let what = format!("secret file {}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CliError::io(
                &what,
                std::io::Error::new(
                    e.kind(),
                    "already exists, and a key file is never overwritten",
                ),
            ),
            _ => CliError::io(&what, e),
        })?;
    let written = file
        .write_all(wallet.secret().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        // A half-written key file looks like a key and is not one.
        let _ = std::fs::remove_file(path);
        return Err(CliError::io(what, e));
    }
    Ok(())
}
