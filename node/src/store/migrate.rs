//! Upgrading a store written in an older format to [`FORMAT_VERSION`] when it is opened, a commit a format, before anything is read from it.
//!
//! Format 1 kept the pool in a table `pool` keyed by signature text (value:
//! the arrival number and the entry). Every new entry then landed on a random
//! page of that table, so a commit of a few transfers rewrote as many pages.
//! Format 2 keys the pool by arrival number (`pending`), so new entries go at
//! the table's end; the writer finds an entry's number from its signature in
//! memory ([`Arrivals`](super::arrivals::Arrivals)). Upgrading moves every
//! entry under its number, drops `pool` and records format 2, all in one
//! two-phase commit: after a crash the file holds format 1 or format 2 whole.
//! A file of another network is refused before anything is changed.
//!
//! Format 3 keeps the pool's changes since the last redb commit in the
//! pending journal (`journal.rs`) and records its epoch in `meta`.
//! Upgrading from format 2 creates the empty journal of epoch 0, then
//! records format 3 and epoch 0 in one commit: after a crash between the
//! two, the file is still format 2 and the upgrade runs again.
//!
//! Format 4 names the journal `pending-E.journal`: format 3 named it
//! `pending-E.log`, a name that invites deleting it with the logs (and the
//! transfers in it with it). Upgrading renames the file, syncs the
//! directory, then records format 4: after a crash between the two, the
//! file is still format 3 with its journal already renamed, and the upgrade
//! runs again. A node that reads format 3 refuses a format 4 file with one
//! line naming both formats, rather than missing its journal.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::schema::{self, At, NetworkId, FORMAT_VERSION, JOURNAL_EPOCH, META, PENDING};
use super::{journal, StoreError};

/// Format 1's pool: signature text → (arrival number, the entry as stored).
const POOL_V1: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("pool");

/// Upgrades the store in `db` (in the data directory `dir`) to the current
/// format if it is in format 1, 2 or 3; leaves every other file (new, current
/// or unknown format) to the checks that follow. Logs what it does.
pub(super) fn upgrade(
    db: &Database,
    path: &Path,
    dir: &Path,
    expected: &NetworkId,
) -> Result<(), StoreError> {
    let format = {
        let txn = db.begin_read().at(path)?;
        if txn.list_tables().at(path)?.next().is_none() {
            return Ok(());
        }
        schema::stored_format(&txn, path)?
    };
    if format == "1" {
        upgrade_1_to_2(db, path, expected)?;
    }
    if format == "1" || format == "2" {
        upgrade_2_to_3(db, path, dir, expected)?;
    }
    if format == "1" || format == "2" || format == "3" {
        upgrade_3_to_4(db, path, dir, expected)?;
    }
    Ok(())
}

/// Format 1 to 2: the pool re-keyed by arrival number.
fn upgrade_1_to_2(db: &Database, path: &Path, expected: &NetworkId) -> Result<(), StoreError> {
    let txn = db.begin_read().at(path)?;
    schema::check_network(&txn, path, expected)?;
    // Refuses a format 1 file without a pool before writing anything.
    let entries = schema::open_table(&txn, path, POOL_V1)?.len().at(path)?;
    drop(txn);
    tracing::info!(
        file = %path.display(),
        "upgrading the store from format 1 to 2: {entries} pending transactions to re-key by arrival"
    );
    let mut txn = db.begin_write().at(path)?;
    txn.set_two_phase_commit(true);
    {
        let old = txn.open_table(POOL_V1).at(path)?;
        let mut new = txn.open_table(PENDING).at(path)?;
        for entry in old.iter().at(path)? {
            let (signature, value) = entry.at(path)?;
            let (seq, bytes) = value.value();
            if new.insert(seq, bytes).at(path)?.is_some() {
                let signature = signature.value();
                let head = &signature[..signature.len().min(16)];
                return Err(StoreError::corrupt(
                    path,
                    format!("pending transaction {head}… shares arrival number {seq} with another"),
                ));
            }
        }
    }
    txn.delete_table(POOL_V1).at(path)?;
    txn.open_table(META)
        .at(path)?
        .insert("format", "2")
        .at(path)?;
    txn.commit().at(path)?;
    tracing::info!(file = %path.display(), "the store is now in format 2");
    Ok(())
}

/// Format 2 to 3: an empty pending journal of epoch 0 beside the `pending` table.
fn upgrade_2_to_3(
    db: &Database,
    path: &Path,
    dir: &Path,
    expected: &NetworkId,
) -> Result<(), StoreError> {
    schema::check_network(&db.begin_read().at(path)?, path, expected)?;
    tracing::info!(
        file = %path.display(),
        "upgrading the store from format 2 to 3: adding the pending journal"
    );
    drop(journal::Journal::create(dir, 0)?);
    record(db, path, &[("format", "3"), (JOURNAL_EPOCH, "0")])?;
    tracing::info!(file = %path.display(), "the store is now in format 3");
    Ok(())
}

/// Format 3 to 4: the journal of the recorded epoch renamed from `.log` to `.journal`.
fn upgrade_3_to_4(
    db: &Database,
    path: &Path,
    dir: &Path,
    expected: &NetworkId,
) -> Result<(), StoreError> {
    let epoch = {
        let txn = db.begin_read().at(path)?;
        schema::check_network(&txn, path, expected)?;
        schema::journal_epoch(&txn, path)?
    };
    tracing::info!(
        file = %path.display(),
        "upgrading the store from format 3 to {FORMAT_VERSION}: renaming the pending journal"
    );
    journal::rename_old(dir, epoch)?;
    record(db, path, &[("format", &FORMAT_VERSION.to_string())])?;
    tracing::info!(file = %path.display(), "the store is now in format {FORMAT_VERSION}");
    Ok(())
}

/// Writes `fields` into `meta` in one two-phase commit: the step that
/// makes an upgrade count, after every file it needs is in place.
fn record(db: &Database, path: &Path, fields: &[(&str, &str)]) -> Result<(), StoreError> {
    let mut txn = db.begin_write().at(path)?;
    txn.set_two_phase_commit(true);
    {
        let mut meta = txn.open_table(META).at(path)?;
        for &(key, value) in fields {
            meta.insert(key, value).at(path)?;
        }
    }
    txn.commit().at(path)
}
