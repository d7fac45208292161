//! The node's log: tracing lines go to stderr through one writer thread, so logging never panics and never blocks a request; lines that cannot be written are dropped and counted.
//!
//! tracing-subscriber's own stderr writer reports a failed write with
//! `eprintln!`, which panics when stderr cannot be written (a full disk under
//! a redirected log): every request then died in its worker. Here a request
//! only puts its line on a bounded queue (`try_send`, never waiting); the
//! writer thread writes each line with `write_all` and, when that fails or
//! the queue is full, drops the line and counts it. The first line that is
//! written again is preceded by one saying how many were dropped.

use crate::config::LogFormat;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::fmt::MakeWriter;

/// Lines waiting for the writer thread at most; more are dropped and counted.
pub const QUEUE_LINES: usize = 4096;

/// How long [`LogGuard`] waits, when dropped, for the queued lines to be written.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The counters of the installed log, for [`dropped_lines`].
static INSTALLED: OnceLock<Arc<Counters>> = OnceLock::new();

/// Log lines dropped since start (stderr could not be written, or the queue
/// was full); 0 when [`init`] was not called (tests, benches).
pub fn dropped_lines() -> u64 {
    INSTALLED.get().map_or(0, |counters| counters.total())
}

#[derive(Debug, Default)]
struct Counters {
    /// Every dropped line since start.
    total: AtomicU64,
    /// Dropped lines not yet reported in the log itself.
    unreported: AtomicU64,
}

impl Counters {
    fn drop_line(&self) {
        self.drop_lines(1);
    }

    fn drop_lines(&self, lines: u64) {
        self.total.fetch_add(lines, Ordering::Relaxed);
        self.unreported.fetch_add(lines, Ordering::Relaxed);
    }

    fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

enum Message {
    Line(Vec<u8>),
    /// Answered once every line queued before it has been handled.
    Flush(SyncSender<()>),
}

/// The sending side of the log: what tracing-subscriber writes each line to. Cheap to clone.
#[derive(Clone)]
pub struct LogQueue {
    queue: SyncSender<Message>,
    counters: Arc<Counters>,
}

/// Waits (at most [`FLUSH_TIMEOUT`]), when dropped, until the lines queued so
/// far are written: drop it before the process exits.
pub struct LogGuard {
    queue: LogQueue,
}

impl LogQueue {
    /// Starts the writer thread on `out` with room for `capacity` waiting lines.
    pub fn spawn(out: impl Write + Send + 'static, capacity: usize) -> io::Result<LogQueue> {
        let (queue, lines) = mpsc::sync_channel(capacity);
        let counters = Arc::new(Counters::default());
        let thread_counters = counters.clone();
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_lines(lines, out, &thread_counters))?;
        Ok(LogQueue { queue, counters })
    }

    /// Queues one line, or drops and counts it if the queue is full.
    fn push(&self, line: &[u8]) {
        if self.queue.try_send(Message::Line(line.to_vec())).is_err() {
            self.counters.drop_line();
        }
    }

    /// Lines dropped since this queue started.
    pub fn dropped(&self) -> u64 {
        self.counters.total()
    }

    /// Waits until the lines queued so far are handled, at most `timeout`;
    /// returns whether they were.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (done, finished) = mpsc::sync_channel(1);
        let mut message = Message::Flush(done);
        loop {
            match self.queue.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    message = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        finished
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

/// The writer tracing-subscriber gets for one event: the formatted line
/// arrives in one `write_all`, which queues it and never fails.
pub struct LineWriter<'a>(&'a LogQueue);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogQueue {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self)
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.queue.flush(FLUSH_TIMEOUT);
    }
}

/// The most bytes of lines the writer thread gathers for one write.
const BATCH_BYTES: usize = 64 << 10;
/// How long the writer thread rests after a write before it looks at the
/// queue again. A line sent while the thread blocks in `recv` must wake it
/// (a futex call, and a context switch, on the sender's side): under load
/// that was a line per request, a few percent of the node's CPU. Resting
/// lets the lines of a busy spell gather without waking it; the first line
/// after a quiet spell is still written at once. Under load the thread then
/// wakes a hundred times a second, not once a request; at 20,000 lines a
/// second a rest gathers 200 of the queue's [`QUEUE_LINES`]. (1 ms, a
/// thousand wakings a second, took the cores from the HTTP workers often
/// enough to cost about 4% of ingest on two cores.)
const REST: Duration = Duration::from_millis(10);

/// The writer thread: writes the lines waiting in the queue together (one
/// write call for up to [`BATCH_BYTES`], not one per line), or drops and
/// counts them.
fn write_lines(lines: Receiver<Message>, mut out: impl Write, counters: &Counters) {
    let mut batch = Batch::default();
    while let Ok(first) = lines.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Line(line) => batch.push(&line),
                Message::Flush(done) => {
                    batch.write(&mut out, counters);
                    // Nothing to do about a failed flush: the lines are already counted.
                    let _ = out.flush();
                    let _ = done.send(());
                }
            }
            next = if batch.bytes.len() < BATCH_BYTES {
                lines.try_recv().ok()
            } else {
                None
            };
        }
        // The queue is empty (or the batch full): written now, never held back.
        batch.write(&mut out, counters);
        std::thread::sleep(REST);
    }
}

/// Whole lines gathered for one write.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    lines: u64,
}

impl Batch {
    fn push(&mut self, line: &[u8]) {
        self.bytes.extend_from_slice(line);
        self.lines += 1;
    }

    /// Writes the gathered lines after any notice of dropped ones; if the
    /// write fails, counts them all as dropped (some may have been written).
    fn write(&mut self, out: &mut impl Write, counters: &Counters) {
        if self.lines == 0 {
            return;
        }
        report_dropped(out, counters);
        if out.write_all(&self.bytes).is_err() {
            counters.drop_lines(self.lines);
        }
        self.bytes.clear();
        self.lines = 0;
    }
}

