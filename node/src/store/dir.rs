//! The data directory itself: creating it private, syncing its entries, and the `LOCK` file that keeps a second node out.

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use super::StoreError;

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "LOCK";

/// Creates the data directory, and any missing parents, with mode 0700.
pub(crate) fn create_dir(dir: &Path) -> Result<(), StoreError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StoreError::io(dir, format!("cannot create the data directory: {e}")))
}

/// Makes the directory's entries (a newly created file) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Takes the data directory's lock, or says who holds it.
pub(super) fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| StoreError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path)
                .ok()
                .map(|text| text.trim().to_owned())
                .filter(|pid| !pid.is_empty());
            return Err(StoreError::InUse {
                dir: dir.to_owned(),
                lock: path,
                holder,
            });
        }
        Err(TryLockError::Error(e)) => return Err(StoreError::io(&path, e)),
    }
    // Only a diagnostic for the "in use" message; the lock is what counts.
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(|e| StoreError::io(&path, e))?;
    Ok(file)
}
