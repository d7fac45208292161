//! Tests of the config module: the layering, every key's checks, and the messages that name where a bad value came from.

use super::*;
use clap::Parser;
use std::collections::HashMap;

fn args(flags: &[&str]) -> Args {
    let mut argv = vec!["node"];
    argv.extend_from_slice(flags);
    Args::try_parse_from(argv).unwrap()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// A temporary directory holding `config.toml` with `text`.
fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Loads with `text` as the explicit config file.
fn load_text(text: &str, flags: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let (_dir, path) = file(text);
    let mut all = vec!["--config", path.to_str().unwrap()];
    all.extend_from_slice(flags);
    Config::load(&args(&all), env_of(env))
}

fn error(text: &str, flags: &[&str], env: &[(&str, &str)]) -> String {
    match load_text(text, flags, env) {
        Ok(config) => panic!("should fail, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

fn nowhere() -> PathBuf {
    PathBuf::from("/nonexistent/sigchain/config.toml")
}

#[test]
fn no_file_no_env_no_flags_gives_the_defaults() {
    let config = Config::load_with_default_file(&args(&[]), no_env, &nowhere()).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.node.data_dir, PathBuf::from("data/node-5000"));
    assert_eq!(config.chain.difficulty, 4);
    assert_eq!(config.peers.timeout, Duration::from_millis(5000));
    assert!(config.node.miner_threads >= 1);
    assert_eq!(config.file, None);
    assert_eq!(config.origin("chain.difficulty"), Some(&Origin::Default));
}

#[test]
fn the_shipped_config_toml_documents_the_defaults() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.toml");
    let flags = ["--config", shipped.to_str().unwrap()];
    let config = Config::load(&args(&flags), no_env).unwrap();
    let defaults = Config::default();
    assert_eq!(config.chain, defaults.chain);
    assert_eq!(config.node, defaults.node);
    assert_eq!(config.peers, defaults.peers);
    assert_eq!(config.file.as_deref(), Some(shipped.as_path()));
}

#[test]
fn each_layer_overrides_the_one_before() {
    let text = "[chain]\ndifficulty = 5\n[node]\nport = 6000\nhost = \"0.0.0.0\"\n";
    let only_file = load_text(text, &[], &[]).unwrap();
    assert_eq!(only_file.chain.difficulty, 5);
    assert_eq!(only_file.node.port, 6000);
    assert_eq!(only_file.node.host, "0.0.0.0");
    assert!(matches!(
        only_file.origin("chain.difficulty"),
        Some(Origin::File {
            key: "chain.difficulty",
            ..
        })
    ));
    // Keys the file does not set keep their defaults.
    assert_eq!(only_file.chain.max_block_transactions, 1000);

    let env = [("SIGCHAIN_DIFFICULTY", "6"), ("SIGCHAIN_PORT", "6001")];
    let with_env = load_text(text, &[], &env).unwrap();
    assert_eq!(with_env.chain.difficulty, 6);
    assert_eq!(with_env.node.port, 6001);
    assert_eq!(with_env.node.host, "0.0.0.0");
    assert_eq!(
        with_env.origin("node.port"),
        Some(&Origin::Env("SIGCHAIN_PORT"))
    );

    let flags = ["--difficulty", "7", "--port", "6002", "--host", "::1"];
    let with_flags = load_text(text, &flags, &env).unwrap();
    assert_eq!(with_flags.chain.difficulty, 7);
    assert_eq!(with_flags.node.port, 6002);
    assert_eq!(with_flags.node.host, "::1");
    assert_eq!(with_flags.node.bind_address(), "[::1]:6002");
    assert_eq!(
        with_flags.origin("node.port"),
        Some(&Origin::Flag("--port"))
    );
    assert_eq!(with_flags.node.data_dir, PathBuf::from("data/node-6002"));
}

#[test]
fn every_key_has_a_working_environment_variable() {
    let env = [
        ("SIGCHAIN_DIFFICULTY", "3"),
        ("SIGCHAIN_MINING_REWARD", "50"),
        ("SIGCHAIN_GENESIS_TIMESTAMP", "1.5"),
        ("SIGCHAIN_MAX_BLOCK_TRANSACTIONS", "10"),
        ("SIGCHAIN_HOST", "localhost"),
        ("SIGCHAIN_PORT", "5005"),
        ("SIGCHAIN_DATA_DIR", "/var/lib/sigchain"),
        ("SIGCHAIN_MAX_POOL", "11"),
        ("SIGCHAIN_MINER_THREADS", "3"),
        ("SIGCHAIN_MAX_BODY_BYTES", "1024"),
        ("SIGCHAIN_STALL_TIMEOUT_MS", "1500"),
        ("SIGCHAIN_PUBLIC_URL", "http://node-a.example:5005"),
        ("SIGCHAIN_LOG_FORMAT", "json"),
        ("SIGCHAIN_INITIAL_PEERS", "http://a:1, b:2 a:1"),
        ("SIGCHAIN_MAX_PEERS", "8"),
        ("SIGCHAIN_TIMEOUT_MS", "250"),
        ("SIGCHAIN_SYNC_INTERVAL_MS", "0"),
        ("SIGCHAIN_GOSSIP", "false"),
        ("SIGCHAIN_MAX_FAILURES", "7"),
        ("SIGCHAIN_MAX_UNREACHABLE", "9"),
        ("SIGCHAIN_OPEN_REGISTRATION", "no"),
        ("SIGCHAIN_ALLOW_LINK_LOCAL", "true"),
        ("SIGCHAIN_MAX_CHAIN_BYTES", "4096"),
    ];
    assert_eq!(env.len(), Key::count());
    let config = Config::load_with_default_file(&args(&[]), env_of(&env), &nowhere()).unwrap();
    assert_eq!(config.chain.difficulty, 3);
    assert_eq!(config.chain.mining_reward.get(), 50);
    assert_eq!(config.node.log_format, super::LogFormat::Json);
    assert_eq!(config.chain.genesis_timestamp, 1.5);
    assert_eq!(config.chain.max_block_transactions, 10);
    assert_eq!(config.node.host, "localhost");
    assert_eq!(config.node.port, 5005);
    assert_eq!(config.node.data_dir, PathBuf::from("/var/lib/sigchain"));
    assert_eq!(config.node.max_pool, 11);
    assert_eq!(config.node.miner_threads, 3);
    assert_eq!(config.node.max_body_bytes, 1024);
    assert_eq!(config.node.stall_timeout, Duration::from_millis(1500));
    let peers: Vec<&str> = config
        .peers
        .initial_peers
        .iter()
        .map(PeerAddr::as_str)
        .collect();
    assert_eq!(peers, ["a:1", "b:2"]);
    assert_eq!(config.peers.max_peers, 8);
    assert_eq!(config.peers.timeout, Duration::from_millis(250));
    assert_eq!(config.peers.max_chain_bytes, 4096);
    assert_eq!(config.peers.max_failures, 7);
    assert_eq!(config.peers.max_unreachable, 9);
    assert!(config.peers.sync_interval.is_zero());
    assert!(!config.peers.gossip);
    assert_eq!(
        config.public_url().map(|u| u.to_string()).as_deref(),
        Some("node-a.example:5005")
    );
    assert!(!config.peers.open_registration);
    assert!(config.peers.allow_link_local);
    for key in Key::all() {
        assert_eq!(config.origins[key.index()], Origin::Env(key.env()));
    }
}

#[test]
fn peers_from_the_environment_replace_the_file_and_flags_add() {
    let text = "[peers]\ninitial_peers = [\"http://f:1/\", \"g:2\"]\n";
    let from_file = load_text(text, &[], &[]).unwrap();
    let list = |c: &Config| -> Vec<String> {
        c.peers
            .initial_peers
            .iter()
            .map(|p| p.to_string())
            .collect()
    };
    assert_eq!(list(&from_file), ["f:1", "g:2"]);
    let env = [("SIGCHAIN_INITIAL_PEERS", "e:3")];
    assert_eq!(list(&load_text(text, &[], &env).unwrap()), ["e:3"]);
    let flags = ["--peer", "http://p:4", "--peer", "e:3", "--peer", "q:5"];
    assert_eq!(
        list(&load_text(text, &flags, &env).unwrap()),
        ["e:3", "p:4", "q:5"]
    );
    // An empty variable clears the file's list.
    let cleared = load_text(text, &[], &[("SIGCHAIN_INITIAL_PEERS", "")]).unwrap();
    assert!(cleared.peers.initial_peers.is_empty());
}

#[test]
fn the_implicit_file_is_read_when_present_and_an_explicit_one_wins() {
    let (_dir, implicit) = file("[node]\nport = 7001\n");
    let config = Config::load_with_default_file(&args(&[]), no_env, &implicit).unwrap();
    assert_eq!(config.node.port, 7001);
    assert_eq!(config.file.as_deref(), Some(implicit.as_path()));

    let (_dir2, explicit) = file("[node]\nport = 7002\n");
    let flags = ["--config", explicit.to_str().unwrap()];
    let config = Config::load_with_default_file(&args(&flags), no_env, &implicit).unwrap();
    assert_eq!(config.node.port, 7002);
}

#[test]
fn a_missing_explicit_file_is_an_error_naming_it() {
    let flags = ["--config", "/nonexistent/sigchain/my.toml"];
    let err = Config::load(&args(&flags), no_env).unwrap_err();
    assert!(matches!(err, ConfigError::MissingFile { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("/nonexistent/sigchain/my.toml"), "{text}");
    assert!(text.contains("--config"), "{text}");
}

#[test]
fn a_directory_as_config_file_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--config", dir.path().to_str().unwrap()];
    let err = Config::load(&args(&flags), no_env).unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }), "{err:?}");
}

