//! Where one commit's ops land: the redb tables of a write transaction ([`Tables`]) or the pending journal's frame ([`JournalSink`]), with the one numbering of pool entries both share ([`add_pending`], [`remove_pending`]).

use std::collections::BTreeMap;
use std::path::Path;

use redb::Table;
use wallet::Signature;

use super::super::arrivals::Arrivals;
use super::super::journal::Frame;
use super::super::schema::At;
use super::super::{codec, StoreError};
use super::Op;
use crate::chain::{Block, Transaction};

/// Where a commit's pool changes go: the `pending` table, or the journal's frame.
pub(super) trait PoolSink {
    /// Stores `tx` under arrival number `seq`.
    fn put(&mut self, seq: u64, tx: &Transaction) -> Result<(), StoreError>;
    /// Removes the entry under `seq`.
    fn take(&mut self, seq: u64) -> Result<(), StoreError>;
}

/// Adds `tx` to the pool under the next arrival number, in place of an
/// entry with the same signature.
pub(super) fn add_pending(
    arrivals: &mut Arrivals,
    sink: &mut impl PoolSink,
    tx: &Transaction,
) -> Result<(), StoreError> {
    let signature = tx
        .signature()
        .expect("requests with unsigned pending entries were rejected");
    let (seq, replaced) = arrivals.arrive(signature);
    if let Some(old) = replaced {
        sink.take(old)?;
    }
    sink.put(seq, tx)
}

/// Removes pool entries by signature; absent ones are ignored.
pub(super) fn remove_pending(
    arrivals: &mut Arrivals,
    sink: &mut impl PoolSink,
    signatures: &[Signature],
) -> Result<(), StoreError> {
    for signature in signatures {
        if let Some(seq) = arrivals.leave(signature) {
            sink.take(seq)?;
        }
    }
    Ok(())
}

/// A journal commit's frame, and what the writer keeps of the journal's epoch.
pub(super) struct JournalSink<'w> {
    pub(super) frame: &'w mut Frame,
    pub(super) journaled: &'w mut BTreeMap<u64, Transaction>,
    pub(super) unbased: &'w mut Vec<u64>,
}

impl PoolSink for JournalSink<'_> {
    fn put(&mut self, seq: u64, tx: &Transaction) -> Result<(), StoreError> {
        self.frame.add(seq, tx);
        self.journaled.insert(seq, tx.clone());
        Ok(())
    }

    fn take(&mut self, seq: u64) -> Result<(), StoreError> {
        if self.journaled.remove(&seq).is_none() {
            self.unbased.push(seq);
        }
        self.frame.remove(seq);
        Ok(())
    }
}

/// The tables one commit changes, and the tip as it will be once it is durable.
pub(super) struct Tables<'txn, 'w> {
    pub(super) blocks: Table<'txn, u64, &'static [u8]>,
    pub(super) pending: Table<'txn, u64, &'static [u8]>,
    pub(super) peers: Table<'txn, &'static str, u64>,
    pub(super) encoder: &'w mut codec::Encoder,
    pub(super) path: &'w Path,
    pub(super) tip: u64,
}

impl PoolSink for Tables<'_, '_> {
    fn put(&mut self, seq: u64, tx: &Transaction) -> Result<(), StoreError> {
        self.pending
            .insert(seq, self.encoder.transaction(tx).as_slice())
            .at(self.path)?;
        Ok(())
    }

    fn take(&mut self, seq: u64) -> Result<(), StoreError> {
        self.pending.remove(seq).at(self.path)?;
        Ok(())
    }
}

impl Tables<'_, '_> {
    /// Writes the journal's changes into the `pending` table.
    pub(super) fn fold(
        &mut self,
        journaled: &BTreeMap<u64, Transaction>,
        unbased: &[u64],
    ) -> Result<(), StoreError> {
        for &seq in unbased {
            self.take(seq)?;
        }
        for (&seq, tx) in journaled {
            self.put(seq, tx)?;
        }
        Ok(())
    }

    /// Applies `op`, numbering pool entries with `arrivals`.
    pub(super) fn apply(&mut self, op: &Op, arrivals: &mut Arrivals) -> Result<(), StoreError> {
        match op {
            Op::AppendBlock { block, mined } => {
                self.put_block(block)?;
                remove_pending(arrivals, self, mined)
            }
            Op::AddPending(tx) => add_pending(arrivals, self, tx),
            Op::RemovePending(signatures) => remove_pending(arrivals, self, signatures),
            Op::ReplaceChain { keep, blocks, pool } => {
                for index in keep + 1..=self.tip {
                    self.blocks.remove(index).at(self.path)?;
                }
                self.tip = *keep;
                for block in blocks {
                    self.put_block(block)?;
                }
                self.pending.retain(|_, _| false).at(self.path)?;
                arrivals.clear();
                pool.iter()
                    .try_for_each(|tx| add_pending(arrivals, self, tx))
            }
            Op::SetPeers(list) => {
                self.peers.retain(|_, _| false).at(self.path)?;
                for (at, peer) in (0u64..).zip(list) {
                    self.peers.insert(peer.as_str(), at).at(self.path)?;
                }
                Ok(())
            }
        }
    }

    /// Stores `block` under its index, which becomes the tip.
    fn put_block(&mut self, block: &Block) -> Result<(), StoreError> {
        self.blocks
            .insert(block.index, self.encoder.block(block).as_slice())
            .at(self.path)?;
        self.tip = block.index;
        Ok(())
    }
}
