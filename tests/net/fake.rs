//! A routed fake peer: a small HTTP/1.1 server on a loopback (or given) address that answers each request by a closure of its method and path and counts requests per path, for peers no sigchain node is (the seed-002 Python node, a lying announcer's victim).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the accept loop looks at the stop flag.
const POLL: Duration = Duration::from_millis(10);
/// The most request bytes read.
const MAX_REQUEST: usize = 1024 * 1024;

/// One answer: status line text (`"200 OK"`), content type, body.
pub struct Answer {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Answer {
    /// A JSON answer.
    pub fn json(status: &'static str, body: Vec<u8>) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body,
        }
    }
}

/// Flask's answer to an unknown route (what the seed-002 node sends).
pub fn flask_404() -> Answer {
    Answer {
        status: "404 NOT FOUND",
        content_type: "text/html; charset=utf-8",
        body: b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n".to_vec(),
    }
}

/// How the fake answers: from the method and the path (with its query).
pub type Route = dyn Fn(&str, &str) -> Answer + Send + Sync;

/// A running routed fake peer; stops when dropped.
pub struct RoutedPeer {
    /// `http://ADDR:PORT`
    pub url: String,
    stop: Arc<AtomicBool>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    thread: Option<JoinHandle<()>>,
}

impl RoutedPeer {
    /// Starts on a free port of 127.0.0.1.
    pub fn start(route: Arc<Route>) -> RoutedPeer {
        RoutedPeer::start_on("127.0.0.1", route)
    }

    /// Starts on a free port of `host`.
    pub fn start_on(host: &str, route: Arc<Route>) -> RoutedPeer {
        let listener = TcpListener::bind((host, 0)).expect("a port can be bound");
        let port = listener.local_addr().expect("a bound address").port();
        listener
            .set_nonblocking(true)
            .expect("a listener can be made non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let thread = {
            let (stop, counts) = (stop.clone(), counts.clone());
            std::thread::spawn(move || loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (route, counts) = (route.clone(), counts.clone());
                        std::thread::spawn(move || serve(stream, &*route, &counts));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
                    Err(_) => std::thread::sleep(POLL),
                }
            })
        };
        RoutedPeer {
            url: format!("http://{host}:{port}"),
            stop,
            counts,
            thread: Some(thread),
        }
    }

    /// How many requests had a path (without query) starting with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(path, _)| path.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// Every request so far, by path (without query).
    pub fn counts(&self) -> HashMap<String, usize> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for RoutedPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request (head and a `Content-Length` body), answers it, closes.
fn serve(mut stream: TcpStream, route: &Route, counts: &Mutex<HashMap<String, usize>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        if buffer.len() > MAX_REQUEST {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length.min(MAX_REQUEST) {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("").to_owned();
    let target = words.next().unwrap_or("").to_owned();
    let path = target.split('?').next().unwrap_or("").to_owned();
    *counts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(path)
        .or_default() += 1;
    let answer = route(&method, &target);
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        answer.status,
        answer.content_type,
        answer.body.len()
    )
    .into_bytes();
    out.extend_from_slice(&answer.body);
    let _ = stream.write_all(&out);
    let _ = stream.flush();
}
