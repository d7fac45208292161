//! The explorer and the operator page in a real browser: headless Chromium, driven over WebDriver, against the node binary on loopback.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (`.ci/run`
//! installs them). Without them the test says so in one line and passes,
//! except under `CI=true`, where a browser that cannot start fails it.
//! Each step's screenshot is saved under `target/browser-screenshots/`.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use wallet::Wallet;

/// How long the node, the driver or a page may take.
const WAIT: Duration = Duration::from_secs(30);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A child process killed when dropped, so a failing test leaves none behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Waits until something listens on `port`, or panics naming `what`.
fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(
            started.elapsed() < WAIT,
            "{what} did not listen on port {port} within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `target/browser-screenshots`, beside the test binary's profile directory.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    // target/<profile>/deps/<test> -> target
    let target = exe
        .ancestors()
        .nth(3)
        .expect("test binaries live in target/<profile>/deps");
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("the target directory is writable");
    dir
}

async fn shot(client: &Client, dir: &Path, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is saved");
}

/// Waits until the element at `css` shows `needle`, and returns its text.
async fn wait_text(client: &Client, css: &str, needle: &str) -> String {
    let started = Instant::now();
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if text.contains(needle) {
                    return text;
                }
            }
        }
        if started.elapsed() > WAIT {
            let source = client.source().await.unwrap_or_default();
            panic!("{css} never showed {needle:?}; the page was:\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
}

async fn fill(client: &Client, css: &str, text: &str) {
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    element.clear().await.expect("the field clears");
    element.send_keys(text).await.expect("the field takes text");
}

/// The node binary, serving on a free loopback port with its own data directory.
fn start_node(data: &Path) -> (Killed, String) {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigchain-node"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--difficulty", "2", "--miner-threads", "1"])
        .arg("--data-dir")
        .arg(data)
        .current_dir(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the node binary starts");
    wait_for_port(port, "the node", &mut child);
    (Killed(child), format!("http://127.0.0.1:{port}"))
}

/// chromedriver and a headless Chromium session, or `None` (after one line) when they are not installed here.
async fn browser(profile: &Path) -> Option<(Killed, Client)> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let installed = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !installed {
        assert!(!ci, "CI=true but {CHROMIUM} or {CHROMEDRIVER} is missing: .ci/run installs chromium and chromium-driver");
        println!("browser test skipped: install chromium and chromium-driver to run it");
        return None;
    }
    let port = free_port();
    let mut driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    wait_for_port(port, "chromedriver", &mut driver);
    let driver = Killed(driver);
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1100,900",
    ]
    .map(str::to_owned)
    .into_iter()
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let capabilities = json!({ "goog:chromeOptions": { "binary": CHROMIUM, "args": args } });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!("a JSON object literal")
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|e| panic!("headless Chromium did not start: {e}"));
    Some((driver, client))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_and_operator_in_a_browser() {
    let data = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let Some((_driver, client)) = browser(profile.path()).await else {
        return;
    };
    let (_node, url) = start_node(data.path());
    let shots = screenshot_dir();
    let page = |path: &str| format!("{url}{path}");

    // Genesis on the overview.
    client.goto(&page("/")).await.unwrap();
    wait_text(&client, "#length", "1").await;
    client
        .find(Locator::Css(r#"a[href="/block/1"]"#))
        .await
        .expect("genesis is listed");
    shot(&client, &shots, "01-overview-genesis").await;

    // Mine on the operator page; the block shows on the explorer.
    client.goto(&page("/operator")).await.unwrap();
    click(&client, "#mine").await;
    wait_text(&client, "#outcome", "Mined block 2").await;
    shot(&client, &shots, "02-operator-mined").await;
    client.goto(&page("/")).await.unwrap();
    wait_text(&client, "#length", "2").await;
    client
        .find(Locator::Css(r#"a[href="/block/2"]"#))
        .await
        .expect("block 2 is listed");
    shot(&client, &shots, "03-overview-block-2").await;

    // Pay 1 coin to a fresh address; it is pending.
    let friend = Wallet::generate();
    client.goto(&page("/operator")).await.unwrap();
    fill(&client, "#pay-recipient", friend.address().as_str()).await;
    fill(&client, "#pay-amount", "1").await;
    click(&client, "#pay").await;
    wait_text(&client, "#outcome", "Paid 1 to").await;
    shot(&client, &shots, "04-operator-paid").await;
    client.goto(&page("/pool")).await.unwrap();
    wait_text(&client, "main", "1 waiting").await;
    shot(&client, &shots, "05-pool-pending").await;
    client.goto(&page("/")).await.unwrap();
    wait_text(&client, "#pending", "1").await;
    shot(&client, &shots, "05b-overview-pending").await;

    // Mine it; the recipient's address page reads balance 1.
    client.goto(&page("/operator")).await.unwrap();
    click(&client, "#mine").await;
    wait_text(&client, "#outcome", "Mined block 3").await;
    click(&client, "#outcome-link").await;
    let hash = wait_text(&client, "#block-hash", "").await;
    let query = friend
        .address()
        .as_str()
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    client
        .goto(&page(&format!("/address?address={query}")))
        .await
        .unwrap();
    wait_text(&client, "#balance", "1").await;
    assert_eq!(
        client
            .find(Locator::Css("#balance"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "1"
    );
    shot(&client, &shots, "06-address-balance-1").await;

    // Search for the block by its hash.
    client.goto(&page("/")).await.unwrap();
    fill(&client, "#search-q", &hash).await;
    click(&client, "form.search button").await;
    wait_text(&client, "h1", "Block 3").await;
    assert!(client.current_url().await.unwrap().path().ends_with(&hash));
    shot(&client, &shots, "07-search-block-by-hash").await;

    client.close().await.expect("the session ends");
}