#[test]
fn unknown_keys_and_sections_are_named() {
    let text = error("[node]\nprot = 5000\n", &[], &[]);
    assert!(text.contains("unknown key `node.prot`"), "{text}");
    assert!(text.contains("known keys in [node]: host, port"), "{text}");
    let text = error("[nodes]\nport = 5000\n", &[], &[]);
    assert!(text.contains("unknown section `nodes`"), "{text}");
    let text = error("port = 5000\n", &[], &[]);
    assert!(text.contains("unknown section `port`"), "{text}");
    // Keys belong to their own section only.
    let text = error("[chain]\nport = 5000\n", &[], &[]);
    assert!(text.contains("unknown key `chain.port`"), "{text}");
}

#[test]
fn syntax_errors_give_file_line_and_one_line_of_text() {
    let text = error("[chain]\ndifficulty = 4\nmining_reward = = 1\n", &[], &[]);
    assert!(
        text.contains("config.toml: not valid TOML at line 3"),
        "{text}"
    );
    assert!(!text.contains('\n'), "one line: {text}");
    let text = error("[chain]\ndifficulty = 4\ndifficulty = 5\n", &[], &[]);
    assert!(text.contains("not valid TOML at line 3"), "{text}");
}

#[test]
fn bad_file_values_name_file_key_and_problem() {
    for (body, needle) in [
        (
            "[chain]\ndifficulty = 0",
            "chain.difficulty: must be from 1 to 64, got 0",
        ),
        ("[chain]\ndifficulty = 65", "must be from 1 to 64, got 65"),
        ("[chain]\ndifficulty = -1", "must not be negative, got -1"),
        (
            "[chain]\ndifficulty = \"4\"",
            "must be a whole number, got a string",
        ),
        (
            "[chain]\ndifficulty = 4.0",
            "must be a whole number, got a float",
        ),
        (
            "[chain]\nmining_reward = 0",
            "chain.mining_reward: amount must be at least 1, got 0",
        ),
        (
            "[chain]\nmining_reward = 9007199254740992",
            "at most 9007199254740991",
        ),
        (
            "[chain]\ngenesis_timestamp = nan",
            "finite number >= 0, got NaN",
        ),
        (
            "[chain]\ngenesis_timestamp = inf",
            "finite number >= 0, got inf",
        ),
        (
            "[chain]\ngenesis_timestamp = -1.0",
            "finite number >= 0, got -1",
        ),
        (
            "[chain]\ngenesis_timestamp = \"0\"",
            "must be a number, got a string",
        ),
        ("[chain]\nmax_block_transactions = 0", "must be from 2 to"),
        ("[chain]\nmax_block_transactions = 1", "must be from 2 to"),
        (
            "[node]\nport = 65536",
            "node.port: must be from 0 to 65535, got 65536",
        ),
        (
            "[node]\nhost = \"bad host\"",
            "node.host: \"bad host\" is not an IP address",
        ),
        ("[node]\nhost = \"\"", "node.host: is empty"),
        (
            "[node]\ndata_dir = 5",
            "node.data_dir: must be a string, got an integer",
        ),
        ("[node]\nmax_pool = 0", "node.max_pool: must be from 1"),
        (
            "[node]\nminer_threads = 5000",
            "node.miner_threads: must be from 0 to 1024",
        ),
        (
            "[node]\nmax_body_bytes = 0",
            "node.max_body_bytes: must be from 1",
        ),
        (
            "[peers]\ninitial_peers = \"a:1\"",
            "must be a list of strings, got a string",
        ),
        (
            "[peers]\ninitial_peers = [1]",
            "must list strings, found an integer",
        ),
        (
            "[peers]\ninitial_peers = [\"https://a:1\"]",
            "\"https://a:1\": uses https://",
        ),
        ("[peers]\nmax_peers = 0", "peers.max_peers: must be from 1"),
        (
            "[peers]\ntimeout_ms = 0",
            "peers.timeout_ms: must be from 1 to 3600000",
        ),
        (
            "[peers]\nmax_chain_bytes = -5",
            "peers.max_chain_bytes: must not be negative",
        ),
        (
            "chain = 5",
            "key chain: must be a section [chain], got an integer",
        ),
    ] {
        let text = error(body, &[], &[]);
        assert!(text.starts_with("config file "), "{text}");
        assert!(
            text.contains(needle),
            "{body:?}: {text:?} should contain {needle:?}"
        );
    }
}

