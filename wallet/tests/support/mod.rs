//! Shared by the wallet and sigscript tests: the pycryptodome vectors and the checks of a command's one-line failures.
#![allow(dead_code)] // Each test binary uses its own part.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

/// `../shared/vectors/wallet.json`, read as it is.
pub fn vectors() -> Value {
    // Both crates sit one level below the workspace root, beside which `shared/` lies.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/wallet.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("wallet.json is JSON")
}

/// A string field of a vector case.
pub fn text<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field} is a string"))
}

/// The first wallet of the vectors: (secret, address).
pub fn vector_wallet() -> (String, String) {
    let vectors = vectors();
    let wallet = &vectors["wallets"][0];
    (
        text(wallet, "secret").to_owned(),
        text(wallet, "address").to_owned(),
    )
}

/// A command's standard output, as text.
pub fn stdout(output: &Output) -> &str {
    std::str::from_utf8(&output.stdout).expect("the commands print UTF-8")
}

/// A command's standard error, as text.
pub fn stderr(output: &Output) -> &str {
    std::str::from_utf8(&output.stderr).expect("the commands print UTF-8")
}

/// Checks a failure: the exit status, nothing on stdout, and exactly one
/// line on stderr that contains `needle`.
pub fn assert_fails(output: &Output, code: i32, needle: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert_eq!(stdout(output), "", "nothing on stdout when failing");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.ends_with('\n'));
    assert!(err.contains(needle), "{err:?} should mention {needle:?}");
}
