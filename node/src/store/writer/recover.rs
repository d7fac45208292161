//! The writer's way back from a failed commit: reloading the stored state from the file opened afresh, then probing for room before writes resume.
//!
//! Why this order: a failed commit may leave memory (the node's) holding
//! changes the disk does not, and requests already queued may rest on them.
//! The disk is the truth, so the node replaces its memory with what
//! [`Store::reload`](crate::store::Store::reload) reads before it probes;
//! writes refused until the probe passes cannot change what was read, and
//! every write accepted after it rests on the disk's state.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::Path;

use super::{Control, Health, Writer};
use crate::store::load::Stored;
use crate::store::schema;
use crate::store::{journal, load, Loaded, StoreError};

/// The file the space probe writes in the data directory, and removes.
pub const PROBE_FILE: &str = "space-probe";
/// How much room the probe wants before writes resume: far more than a
/// transfer's or a block's commit needs, so a nearly full disk does not flap
/// between refusing and accepting writes.
const PROBE_BYTES: usize = 1 << 20;

impl Writer {
    pub(super) fn control(&mut self, control: Control) {
        // A caller that stopped waiting does not need the answer.
        match control {
            Control::Reload(done) => {
                let _ = done.send(self.reload());
            }
            Control::Probe(done) => {
                let _ = done.send(self.probe());
            }
        }
    }

    /// Reads everything stored. After a failed commit, from the file opened
    /// afresh (redb repairs what the failed commit left), as a restart would.
    fn reload(&mut self) -> Result<Loaded, StoreError> {
        let Health::Degraded { .. } = self.health else {
            let db = self.live.database();
            let db = db.as_ref().expect("a healthy writer has its database open");
            return self.load(db).map(|stored| stored.loaded);
        };
        // The old handle must be closed first: it holds the file's lock.
        self.live.replace(None);
        let db = schema::open_database(&self.location.dir, &self.path)?;
        let stored = self.load(&db)?;
        // A commit reported failed may have reached the disk after all:
        // its addresses are stored, and the book learns them.
        if stored.encoder.len() > self.live.book().len() {
            self.live.book().catch_up(stored.encoder.texts());
        }
        self.live.replace(Some(db));
        self.tip = stored.loaded.length;
        self.arrivals = stored.arrivals;
        self.encoder = stored.encoder;
        // The journal stays closed: the probe's fold starts the next one.
        self.epoch = stored.epoch;
        self.journaled = stored.journal.added;
        self.unbased = stored.journal.removed;
        let loaded = stored.loaded;
        if let Health::Degraded { reloaded, .. } = &mut self.health {
            *reloaded = true;
        }
        Ok(loaded)
    }

    fn load(&self, db: &redb::Database) -> Result<Stored, StoreError> {
        // Whatever was chosen at open: the journal read now is one this process wrote.
        load::load(
            db,
            &self.path,
            &self.location.dir,
            &self.location.network,
            load::LostJournal::Refuse,
        )?
        .ok_or_else(|| StoreError::corrupt(&self.path, "it no longer holds any table"))
    }

    /// Resumes writes if the disk has room and the database commits again.
    fn probe(&mut self) -> Result<(), StoreError> {
        let Health::Degraded { reason, reloaded } = &self.health else {
            return Ok(());
        };
        if !reloaded {
            return Err(StoreError::Degraded {
                path: self.path.to_path_buf(),
                detail: format!("{reason} (the stored state was not reloaded since)"),
            });
        }
        let probe = self.location.dir.join(PROBE_FILE);
        probe_space(&probe).map_err(|e| StoreError::io(&probe, e))?;
        // The stored state has not changed since the reload (writes were refused,
        // probe commits are empty), so the counters stay right when the file
        // is opened again after a failed probe commit.
        if self.live.database().is_none() {
            let db = schema::open_database(&self.location.dir, &self.path)?;
            self.live.replace(Some(db));
        }
        // A commit that folds the reloaded journal in and starts a new one:
        // the database commits again, and the journal appended to next
        // ends where its last frame does.
        if let Err(e) = self.write(&[]) {
            // This handle now refuses every operation: open the file afresh next time.
            self.live.replace(None);
            return Err(e);
        }
        if let Err(e) = journal::remove_others(&self.location.dir, self.epoch) {
            tracing::warn!(error = %e, "cannot remove the pending journals of failed commits");
        }
        self.health = Health::Healthy;
        self.shared.set_degraded(None);
        Ok(())
    }
}

/// Writes `PROBE_BYTES` to `path`, syncs them and removes the file.
fn probe_space(path: &Path) -> io::Result<()> {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    let written = File::create(path).and_then(|mut file| {
        for _ in 0..PROBE_BYTES / ZEROS.len() {
            file.write_all(&ZEROS)?;
        }
        file.sync_all()
    });
    let removed = match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    written.and(removed)
}