#[test]
fn bad_environment_values_name_the_variable() {
    for (var, value, needle) in [
        ("SIGCHAIN_PORT", "abc", "\"abc\" is not a whole number"),
        ("SIGCHAIN_PORT", "", "is empty"),
        ("SIGCHAIN_PORT", " 5000", "is not a whole number"),
        ("SIGCHAIN_PORT", "-1", "is not a whole number"),
        ("SIGCHAIN_DIFFICULTY", "99", "must be from 1 to 64, got 99"),
        (
            "SIGCHAIN_DIFFICULTY",
            "99999999999999999999999",
            "is too large",
        ),
        ("SIGCHAIN_GENESIS_TIMESTAMP", "NaN", "finite number"),
        (
            "SIGCHAIN_GENESIS_TIMESTAMP",
            "soon",
            "\"soon\" is not a number",
        ),
        ("SIGCHAIN_MINING_REWARD", "1.5", "is not a whole number"),
        ("SIGCHAIN_INITIAL_PEERS", "a:1,b", "\"b\": has no port"),
    ] {
        let text = error("", &[], &[(var, value)]);
        assert!(
            text.starts_with(&format!("environment variable {var}: ")),
            "{text}"
        );
        assert!(
            text.contains(needle),
            "{var}={value:?}: {text:?} should contain {needle:?}"
        );
    }
}

