//! The streamed body of `GET /chain`: `{"chain":[...],"length":n}` encoded from a store snapshot a few hundred blocks at a time, off the async workers.
//!
//! The bytes are exactly `serde_json::to_vec` of `{chain: &[Block], length}`
//! (fields in that order): the length is known from the snapshot before the
//! first block, so nothing is buffered. Each chunk is encoded on the blocking
//! pool when the connection asks for more, so a slow client holds a snapshot
//! but no thread and no lock, and memory stays at one chunk per connection
//! whatever the chain's length. A failure once the answer has started can
//! only cut the connection short (the client sees an unfinished body); it
//! is logged.
//!
//! A client that stops reading would keep its snapshot open for as long as
//! its connection lives, and redb cannot reuse a page freed after a snapshot
//! that is still open: the file would grow with every block meanwhile. So
//! when a client takes no chunk for `node.stall_timeout_ms`, the snapshot
//! is let go and the answer cut short.
//!
//! HTTP/1.1 clients get the body chunked. HTTP/1.0 has no chunked encoding
//! (RFC 9112 §7.1): such a client gets the bytes as they are, ended by the
//! server closing the connection, the one way 1.0 delimits a body whose
//! length is not known in advance.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use actix_web::http::Version;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::Stream;
use tokio::time::Instant;

use crate::store::{StoreError, StoreReader};

/// Blocks encoded per chunk: about 0.6 MB of JSON for typical blocks.
pub const CHUNK_BLOCKS: u64 = 256;

/// What is left to send of one `/chain` answer (or of another answer that
/// carries the whole chain in an array: `/nodes/resolve`).
pub struct ChainStream {
    reader: StoreReader,
    /// What comes before the blocks, and after them.
    opening: Vec<u8>,
    closing: Vec<u8>,
    /// The first block of the answer, the next one to send, and one past the last.
    first: u64,
    next: u64,
    end: u64,
    stage: Stage,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Opening,
    Blocks,
    Done,
}

impl ChainStream {
    /// At most `limit` blocks from 1-based index `from` (none past the tip) of
    /// `reader`'s snapshot, with the whole chain's length.
    pub fn new(reader: StoreReader, from: u64, limit: u64) -> ChainStream {
        let length = reader.len();
        let closing = format!("],\"length\":{length}}}").into_bytes();
        ChainStream::enveloped(reader, from, limit, b"{\"chain\":[".to_vec(), closing)
    }

    /// Every block of `reader`'s snapshot as a JSON array between `opening`
    /// (which ends with `[`) and `closing` (which starts with `]`).
    pub fn whole(reader: StoreReader, opening: Vec<u8>, closing: Vec<u8>) -> ChainStream {
        ChainStream::enveloped(reader, 1, u64::MAX, opening, closing)
    }

    fn enveloped(
        reader: StoreReader,
        from: u64,
        limit: u64,
        opening: Vec<u8>,
        closing: Vec<u8>,
    ) -> ChainStream {
        let length = reader.len();
        let start = from.saturating_sub(1).min(length);
        let last = start.saturating_add(limit).min(length);
        ChainStream {
            reader,
            opening,
            closing,
            first: start + 1,
            next: start + 1,
            end: last + 1,
            stage: Stage::Opening,
        }
    }

    /// The next piece of the body, `None` once it is all sent. Reads and
    /// encodes up to [`CHUNK_BLOCKS`] blocks: call it off the async workers
    /// (except for the opening piece, see [`ChainStream::reads_blocks`]).
    pub fn next_chunk(&mut self) -> Option<Result<Vec<u8>, StoreError>> {
        match self.stage {
            Stage::Opening => {
                self.stage = Stage::Blocks;
                Some(Ok(std::mem::take(&mut self.opening)))
            }
            Stage::Blocks => Some(self.blocks_chunk()),
            Stage::Done => None,
        }
    }

    /// Whether the next chunk reads blocks from the store (the opening one does not).
    pub fn reads_blocks(&self) -> bool {
        self.stage == Stage::Blocks
    }

    fn blocks_chunk(&mut self) -> Result<Vec<u8>, StoreError> {
        let to = self.next.saturating_add(CHUNK_BLOCKS).min(self.end);
        let mut chunk = Vec::with_capacity(64 * 1024);
        // The reader reports a block missing below `to` as an error, so the
        // loop ends at `to` or fails.
        for block in self.reader.blocks(self.next, to) {
            if self.next != self.first {
                chunk.push(b',');
            }
            serde_json::to_writer(&mut chunk, &block?)
                .expect("serializing a block to memory cannot fail");
            self.next += 1;
        }
        if self.next == self.end {
            chunk.extend_from_slice(&self.closing);
            self.stage = Stage::Done;
        }
        Ok(chunk)
    }
}

