//! `sigscript`: signs a transfer offline, like the seed's `sigScript.py`, and prints the signature or the whole transaction body.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use serde::Serialize;
use sigscript::cli::{self, CliError, SecretSource};
use wallet::{Address, Amount, Nonce, Signature, Transfer};

/// The environment variable that may carry the secret.
const SECRET_ENV: &str = "SIGSCRIPT_SECRET";

/// Sign a sigchain transfer with the sender's secret.
///
/// Prints only the base64 signature and a newline, so `sig=$(sigscript ...)`
/// works. The secret comes from exactly one of: the SECRET argument, stdin
/// (SECRET is `-`), --secret-file, or the SIGSCRIPT_SECRET environment
/// variable. The last three keep it out of the process list.
#[derive(Parser)]
#[command(name = "sigscript", version)]
struct Args {
    /// The paying address; must be the address of the secret
    sender: String,
    /// The address that is paid
    recipient: String,
    /// Whole number of coins, 1 to 9007199254740991
    #[arg(allow_negative_numbers = true)]
    amount: Amount,
    /// The sender's secret (base64), or `-` to read it from stdin
    secret: Option<String>,
    /// Read the secret from this file (such as one written by `wallet new --out`)
    #[arg(long, value_name = "PATH")]
    secret_file: Option<PathBuf>,
    /// Sign the nonce form of the message, so that a repeated payment gets a new signature
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    nonce: Option<Nonce>,
    /// Print the whole JSON body for `POST /transactions/new` instead of the signature
    #[arg(long)]
    json: bool,
}

/// The body of `POST /transactions/new` (PROTOCOL §2).
#[derive(Serialize)]
struct Body<'a> {
    sender: &'a Address,
    recipient: &'a Address,
    amount: Amount,
    signature: &'a Signature,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<Nonce>,
}

fn main() -> ExitCode {
    cli::run("sigscript", || sign(cli::parse_args()?))
}

fn sign(args: Args) -> Result<(), CliError> {
    let source = secret_source(args.secret, args.secret_file)?;
    let address = |what: &str, text: &str| {
        Address::parse(text).map_err(|source| CliError::Invalid {
            what: what.to_owned(),
            source,
        })
    };
    let transfer = Transfer {
        sender: address("SENDER", &args.sender)?,
        recipient: address("RECIPIENT", &args.recipient)?,
        amount: args.amount,
        nonce: args.nonce,
    };
    let wallet = source.load()?;
    if wallet.address() != &transfer.sender {
        return Err(CliError::NotSendersSecret);
    }
    let signature = wallet.sign(&transfer);
    if args.json {
        let body = Body {
            sender: &transfer.sender,
            recipient: &transfer.recipient,
            amount: transfer.amount,
            signature: &signature,
            nonce: transfer.nonce,
        };
        let json = serde_json::to_string(&body)
            .expect("a struct of strings and integers always serializes to JSON");
        println!("{json}");
    } else {
        println!("{signature}");
    }
    Ok(())
}

/// The one place the secret comes from; several or none is a usage error.
fn secret_source(
    argument: Option<String>,
    file: Option<PathBuf>,
) -> Result<SecretSource, CliError> {
    let mut given = Vec::new();
    match argument {
        Some(dash) if dash == "-" => given.push(("SECRET '-' (stdin)", SecretSource::Stdin)),
        Some(text) => given.push(("SECRET", SecretSource::from_text("SECRET argument", text))),
        None => {}
    }
    if let Some(path) = file {
        given.push(("--secret-file", SecretSource::File(path)));
    }
    // An empty variable counts as unset, as shells make `VAR= cmd` easy.
    match std::env::var(SECRET_ENV) {
        Ok(text) if text.is_empty() => {}
        Ok(text) => given.push((SECRET_ENV, SecretSource::from_text(SECRET_ENV, text))),
        Err(std::env::VarError::NotPresent) => {}
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(CliError::Usage(format!("{SECRET_ENV} is not valid UTF-8")));
        }
    }
    let hint = format!("pass SECRET, '-' to read stdin, --secret-file PATH, or set {SECRET_ENV}");
    cli::one_source(given, &hint)
}
