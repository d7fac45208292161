//! `sigscript` as a user runs it: the vectors' signatures byte for byte, every way of passing the secret, the JSON body, and one-line errors that never show the secret.

#[path = "../../wallet/tests/support/mod.rs"]
mod support;

use support::{assert_fails, stderr, stdout, text, vectors};

use std::io::Write;
use std::process::Output;
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::{json, Value};

/// A valid signature case of the vectors, with the secret that made it.
struct Case {
    sender: String,
    recipient: String,
    amount: String,
    nonce: Option<String>,
    signature: String,
    secret: String,
}

/// The valid vector cases whose amount is in range (one is 2^64-1, which
/// Python signs but this project refuses).
fn cases() -> Vec<Case> {
    let vectors = vectors();
    let wallets = vectors["wallets"].as_array().unwrap();
    let cases: Vec<Case> = vectors["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| case["valid"] == Value::Bool(true))
        .filter(|case| text(case, "amount").len() < 16)
        .map(|case| {
            let secret = wallets
                .iter()
                .find(|w| text(w, "address") == text(case, "sender"))
                .map(|w| text(w, "secret").to_owned())
                .expect("the sender's secret is in the vectors");
            Case {
                sender: text(case, "sender").to_owned(),
                recipient: text(case, "recipient").to_owned(),
                amount: text(case, "amount").to_owned(),
                nonce: case.get("nonce").map(|n| n.as_str().unwrap().to_owned()),
                signature: text(case, "signature").to_owned(),
                secret,
            }
        })
        .collect();
    assert!(cases.iter().any(|c| c.nonce.is_none()));
    assert!(cases.iter().any(|c| c.nonce.is_some()));
    cases
}

/// The first seed-form case.
fn seed_case() -> Case {
    cases().into_iter().find(|c| c.nonce.is_none()).unwrap()
}

/// Every secret of the vectors.
fn all_secrets() -> Vec<String> {
    vectors()["wallets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| text(w, "secret").to_owned())
        .collect()
}

/// The 24-character pieces of every vector secret that reveal something: a
/// secret also holds the modulus, so pieces that occur in an address (public
/// anyway) are left out.
fn secret_pieces() -> &'static [String] {
    static PIECES: OnceLock<Vec<String>> = OnceLock::new();
    PIECES.get_or_init(|| {
        let vectors = vectors();
        let addresses: Vec<&str> = vectors["wallets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| text(w, "address"))
            .collect();
        let mut pieces = Vec::new();
        for secret in all_secrets() {
            for start in (0..secret.len() - 24).step_by(12) {
                let piece = &secret[start..start + 24];
                if !addresses.iter().any(|a| a.contains(piece)) {
                    pieces.push(piece.to_owned());
                }
            }
        }
        // Most of a secret is the private exponent and primes.
        assert!(pieces.len() > 100);
        pieces
    })
}

/// Fails if any revealing piece of any vector secret is in `output`.
fn assert_no_secret_in(output: &str) {
    for piece in secret_pieces() {
        assert!(
            !output.contains(piece.as_str()),
            "a piece of a secret was printed: {output}"
        );
    }
}

/// Runs sigscript with a clean environment (plus `env`) and checks that no
/// secret reached stdout or stderr, whatever the outcome.
fn run(args: &[&str], stdin: Option<&str>, env: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigscript"));
    cmd.args(args).env_remove("SIGSCRIPT_SECRET");
    if let Some(secret) = env {
        cmd.env("SIGSCRIPT_SECRET", secret);
    }
    cmd.write_stdin(stdin.unwrap_or(""));
    let output = cmd.output().expect("sigscript runs");
    assert_no_secret_in(&String::from_utf8_lossy(&output.stdout));
    assert_no_secret_in(&String::from_utf8_lossy(&output.stderr));
    output
}

/// The arguments of a case, up to and including AMOUNT, plus --nonce.
fn base_args(case: &Case) -> Vec<&str> {
    let mut args = vec![
        case.sender.as_str(),
        case.recipient.as_str(),
        case.amount.as_str(),
    ];
    if let Some(nonce) = &case.nonce {
        args.extend(["--nonce", nonce.as_str()]);
    }
    args
}

#[test]
#[should_panic(expected = "a piece of a secret was printed")]
fn the_leak_check_catches_a_printed_secret() {
    let secret = &all_secrets()[0];
    assert_no_secret_in(&format!("sigscript: bad key {}", &secret[600..700]));
}

#[test]
fn signatures_equal_the_vectors_for_seed_and_nonce_forms() {
    for case in cases() {
        let mut args = base_args(&case);
        args.push(&case.secret);
        let output = run(&args, None, None);
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(stdout(&output), format!("{}\n", case.signature));
        assert_eq!(stderr(&output), "");
    }
}

#[test]
fn the_secret_can_come_from_stdin_a_file_or_the_environment() {
    let case = seed_case();
    let expected = format!("{}\n", case.signature);

    let mut args = base_args(&case);
    args.push("-");
    // A file's final newline is forgiven.
    let output = run(&args, Some(&format!("{}\n", case.secret)), None);
    assert_eq!(stdout(&output), expected, "{}", stderr(&output));

    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(case.secret.as_bytes()).unwrap();
    let path = file.path().to_str().unwrap();
    let mut args = base_args(&case);
    args.extend(["--secret-file", path]);
    let output = run(&args, None, None);
    assert_eq!(stdout(&output), expected, "{}", stderr(&output));

    let output = run(&base_args(&case), None, Some(&case.secret));
    assert_eq!(stdout(&output), expected, "{}", stderr(&output));

    // An empty variable counts as unset, so the argument is the only source.
    let mut args = base_args(&case);
    args.push(&case.secret);
    let output = run(&args, None, Some(""));
    assert_eq!(stdout(&output), expected, "{}", stderr(&output));
}

#[test]
fn json_prints_the_body_for_transactions_new() {
    for case in cases() {
        let mut args = base_args(&case);
        args.push("--json");
        let output = run(&args, None, Some(&case.secret));
        assert!(output.status.success(), "{}", stderr(&output));
        let out = stdout(&output);
        assert!(out.ends_with('\n') && out.lines().count() == 1, "{out:?}");
        let body: Value = serde_json::from_str(out).unwrap();
        let amount: u64 = case.amount.parse().unwrap();
        let mut expected = json!({
            "sender": case.sender,
            "recipient": case.recipient,
            "amount": amount,
            "signature": case.signature,
        });
        if let Some(nonce) = &case.nonce {
            expected["nonce"] = json!(nonce.parse::<u64>().unwrap());
        }
        assert_eq!(body, expected);
    }
}

#[test]
fn wrong_arguments_exit_2_naming_the_argument() {
    let case = seed_case();
    let (s, r, k) = (
        case.sender.as_str(),
        case.recipient.as_str(),
        case.secret.as_str(),
    );
    let usage_errors: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "<SENDER>"),
        (vec![s, r], "<AMOUNT>"),
        (vec![s, r, "0", k], "<AMOUNT>"),
        (vec![s, r, "05", k], "<AMOUNT>"),
        (vec![s, r, "5.0", k], "<AMOUNT>"),
        (vec![s, r, "-5", k], "<AMOUNT>"),
        (vec![s, r, "9007199254740992", k], "<AMOUNT>"),
        (vec![s, r, "five", k], "<AMOUNT>"),
        (vec![s, r, "5", k, "--nonce", "x"], "--nonce"),
        (vec![s, r, "5", k, "--nonce", "-1"], "--nonce"),
        (vec![s, r, "5", k, "--nonce"], "--nonce"),
        (vec![s, r, "5", k, "--nonse", "1"], "--nonse"),
        (vec![s, r, "5", k, "extra"], "unexpected extra argument"),
        (vec![s, r, "5"], "no secret given"),
        // The secret where the amount belongs: refused, and not echoed.
        (vec![s, r, k, "5"], "<AMOUNT>"),
    ];
    for (args, needle) in usage_errors {
        let output = run(&args, None, None);
        assert_fails(&output, 2, needle);
    }
}