/// Writes "N log lines were dropped" if any were since the last report; if
/// that fails too they stay unreported, for the next line.
fn report_dropped(out: &mut impl Write, counters: &Counters) {
    let unreported = counters.unreported.swap(0, Ordering::Relaxed);
    if unreported == 0 {
        return;
    }
    let mut notice = String::new();
    // The clock text is decoration; a line without it is still worth writing.
    let _ = SystemTime.format_time(&mut Writer::new(&mut notice));
    notice.push_str(&format!(
        "  WARN node::logging: {unreported} log lines were dropped (stderr could not be written, or the log queue was full)\n"
    ));
    if out.write_all(notice.as_bytes()).is_err() {
        counters.unreported.fetch_add(unreported, Ordering::Relaxed);
    }
}

/// Installs the global tracing subscriber (filter from `RUST_LOG`, default
/// `info`) writing to stderr through a [`LogQueue`]. Keep the guard until the
/// process ends.
pub fn init(format: LogFormat) -> io::Result<LogGuard> {
    use std::io::IsTerminal as _;
    let queue = LogQueue::spawn(io::stderr(), QUEUE_LINES)?;
    // A second init keeps the first counters; the subscriber below then fails
    // to install, which tracing reports by returning an error we ignore.
    let _ = INSTALLED.set(queue.counters.clone());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(queue.clone())
        // Its internal errors are printed with eprintln!, which panics on a
        // stderr that cannot be written; our writer never fails anyway.
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(io::stderr().is_terminal()).try_init(),
        // One JSON object a line, with the request span (and its id).
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
    Ok(LogGuard { queue })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An output that fails while `full` is set, and keeps what it was given otherwise.
    #[derive(Clone, Default)]
    struct Disk {
        written: Arc<Mutex<Vec<u8>>>,
        full: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.full.load(Ordering::SeqCst) {
                return Err(io::Error::other("No space left on device"));
            }
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Disk {
        fn text(&self) -> String {
            String::from_utf8(self.written.lock().unwrap().clone()).unwrap()
        }
    }

    fn write_line(queue: &LogQueue, line: &str) {
        queue.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn lines_that_cannot_be_written_are_counted_and_reported_once_writing_works() {
        let disk = Disk::default();
        let queue = LogQueue::spawn(disk.clone(), 64).unwrap();
        write_line(&queue, "one\n");
        assert!(queue.flush(Duration::from_secs(10)));
        disk.full.store(true, Ordering::SeqCst);
        for _ in 0..5 {
            write_line(&queue, "lost\n");
        }
        assert!(queue.flush(Duration::from_secs(10)));
        assert_eq!(queue.dropped(), 5);
        assert_eq!(disk.text(), "one\n");

        disk.full.store(false, Ordering::SeqCst);
        write_line(&queue, "two\n");
        assert!(queue.flush(Duration::from_secs(10)));
        let text = disk.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "one");
        assert!(
            lines[1].ends_with(
                "5 log lines were dropped (stderr could not be written, or the log queue was full)"
            ),
            "{text}"
        );
        assert_eq!(lines[2], "two");
        // Reported once: the count since start stays, the notice does not repeat.
        write_line(&queue, "three\n");
        assert!(queue.flush(Duration::from_secs(10)));
        assert_eq!(disk.text().lines().count(), 4);
        assert_eq!(queue.dropped(), 5);
    }

    /// An output that keeps each write call's bytes apart, and holds the
    /// first call (saying it has begun) until told to go on.
    struct Calls {
        calls: Arc<Mutex<Vec<Vec<u8>>>>,
        begun: mpsc::Sender<()>,
        gate: Option<mpsc::Receiver<()>>,
    }

    impl Write for Calls {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(gate) = self.gate.take() {
                let _ = self.begun.send(());
                let _ = gate.recv();
            }
            self.calls.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_waiting_in_the_queue_are_written_whole_in_one_call() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (go, gate) = mpsc::channel();
        let (begun, first_call) = mpsc::channel();
        let out = Calls {
            calls: calls.clone(),
            begun,
            gate: Some(gate),
        };
        let queue = LogQueue::spawn(out, 256).unwrap();
        write_line(&queue, "first\n");
        first_call.recv_timeout(Duration::from_secs(10)).unwrap();
        // While the first write is held, the rest queue up.
        let expected: Vec<String> = (0..200).map(|n| format!("line {n}\n")).collect();
        for line in &expected {
            write_line(&queue, line);
        }
        go.send(()).unwrap();
        assert!(queue.flush(Duration::from_secs(10)));
        let calls = calls.lock().unwrap();
        assert_eq!(calls[0], b"first\n");
        assert_eq!(calls[1..].concat(), expected.concat().into_bytes());
        assert_eq!(calls.len(), 2, "the 200 waiting lines go out in one write");
        assert_eq!(queue.dropped(), 0);
    }

    /// An output that blocks until told to go on, like a pipe nobody reads.
    struct Stuck(mpsc::Receiver<()>);

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.0.recv();
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_output_never_blocks_the_caller() {
        let (go_on, wait) = mpsc::channel();
        let queue = LogQueue::spawn(Stuck(wait), 4).unwrap();
        // The thread takes one line and blocks on it; 4 more fill the queue; the rest are dropped.
        for _ in 0..100 {
            write_line(&queue, "line\n");
        }
        assert!(!queue.flush(Duration::from_millis(50)));
        let dropped = queue.dropped();
        assert!((95..=96).contains(&dropped), "{dropped} dropped");
        drop(go_on);
    }
}