#[test]
fn bad_flag_values_name_the_flag() {
    for (flags, needle) in [
        (
            &["--port", "http"][..],
            "flag --port: \"http\" is not a whole number",
        ),
        (&["--port", "65536"], "flag --port: must be from 0 to 65535"),
        (
            &["--difficulty", "0"],
            "flag --difficulty: must be from 1 to 64",
        ),
        (
            &["--miner-threads", "many"],
            "flag --miner-threads: \"many\" is not",
        ),
        (
            &["--host", "a/b"],
            "flag --host: \"a/b\" is not an IP address",
        ),
        (
            &["--peer", "https://x:1"],
            "flag --peer: invalid peer address \"https://x:1\"",
        ),
    ] {
        let text = error("", flags, &[]);
        assert!(
            text.contains(needle),
            "{flags:?}: {text:?} should contain {needle:?}"
        );
    }
}

#[test]
fn port_zero_needs_an_explicit_data_dir() {
    let err = load_text("", &["--port", "0"], &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Conflict { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("flag --port"), "{text}");
    assert!(text.contains("needs node.data_dir"), "{text}");
    let config = load_text("", &["--port", "0", "--data-dir", "/tmp/x"], &[]).unwrap();
    assert_eq!(config.node.port, 0);
    assert_eq!(config.node.data_dir, PathBuf::from("/tmp/x"));
}

#[test]
fn data_dir_defaults_per_port_and_empty_means_default() {
    let config = load_text("[node]\ndata_dir = \"\"\nport = 5010\n", &[], &[]).unwrap();
    assert_eq!(config.node.data_dir, PathBuf::from("data/node-5010"));
    let config = load_text("[node]\ndata_dir = \"mine\"\n", &["-p", "5011"], &[]).unwrap();
    assert_eq!(config.node.data_dir, PathBuf::from("mine"));
    // An empty --data-dir is a usage error (clap refuses empty paths).
    assert!(Args::try_parse_from(["node", "--data-dir", ""]).is_err());
    let env = [("SIGCHAIN_DATA_DIR", "from-env")];
    let config = load_text("[node]\ndata_dir = \"mine\"\n", &[], &env).unwrap();
    assert_eq!(config.node.data_dir, PathBuf::from("from-env"));
    let config = load_text("", &["--data-dir", "flag-dir"], &env).unwrap();
    assert_eq!(config.node.data_dir, PathBuf::from("flag-dir"));
}

#[test]
fn more_initial_peers_than_max_peers_is_a_conflict() {
    let text = "[peers]\nmax_peers = 2\ninitial_peers = [\"a:1\", \"b:2\"]\n";
    assert_eq!(
        load_text(text, &[], &[]).unwrap().peers.initial_peers.len(),
        2
    );
    let err = load_text(text, &["--peer", "c:3"], &[]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("flag --peer and config file"), "{msg}");
    assert!(
        msg.contains("3 initial peers are more than peers.max_peers = 2"),
        "{msg}"
    );
}

#[test]
fn miner_threads_zero_means_one_per_core() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let config = load_text("[node]\nminer_threads = 0\n", &[], &[]).unwrap();
    assert_eq!(config.node.miner_threads, cores);
    let config = load_text("", &["--miner-threads", "3"], &[]).unwrap();
    assert_eq!(config.node.miner_threads, 3);
}

