//! A fake peer for the consensus tests: a raw HTTP/1.1 server on 127.0.0.1 that answers every connection in one crafted way, and stops when dropped.
//!
//! It is deliberately not a real HTTP server: it writes exactly the bytes a
//! test gives it (lying headers, cut-off bodies, no answer at all), so the
//! node under test meets peers that no well-behaved library would produce.

#![allow(dead_code)] // Each test file uses its own part.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often blocked loops look at the stop flag.
const POLL: Duration = Duration::from_millis(20);
/// The most request bytes read before answering anyway.
const MAX_REQUEST: usize = 64 * 1024;

/// How the fake peer answers every connection.
#[derive(Clone)]
pub enum Reply {
    /// Writes these bytes (a whole HTTP response), then closes the connection.
    Bytes(Arc<Vec<u8>>),
    /// Reads the request and never writes a byte, holding the connection open.
    Silent,
    /// Writes these bytes (say, the headers and part of a body), then holds the connection open.
    Stall(Arc<Vec<u8>>),
}

/// A running fake peer; dropping it stops the server and every connection thread.
pub struct FakePeer {
    port: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl FakePeer {
    /// Starts a fake peer on a free loopback port.
    pub fn start(reply: Reply) -> FakePeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port can be bound");
        let port = listener
            .local_addr()
            .expect("a bound listener has an address")
            .port();
        // Non-blocking accept, so the loop notices the stop flag.
        listener
            .set_nonblocking(true)
            .expect("a listener can be made non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, connections) = (stop.clone(), connections.clone());
            std::thread::spawn(move || accept_loop(&listener, &reply, &stop, &connections))
        };
        FakePeer {
            port,
            stop,
            connections,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, as it is registered.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`, as the node names it in reports.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// How many connections it has accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An HTTP/1.1 response with `status` (like `200 OK`) and a JSON content type;
/// `Content-Length` is sent only when `with_length` is true (otherwise the body
/// ends when the connection closes).
pub fn response(status: &str, body: &[u8], with_length: bool) -> Vec<u8> {
    let mut head =
        format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\n");
    if with_length {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn accept_loop(
    listener: &TcpListener,
    reply: &Reply,
    stop: &Arc<AtomicBool>,
    connections: &AtomicUsize,
) {
    let mut handlers = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                connections.fetch_add(1, Ordering::SeqCst);
                let (reply, stop) = (reply.clone(), stop.clone());
                handlers.push(std::thread::spawn(move || serve(stream, &reply, &stop)));
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
    for handler in handlers {
        let _ = handler.join();
    }
}

fn serve(mut stream: TcpStream, reply: &Reply, stop: &AtomicBool) {
    // Short timeouts turn every blocking call into a poll of the stop flag.
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(POLL)).is_err()
        || stream.set_write_timeout(Some(POLL)).is_err()
    {
        return;
    }
    if !read_request(&mut stream, stop) {
        return;
    }
    match reply {
        Reply::Bytes(bytes) => {
            write_until_stop(&mut stream, bytes, stop);
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
        Reply::Silent => hold(&mut stream, stop),
        Reply::Stall(bytes) => {
            if write_until_stop(&mut stream, bytes, stop) {
                hold(&mut stream, stop);
            }
        }
    }
}

/// Reads up to the end of the request headers; false if the client went away or the test ended.
fn read_request(stream: &mut TcpStream, stop: &AtomicBool) -> bool {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut buffer) {
            Ok(0) => return false,
            Ok(n) => {
                seen.extend_from_slice(&buffer[..n]);
                if seen.windows(4).any(|w| w == b"\r\n\r\n") || seen.len() > MAX_REQUEST {
                    return true;
                }
            }
            Err(e) if is_wait(&e) => {}
            Err(_) => return false,
        }
    }
    false
}

/// Writes all of `bytes` unless the client goes away or the test ends; true if all were written.
fn write_until_stop(stream: &mut TcpStream, bytes: &[u8], stop: &AtomicBool) -> bool {
    let mut written = 0;
    while written < bytes.len() {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let end = bytes.len().min(written + 64 * 1024);
        match stream.write(&bytes[written..end]) {
            Ok(0) => return false,
            Ok(n) => written += n,
            Err(e) if is_wait(&e) => {}
            // The client hung up (as it should once a body passes its cap).
            Err(_) => return false,
        }
    }
    true
}

/// Keeps the connection open, sending nothing, until the client closes it or the test ends.
fn hold(stream: &mut TcpStream, stop: &AtomicBool) {
    let mut buffer = [0u8; 1024];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if is_wait(&e) => {}
            Err(_) => return,
        }
    }
}

fn is_wait(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}
