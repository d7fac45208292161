//! The live network across "machines": five Linux network namespaces made by `../shared/tools/netlab` (own address each, one bridge), one node per namespace bound to its own address with its public URL: joining, announcing, relaying and syncing across them, and owner-only actions refused from another machine.
//!
//! Needs root (CI runs as root) and the `ip` tool; without them the test says
//! so in one line, except under `CI=true`, where it fails.
//! Run `cargo build --workspace` first.

mod net;
mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use net::{get, post, signed_transfer, wait_converged_at_least};
use serde_json::json;
use support::{bin, skip, start_command, workspace_root, Process, Start};

/// How many machines.
const MACHINES: usize = 5;
/// The port every node listens on, each on its own address.
const PORT: u16 = 5000;

/// The netlab script shared by the project.
fn netlab() -> PathBuf {
    workspace_root().join("../shared/tools/netlab")
}

/// The namespaces; `netlab down` when dropped, after the nodes (drop order).
struct Lab;

impl Lab {
    fn up() -> Result<Lab, String> {
        let output = Command::new(netlab())
            .args(["up", &MACHINES.to_string()])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", netlab().display()))?;
        if output.status.success() {
            Ok(Lab)
        } else {
            let _ = Command::new(netlab()).arg("down").output();
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(netlab()).arg("down").output();
    }
}

fn url(machine: usize) -> String {
    format!("http://10.77.0.{machine}:{PORT}")
}

/// Starts the node of `machine` (1-based) inside its namespace, joining through machine 1.
fn start(machine: usize, dir: &Path) -> Process {
    let data = dir.join(format!("m{machine}"));
    let mut command = Command::new(netlab());
    command
        .args(["exec", &machine.to_string()])
        .arg(bin("sigchain-node"))
        .args([
            "--host",
            &format!("10.77.0.{machine}"),
            "--port",
            &PORT.to_string(),
        ])
        .args(["--public-url", &url(machine)])
        .args(["--difficulty", "2", "--miner-threads", "1"])
        .arg("--data-dir")
        .arg(&data)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env("SIGCHAIN_SYNC_INTERVAL_MS", "500")
        .env("SIGCHAIN_MINING_REWARD", "100")
        .stdin(Stdio::null());
    if machine > 1 {
        command.args(["--peer", &url(1)]);
    }
    match start_command(command, &dir.join(format!("m{machine}.log"))) {
        Start::Listening { process, .. } => process,
        Start::Exited { status, stderr } => {
            panic!("the node of machine {machine} exited ({status}): {stderr}")
        }
    }
}

/// Runs `netlab cut|heal I`.
fn netlab_do(action: &str, machine: usize) {
    let status = Command::new(netlab())
        .args([action, &machine.to_string()])
        .status()
        .expect("netlab runs");
    assert!(status.success(), "netlab {action} {machine}");
}

#[test]
fn nodes_on_five_machines_join_announce_relay_and_sync() {
    let lab = match Lab::up() {
        Ok(lab) => lab,
        Err(why) => {
            skip(
                "network tests across namespaces",
                &format!("netlab up failed (needs root): {why}"),
            );
            return;
        }
    };
    let tmp = tempfile::tempdir().expect("a temporary directory can be made");
    let mut nodes = vec![start(1, tmp.path())];
    for machine in 2..=MACHINES {
        nodes.push(start(machine, tmp.path()));
    }
    let urls: Vec<String> = (1..=MACHINES).map(url).collect();

    // Joining: every node learns every other through machine 1.
    for u in &urls {
        let mut last = serde_json::Value::Null;
        let known = support::wait_until(net::CONVERGE, || {
            last = get(u, "/nodes").1;
            last["nodes"].as_array().map_or(0, Vec::len) == MACHINES - 1
        });
        assert!(
            known,
            "{u} does not know the {} others: {last}",
            MACHINES - 1
        );
    }

    // Announcing: a block mined on machine 3 reaches all.
    let (status, body) = get(&urls[2], "/mine");
    assert_eq!(status, 200, "{body}");
    wait_converged_at_least(&urls, 2, "after mining on machine 3");

    // Relaying: transfers submitted on machine 5 reach every pool. The payer's
    // key is read from machine 3's data directory (its /secret is refused to
    // other machines, as checked below).
    let payer = node::store::load_wallet(&tmp.path().join("m3"))
        .expect("machine 3's key loads")
        .expect("machine 3 has a key");
    let to = net::node_address(&urls[0]);
    let mut accepted = HashSet::new();
    for nonce in 1..=5 {
        let (body, signature) = signed_transfer(&payer, &to, 1, nonce);
        let (status, answer) = post(&urls[4], "/transactions/new", &body);
        assert_eq!(status, 201, "{answer}");
        accepted.insert(signature);
    }
    net::wait_everywhere(&urls, &accepted, false, "relayed across machines");

    // Syncing: machine 5 is cut off while machine 1 mines twice, then
    // comes back and catches up by itself.
    netlab_do("cut", 5);
    for _ in 0..2 {
        let (status, body) = get(&urls[0], "/mine");
        assert_eq!(status, 200, "{body}");
    }
    wait_converged_at_least(&urls[..4], 4, "the four connected machines");
    netlab_do("heal", 5);
    wait_converged_at_least(&urls, 4, "after machine 5 is back");
    net::wait_everywhere(&urls, &accepted, true, "mined across machines");

    // Owner-only actions are refused from another machine (the test runs
    // on the host, 10.77.0.254).
    let name = urls[1].trim_start_matches("http://");
    for (method, path, body) in [
        ("GET", "/secret".to_owned(), None),
        ("DELETE", format!("/nodes/{name}"), None),
        (
            "POST",
            "/register_with".to_owned(),
            Some(json!({ "node_address": urls[1] }).to_string().into_bytes()),
        ),
    ] {
        let (status, answer) =
            support::http(method, &format!("{}{path}", urls[0]), body, net::CALL);
        assert_eq!(
            status, 403,
            "{method} {path} from another machine: {answer}"
        );
    }
    drop(nodes);
    drop(lab);
}