#[test]
fn integers_are_accepted_for_the_genesis_timestamp() {
    let config = load_text("[chain]\ngenesis_timestamp = 1700000000\n", &[], &[]).unwrap();
    assert_eq!(config.chain.genesis_timestamp, 1_700_000_000.0);
}

#[test]
fn args_parse_the_seed_flag_and_repeated_peers() {
    let parsed = args(&["-p", "5001", "--peer", "a:1", "--peer", "http://b:2"]);
    assert_eq!(parsed.port.as_deref(), Some("5001"));
    assert_eq!(parsed.peers, ["a:1", "http://b:2"]);
    assert!(Args::try_parse_from(["node", "--bogus"]).is_err());
}

#[test]
fn summary_lists_every_key_with_its_origin() {
    let flags = ["--port", "5003"];
    let config = load_text(
        "[chain]\ndifficulty = 2\n",
        &flags,
        &[("SIGCHAIN_MAX_POOL", "9")],
    )
    .unwrap();
    let summary = config.summary();
    assert_eq!(summary.lines().count(), Key::count() + 1, "{summary}");
    for key in Key::all() {
        assert!(
            summary.contains(key.path()),
            "{summary} lacks {}",
            key.path()
        );
    }
    assert!(
        summary.contains("chain.difficulty = 2 (config file)"),
        "{summary}"
    );
    assert!(summary.contains("node.port = 5003 (--port)"), "{summary}");
    assert!(
        summary.contains("node.max_pool = 9 (SIGCHAIN_MAX_POOL)"),
        "{summary}"
    );
    assert!(
        summary.contains("node.data_dir = \"data/node-5003\" (default, data/node-<port>)"),
        "{summary}"
    );
    assert!(summary.contains("(default, 0 = one per core)"), "{summary}");
    assert!(
        summary.contains("chain.mining_reward = 1 (default)"),
        "{summary}"
    );
}

#[test]
fn log_format_is_text_or_json() {
    let text = "[node]\nlog_format = \"json\"\n";
    let config = load_text(text, &[], &[]).unwrap();
    assert_eq!(config.node.log_format, super::LogFormat::Json);
    let config = load_text(text, &["--log-format", "text"], &[]).unwrap();
    assert_eq!(config.node.log_format, super::LogFormat::Text);
    assert_eq!(
        config.origin("node.log_format"),
        Some(&Origin::Flag("--log-format"))
    );
    let error = load_text(text, &["--log-format", "yaml"], &[])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("--log-format") && error.contains("yaml"),
        "{error}"
    );
}
