//! Timing of the wallet's RSA work (keygen, sign, verify, address parsing), printed as operations per second, beside `openssl speed` on the same machine.
//!
//! Run with `cargo bench -p wallet`. A plain timing loop rather than a
//! benchmark framework: the figures only need to show orders of magnitude
//! (how many transfers a node can check per second), and it keeps the
//! dependency tree small. Without `--bench` (as `cargo test --all-targets`
//! runs it) every case runs once, as a smoke test, and openssl is not run.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use md5::Digest as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use wallet::{Address, Amount, Nonce, Transfer, Wallet};

/// How long each measured case runs, at least.
const MIN_TIME: Duration = Duration::from_secs(2);

/// The first wallet of the vectors, so runs are comparable.
fn vector_secret() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/wallet.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let vectors: serde_json::Value = serde_json::from_str(&text).expect("wallet.json is JSON");
    vectors["wallets"][0]["secret"]
        .as_str()
        .expect("the vector wallet has a secret")
        .to_owned()
}

/// CPU time this thread has run, in seconds (Linux). The machine is shared,
/// so wall-clock rates depend on what else runs; rates per CPU second do not
/// (and are what `openssl speed` reports).
fn thread_cpu() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos / 1e9)
}

/// Operations done, and the wall-clock and CPU seconds they took.
struct Sample {
    ops: f64,
    wall: f64,
    cpu: Option<f64>,
}

impl Sample {
    fn print(&self, name: &str) {
        let wall_rate = self.ops / self.wall;
        match self.cpu {
            Some(cpu) => println!(
                "{name:<46} {:>9.1} ops/CPU-s {:>9.1} µs/op | {wall_rate:>9.1} ops/s wall ({} ops)",
                self.ops / cpu,
                cpu * 1e6 / self.ops,
                self.ops
            ),
            None => println!("{name:<46} {wall_rate:>9.1} ops/s wall ({} ops)", self.ops),
        }
    }
}

/// Calls `op` for at least `min_calls` calls and [`MIN_TIME`].
fn measure(min_calls: u32, mut op: impl FnMut()) -> Sample {
    op(); // warm caches and lazy statics
    let cpu_start = thread_cpu();
    let start = Instant::now();
    let mut calls = 0u32;
    while calls < min_calls || start.elapsed() < MIN_TIME {
        op();
        calls += 1;
    }
    let wall = start.elapsed().as_secs_f64();
    Sample {
        ops: f64::from(calls),
        wall,
        cpu: thread_cpu().zip(cpu_start).map(|(end, start)| end - start),
    }
}

/// Runs `op` on `threads` threads at once for [`MIN_TIME`]; CPU time is
/// summed over the threads.
fn measure_parallel(threads: usize, op: impl Fn() + Sync) -> Sample {
    let start = Instant::now();
    let per_thread: Vec<(u32, Option<f64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let cpu_start = thread_cpu();
                    let mut calls = 0u32;
                    while start.elapsed() < MIN_TIME {
                        op();
                        calls += 1;
                    }
                    (
                        calls,
                        thread_cpu().zip(cpu_start).map(|(end, start)| end - start),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a benchmark thread does not panic"))
            .collect()
    });
    Sample {
        ops: per_thread.iter().map(|(calls, _)| f64::from(*calls)).sum(),
        wall: start.elapsed().as_secs_f64(),
        cpu: per_thread.iter().map(|(_, cpu)| *cpu).sum(),
    }
}

/// Measures and prints one case, or (without `--bench`) runs it once.
fn case(measuring: bool, name: &str, min_calls: u32, op: impl FnMut()) {
    if measuring {
        measure(min_calls, op).print(name);
    } else {
        let mut op = op;
        op();
        println!("{name:<46} ran once");
    }
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("RSA-2048, PKCS#1 v1.5 over MD5; {threads} hardware threads");

    case(measuring, "keygen (Wallet::generate, 2048 bits)", 5, || {
        black_box(Wallet::generate());
    });

    let wallet = Wallet::from_secret(&vector_secret()).expect("the vector secret loads");
    let transfer = Transfer {
        sender: wallet.address().clone(),
        recipient: wallet.address().clone(),
        amount: Amount::new(5).expect("5 is in range"),
        nonce: Some(Nonce::new(42).expect("42 is in range")),
    };
    let signature = wallet.sign(&transfer);
    let verify = || {
        black_box(transfer.verify(black_box(&signature))).expect("the signature verifies");
    };

    case(measuring, "sign (Wallet::sign)", 50, || {
        black_box(wallet.sign(black_box(&transfer)));
    });
    case(
        measuring,
        "verify, fast path (Transfer::verify)",
        500,
        verify,
    );

    // The same check straight on the rsa crate, which the wallet used for
    // every key before and still uses for keys the fast path does not cover
    // (an exponent other than 65537).
    let engine = base64::engine::general_purpose::STANDARD;
    let key_pem = String::from_utf8(
        engine
            .decode(vector_secret())
            .expect("the secret is base64"),
    )
    .expect("PEM is text");
    let public = RsaPrivateKey::from_pkcs1_pem(&key_pem)
        .expect("the vector secret is PKCS#1")
        .to_public_key();
    let digest = md5::Md5::digest(transfer.message());
    let raw = engine
        .decode(signature.as_str())
        .expect("signatures are base64");
    case(
        measuring,
        "verify, rsa crate path (no wallet code)",
        500,
        || {
            public
                .verify(Pkcs1v15Sign::new::<md5::Md5>(), black_box(&digest), &raw)
                .expect("the signature verifies");
        },
    );

    // Verification is independent per transaction, so a node can spread a
    // block's or a pool's checks over all cores.
    let name = format!("verify on {threads} threads (fast path)");
    if measuring {
        measure_parallel(threads, verify).print(&name);
    } else {
        verify();
        println!("{name:<46} ran once");
    }

    let address = wallet.address().as_str().to_owned();
    case(
        measuring,
        "Address::parse (decode + canonical check)",
        500,
        || {
            black_box(Address::parse(black_box(&address))).expect("the vector address parses");
        },
    );

    // What a node does for a transfer that arrives as JSON: a new Address
    // object, so the fast path's per-key setup is paid again.
    case(
        measuring,
        "Address::parse + verify (setup each time)",
        500,
        || {
            let sender = Address::parse(black_box(&address)).expect("the vector address parses");
            black_box(sender.verify(&transfer.message(), &signature))
                .expect("the signature verifies");
        },
    );

    openssl_speed(measuring);
}

/// Runs `openssl speed` for RSA-2048 and prints its verifications per CPU
/// second (openssl divides by user CPU time unless given `-elapsed`), the
/// figure to hold the fast path against.
fn openssl_speed(measuring: bool) {
    const NAME: &str = "verify, openssl speed rsa2048 (1 thread)";
    if !measuring {
        println!("{NAME:<46} not run without --bench");
        return;
    }
    let output = match Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()
    {
        Ok(output) => output,
        Err(e) => {
            println!("{NAME:<46} not measured: cannot run openssl ({e})");
            return;
        }
    };
    // The result line reads `rsa 2048 bits <s/sign> <s/verify> <sign/s> <verify/s>`.
    let text = String::from_utf8_lossy(&output.stdout);
    let verify_rate = text.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["rsa", "2048", "bits", .., rate] => rate.parse::<f64>().ok(),
            _ => None,
        }
    });
    match verify_rate {
        Some(rate) => println!("{NAME:<46} {rate:>9.1} ops/CPU-s"),
        None => println!("{NAME:<46} not measured: no result line in its output"),
    }
}