#[test]
fn more_than_one_secret_source_exits_2() {
    let case = seed_case();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(case.secret.as_bytes()).unwrap();
    let path = file.path().to_str().unwrap();

    let mut args = base_args(&case);
    args.extend([case.secret.as_str(), "--secret-file", path]);
    assert_fails(&run(&args, None, None), 2, "SECRET, --secret-file");

    let mut args = base_args(&case);
    args.push("-");
    assert_fails(
        &run(&args, Some(&case.secret), Some(&case.secret)),
        2,
        "SIGSCRIPT_SECRET",
    );

    let mut args = base_args(&case);
    args.extend(["--secret-file", path]);
    assert_fails(
        &run(&args, None, Some(&case.secret)),
        2,
        "--secret-file, SIGSCRIPT_SECRET",
    );
}

#[test]
fn invalid_secrets_and_addresses_exit_1() {
    let case = seed_case();
    let mut args = base_args(&case);
    args.push("bm90IGEga2V5");
    assert_fails(&run(&args, None, None), 1, "secret");

    // The secret of a different wallet: its signature could never verify.
    let other = all_secrets()
        .into_iter()
        .find(|s| *s != case.secret)
        .expect("the vectors have more than one wallet");
    let mut args = base_args(&case);
    args.push("-");
    assert_fails(
        &run(&args, Some(&other), None),
        1,
        "SENDER is not the address",
    );

    let sender_typo = format!("{}A", case.sender);
    let recipient_secret = case.secret.clone();
    for (sender, recipient, needle) in [
        (sender_typo.as_str(), case.recipient.as_str(), "SENDER"),
        ("0", case.recipient.as_str(), "SENDER"),
        (case.sender.as_str(), "abc", "RECIPIENT"),
        // A secret pasted as the recipient is refused without being shown.
        (case.sender.as_str(), recipient_secret.as_str(), "RECIPIENT"),
    ] {
        let output = run(&[sender, recipient, "5", "-"], Some(&case.secret), None);
        assert_fails(&output, 1, needle);
    }

    let missing = run(
        &[
            &case.sender,
            &case.recipient,
            "5",
            "--secret-file",
            "/nonexistent/key",
        ],
        None,
        None,
    );
    assert_fails(&missing, 1, "/nonexistent/key");
}

#[test]
fn help_describes_every_way_to_pass_the_secret() {
    let output = run(&["--help"], None, None);
    assert!(output.status.success());
    let help = stdout(&output);
    for needle in [
        "SENDER",
        "RECIPIENT",
        "AMOUNT",
        "SECRET",
        "--secret-file",
        "SIGSCRIPT_SECRET",
        "--nonce",
        "--json",
    ] {
        assert!(help.contains(needle), "help lacks {needle}: {help}");
    }
}
