//! The chain's blocks read back from the store: the [`OlderBlocks`] the state reads through, and restoring a state from what is stored.

use std::sync::{mpsc, Arc};

use crate::chain::{Block, RestoreError, Rules, Signatures, Timestamp, Transaction, RESTORE_CHUNK};
use crate::state::{Dropped, OlderBlocks, State};
use crate::store::{Store, StoreError, StoredBytes};

/// Blocks older than those in memory, read from the store's committed snapshot.
pub struct StoredBlocks(pub Store);

impl OlderBlocks for StoredBlocks {
    fn read(&self, from: usize, to: usize) -> Vec<Block> {
        let reader = match self.0.reader() {
            Ok(reader) => reader,
            Err(error) => {
                tracing::warn!(%error, "cannot read blocks from the store");
                return Vec::new();
            }
        };
        let mut blocks = Vec::with_capacity(to.saturating_sub(from));
        for block in reader.blocks(from as u64 + 1, to as u64 + 1) {
            match block {
                Ok(block) => blocks.push(block),
                Err(error) => {
                    tracing::warn!(%error, "cannot read a block from the store");
                    break;
                }
            }
        }
        blocks
    }
}

/// A state from what `store` holds: its blocks, checked in chunks as they are
/// read (the reading runs on its own thread, beside the checks), and the
/// stored `pending` transfers. Signatures are verified again only with
/// [`Signatures::Verify`]. Logs its progress.
pub fn restore_state(
    store: &Store,
    rules: Rules,
    max_pool: usize,
    pending: Vec<Transaction>,
    signatures: Signatures,
) -> Result<(State, Dropped), RestoreError<StoreError>> {
    let reader = store.reader().map_err(RestoreError::Read)?;
    let length = reader.len();
    let now = Timestamp::now().as_secs_f64();
    let older = Arc::new(StoredBlocks(store.clone()));
    let expected = usize::try_from(length).unwrap_or(usize::MAX);
    std::thread::scope(|scope| {
        let (chunks, received) = mpsc::sync_channel(2);
        let reader = &reader;
        // Reads the stored bytes on its own thread; the restore decodes them
        // on every core. Stops at its first failed send: the checks ended
        // early (a rule broken).
        scope.spawn(move || {
            let mut chunk = Vec::with_capacity(RESTORE_CHUNK);
            for stored in reader.stored_blocks(1, length + 1) {
                match stored {
                    Ok(stored) => chunk.push(stored),
                    Err(error) => {
                        let _ = chunks.send(Err(error));
                        return;
                    }
                }
                if chunk.len() == RESTORE_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(RESTORE_CHUNK));
                    if chunks.send(Ok(full)).is_err() {
                        return;
                    }
                }
            }
            if !chunk.is_empty() {
                let _ = chunks.send(Ok(chunk));
            }
        });
        State::restore(
            rules,
            max_pool,
            older,
            expected,
            received,
            || {
                let mut decoder = reader.decoder();
                move |stored: StoredBytes| decoder.decode(&stored)
            },
            pending,
            now,
            signatures,
        )
    })
}
