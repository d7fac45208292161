//! The node's own wallet key in `DIR/node.key`: created once with mode 0600, reused at every later start.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use wallet::Wallet;
use zeroize::Zeroizing;

use super::{create_dir, sync_dir, StoreError};

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "node.key";

/// Loads the node's wallet from `DIR/node.key`, or generates one and stores it there on first start.
///
/// The file holds the secret text (as `/secret` shows it) and a newline, mode
/// 0600. Like ssh, a key file that group or others may access is refused
/// rather than silently fixed: the secret may already have leaked, and the
/// operator should know. The secret is never logged or printed.
///
/// A new key is written to a temporary file, synced, then hard-linked into
/// place (which, unlike a rename, never replaces an existing key) and the
/// directory synced: a crash leaves either no key file or a complete one.
pub fn load_or_create_wallet(dir: &Path) -> Result<Wallet, StoreError> {
    match load_wallet(dir)? {
        Some(wallet) => Ok(wallet),
        None => create_wallet(dir),
    }
}

/// Loads the node's wallet from `DIR/node.key`; `None` if there is no such file.
///
/// The same checks as [`load_or_create_wallet`]; the caller decides whether a
/// missing key may be made anew (see [`create_wallet`]).
pub fn load_wallet(dir: &Path) -> Result<Option<Wallet>, StoreError> {
    let path = dir.join(KEY_FILE);
    let metadata = match fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    if !metadata.is_file() {
        return Err(StoreError::io(&path, "is not a regular file"));
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(StoreError::KeyPermissions { path, mode });
    }
    let mut secret = Zeroizing::new(String::new());
    fs::File::open(&path)
        .and_then(|mut file| file.read_to_string(&mut secret))
        .map_err(|e| StoreError::io(&path, e))?;
    Wallet::from_secret(&secret)
        .map(Some)
        .map_err(|reason| StoreError::KeyInvalid { path, reason })
}

/// Generates a new wallet and stores it in `DIR/node.key` (creating `DIR`),
/// crash-safely as [`load_or_create_wallet`] says; an existing key file is an
/// error, never replaced.
pub fn create_wallet(dir: &Path) -> Result<Wallet, StoreError> {
    create_dir(dir)?;
    create_key(dir, &dir.join(KEY_FILE))
}

fn create_key(dir: &Path, path: &Path) -> Result<Wallet, StoreError> {
    let wallet = Wallet::generate();
    let temporary = dir.join(format!("{KEY_FILE}.new"));
    // A leftover from a crash before the link holds a key nobody uses.
    match fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&temporary, e)),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(|e| StoreError::io(&temporary, e))?;
    let mut text = wallet.secret();
    text.push('\n');
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::io(&temporary, e))?;
    drop(file);
    fs::hard_link(&temporary, path).map_err(|e| StoreError::io(path, e))?;
    fs::remove_file(&temporary).map_err(|e| StoreError::io(&temporary, e))?;
    sync_dir(dir)?;
    Ok(wallet)
}
