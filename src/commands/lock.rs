//! One writer per backup directory: `apply` and `rollback` hold an advisory
//! lock on a file in the backup directory while they write, so two runs
//! against the same directory never interleave their writes and journals.
//! The operating system releases the lock when the process ends, however it
//! ends, so a crashed run never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use anyhow::{Context, bail};

/// The lock file's name in the backup directory.
pub const LOCK_FILE_NAME: &str = ".a2i-fix.lock";

/// Held while a run writes; released when dropped.
#[derive(Debug)]
pub(super) struct BackupLock {
    _file: File,
}

/// Take the lock of `dir` (created if missing) for `command`, or fail
/// naming who holds it.
pub(super) fn lock_backup_dir(dir: &Path, command: &str) -> anyhow::Result<BackupLock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the backup directory `{}`", dir.display()))?;
    let path = dir.join(LOCK_FILE_NAME);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the lock file `{}`", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            // Who holds it, for the message another run prints.
            let holder = format!(
                "`a2i-fix {command}` (process {}, started {})",
                std::process::id(),
                crate::journal::now()
            );
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(holder.as_bytes())?;
            file.flush()?;
            Ok(BackupLock { _file: file })
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = if holder.trim().is_empty() {
                "another a2i-fix run".to_string()
            } else {
                holder.trim().to_string()
            };
            bail!(
                "{holder} is writing with the backup directory `{}`: wait for it to finish, then plan again (two runs must not interleave their writes). Nothing was written",
                dir.display()
            )
        }
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking `{}`", path.display()))
        }
    }
}