/// Why a `/chain` answer was cut short.
#[derive(Debug, thiserror::Error)]
pub enum ChainStreamError {
    /// A block could not be read from the snapshot.
    #[error("reading the chain failed: {0}")]
    Store(#[from] StoreError),
    /// The task encoding a chunk panicked.
    #[error("encoding the chain stopped: {0}")]
    Stopped(#[from] tokio::task::JoinError),
    /// The client took no chunk for this long: its snapshot was let go.
    #[error("the client took nothing for {0:?}")]
    Stalled(Duration),
}

/// The 200 answer carrying `body` as JSON, framed for `req`'s HTTP version;
/// cut short if the client takes no chunk for `stall`.
pub fn respond(req: &HttpRequest, body: ChainStream, stall: Duration) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.content_type("application/json");
    let http_1_0 = req.version() == Version::HTTP_10;
    if http_1_0 {
        response.force_close();
    }
    let mut response = response.streaming(stream(body, stall));
    response.head_mut().no_chunking(http_1_0);
    response
}

/// Where a streamed answer's [`ChainStream`] is between chunks.
enum Slot {
    /// Waiting for the client to ask for the next chunk, since `since`.
    Idle {
        body: Box<ChainStream>,
        since: Instant,
    },
    /// Making a chunk.
    Busy,
    /// Let go: the client took nothing for the stall timeout.
    Released,
}

/// The body as a stream of chunks; each chunk that reads blocks is made on
/// the blocking pool. An error ends the connection without finishing the
/// body, so the client cannot take a cut answer for a whole one (for an
/// HTTP/1.0 client, whose body ends with the connection, the JSON is left
/// unclosed). A watchdog lets the body (and its snapshot) go once the
/// client has taken nothing for `stall`.
fn stream(
    body: ChainStream,
    stall: Duration,
) -> impl Stream<Item = Result<Bytes, ChainStreamError>> {
    let slot = Arc::new(Mutex::new(Slot::Idle {
        body: Box::new(body),
        since: Instant::now(),
    }));
    tokio::spawn(watch(Arc::downgrade(&slot), stall));
    futures_util::stream::unfold(Some(slot), move |slot| async move {
        let slot = slot?;
        let taken = std::mem::replace(&mut *lock(&slot), Slot::Busy);
        let mut body = match taken {
            Slot::Idle { body, .. } => *body,
            Slot::Busy | Slot::Released => {
                tracing::warn!(
                    stall_ms = stall.as_millis() as u64,
                    "a client took no part of a streamed chain for too long: the answer is cut short"
                );
                return Some((Err(ChainStreamError::Stalled(stall)), None));
            }
        };
        let made = if body.reads_blocks() {
            tokio::task::spawn_blocking(move || {
                let chunk = body.next_chunk();
                (body, chunk)
            })
            .await
            .map_err(ChainStreamError::from)
        } else {
            let chunk = body.next_chunk();
            Ok((body, chunk))
        };
        let (body, chunk) = match made {
            Ok((body, Some(chunk))) => (Some(body), chunk.map_err(ChainStreamError::from)),
            Ok((_, None)) => return None,
            Err(e) => (None, Err(e)),
        };
        match chunk {
            Ok(bytes) => {
                if let Some(body) = body {
                    *lock(&slot) = Slot::Idle {
                        body: Box::new(body),
                        since: Instant::now(),
                    };
                }
                Some((Ok(Bytes::from(bytes)), Some(slot)))
            }
            Err(e) => {
                tracing::error!(error = %e, "the /chain answer is cut short");
                Some((Err(e), None))
            }
        }
    })
}

fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lets the body in `slot` go once it has waited `stall` for the client;
/// ends when the answer does (the stream, the slot's owner, is dropped).
async fn watch(slot: Weak<Mutex<Slot>>, stall: Duration) {
    let mut deadline = Instant::now() + stall;
    loop {
        tokio::time::sleep_until(deadline).await;
        let Some(slot) = slot.upgrade() else { return };
        let mut slot = lock(&slot);
        match &*slot {
            Slot::Idle { since, .. } if since.elapsed() >= stall => {
                // Dropping the body closes its snapshot.
                *slot = Slot::Released;
                return;
            }
            Slot::Idle { since, .. } => deadline = *since + stall,
            Slot::Busy => deadline = Instant::now() + stall,
            Slot::Released => return,
        }
    }
}
