//! The `wallet` command as a user runs it: fresh key pairs in each output form, a 0600 key file that is never overwritten, addresses of secrets, and one-line errors.

#[path = "../../wallet/tests/support/mod.rs"]
mod support;

use support::{assert_fails, stderr, stdout, vector_wallet};

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use wallet::Wallet;

fn run(args: &[&str], stdin: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wallet"))
        .args(args)
        .write_stdin(stdin)
        .output()
        .expect("wallet runs")
}

#[test]
fn new_prints_a_labelled_address_and_secret_that_belong_together() {
    let output = run(&["new"], "");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    let lines: Vec<&str> = stdout(&output).lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let address = lines[0]
        .strip_prefix("address: ")
        .expect("first line is the address");
    let secret = lines[1]
        .strip_prefix("secret: ")
        .expect("second line is the secret");
    let wallet = Wallet::from_secret(secret).unwrap();
    assert_eq!(wallet.address().as_str(), address);
    assert_eq!(wallet.secret().as_str(), secret);

    // Fresh every time.
    let again = run(&["new"], "");
    assert!(!stdout(&again).contains(address));
}

#[test]
fn new_json_prints_address_and_secret() {
    let output = run(&["new", "--json"], "");
    assert!(output.status.success(), "{}", stderr(&output));
    let body: Value = serde_json::from_str(stdout(&output)).unwrap();
    let object = body.as_object().unwrap();
    assert_eq!(object.len(), 2, "{body}");
    let wallet = Wallet::from_secret(body["secret"].as_str().unwrap()).unwrap();
    assert_eq!(Some(wallet.address().as_str()), body["address"].as_str());
}

#[test]
fn new_out_writes_a_0600_file_and_prints_only_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.key");
    let path_text = path.to_str().unwrap();

    let output = run(&["new", "--out", path_text], "");
    assert!(output.status.success(), "{}", stderr(&output));
    let written = std::fs::read_to_string(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let wallet = Wallet::from_secret(&written).unwrap();
    assert_eq!(stdout(&output), format!("{}\n", wallet.address()));
    assert!(!stdout(&output).contains(wallet.secret().as_str()));

    // The file works as input to `wallet address`.
    let address = run(&["address", "--secret-file", path_text], "");
    assert_eq!(stdout(&address), stdout(&output));

    // Never overwritten.
    let again = run(&["new", "--out", path_text], "");
    assert_fails(&again, 1, "already exists");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);

    // With --json, only the address is printed, as JSON.
    let other = dir.path().join("bob.key");
    let output = run(&["new", "--out", other.to_str().unwrap(), "--json"], "");
    let body: Value = serde_json::from_str(stdout(&output)).unwrap();
    let wallet = Wallet::from_secret(&std::fs::read_to_string(&other).unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "address": wallet.address().as_str() })
    );
}

#[test]
fn address_of_the_vector_secret_is_the_vector_address() {
    let (secret, address) = vector_wallet();
    let output = run(&["address"], &secret);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{address}\n"));
    assert_eq!(stderr(&output), "");

    let output = run(&["address"], &format!("{secret}\n"));
    assert_eq!(stdout(&output), format!("{address}\n"));
}

#[test]
fn wrong_command_lines_exit_2() {
    let (secret, _) = vector_wallet();
    for (args, needle) in [
        (vec![], "missing command, one of: new, address"),
        (vec!["old"], "unknown command 'old'"),
        (vec!["new", "extra"], "unexpected extra argument"),
        (vec!["new", "--out"], "--out"),
        (vec!["address", "--secret-file"], "--secret-file"),
        (vec!["new", "--jsn"], "--jsn"),
        // A secret typed where the command belongs is not echoed back.
        (vec![secret.as_str()], "unknown command"),
    ] {
        let output = run(&args, "");
        assert_fails(&output, 2, needle);
        assert!(!stderr(&output).contains(&secret[100..140]));
    }
}

#[test]
fn bad_secrets_exit_1_without_showing_them() {
    let (secret, _) = vector_wallet();
    // A damaged secret: valid base64, but the key inside is broken.
    let damaged = format!("{}AAAA{}", &secret[..1200], &secret[1204..]);
    for (stdin, needle) in [
        ("not a secret", "secret from stdin"),
        ("", "secret from stdin"),
        (damaged.as_str(), "secret from stdin"),
    ] {
        let output = run(&["address"], stdin);
        assert_fails(&output, 1, needle);
        assert!(!stderr(&output).contains(&damaged[1000..1040]));
    }
    let missing = run(&["address", "--secret-file", "/nonexistent/key"], "");
    assert_fails(&missing, 1, "/nonexistent/key");
}
