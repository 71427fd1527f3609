//! The data directory: where the embedded defaults keep everything (password hashes,
//! emails, refresh-token hashes, the signing key). It is made, and locked, only when a
//! store in it is opened, so that a process on deployed stores leaves nothing there. It is
//! the owner's alone: made 0700, its files 0600, and one found open to other accounts is
//! closed to them at start, with a warning.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Command;

pub struct DataDir {
    path: PathBuf,
    role: Command,
    /// The lock on `LOCK`, taken with the first store opened here.
    lock: Option<std::fs::File>,
}

impl DataDir {
    pub fn new(path: &Path, role: Command) -> Self {
        DataDir {
            path: path.to_owned(),
            role,
            lock: None,
        }
    }

    /// `name` inside the directory, which is made and locked first.
    pub fn file(&mut self, name: &str) -> anyhow::Result<PathBuf> {
        if self.lock.is_none() {
            private_dir(&self.path)?;
            self.lock = Some(lock(&self.path, self.role)?);
        }
        Ok(self.path.join(name))
    }

    /// Lets another process use the directory (once this one has stopped with it).
    pub fn release(&self) {
        if let Some(lock) = &self.lock {
            if let Err(e) = lock.unlock() {
                tracing::warn!(error = %e, "unlocking the data directory");
            }
        }
    }
}

/// Makes `dir` (0700), or closes an existing one and what is in it to other accounts.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()));
    }
    let mut opened = Vec::new();
    close_to_others(dir, 0o700, &mut opened)?;
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        let mode = if kind.is_dir() { 0o700 } else { 0o600 };
        if kind.is_dir() || kind.is_file() {
            close_to_others(&entry.path(), mode, &mut opened)?;
        }
    }
    if !opened.is_empty() {
        tracing::warn!(
            data_dir = %dir.display(),
            tightened = ?opened,
            "the data directory was open to other accounts; it and its files are now the owner's alone"
        );
    }
    Ok(())
}

/// Sets `path` to `mode` when it grants anything to group or others, noting it in `opened`.
/// A file that is gone by the time it is looked at (a SQLite `-wal` or `-shm` file that a
/// closing connection removes while the directory is read) needs nothing.
fn close_to_others(path: &Path, mode: u32, opened: &mut Vec<String>) -> anyhow::Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let had = meta.permissions().mode() & 0o777;
    if had & 0o077 != 0 {
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            other => other.with_context(|| format!("making {} private", path.display()))?,
        }
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        opened.push(format!("{name} {had:o}"));
    }
    Ok(())
}

/// Locks the data directory for `role`: `chirp all` keeps copies of its rows in memory
/// (posts, timelines), which are right only while no other process writes the same
/// databases, so it takes the directory alone (an exclusive lock); single services may
/// share one directory with each other (shared locks), not with a `chirp all`.
fn lock(data: &Path, role: Command) -> anyhow::Result<std::fs::File> {
    let path = data.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let locked = if role == Command::All {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match locked {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "the data directory {} is in use by another chirp process: `chirp all` needs one \
             of its own, and single services may share one only with each other (--data-dir)",
            data.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that goes between the listing of the directory and its own look (a WAL file
    /// a closing connection removes) stops nothing; one that is there is closed.
    #[test]
    fn a_file_gone_before_it_is_looked_at_needs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut opened = Vec::new();
        let gone = dir.path().join("events.db-wal");
        close_to_others(&gone, 0o600, &mut opened).unwrap();
        assert!(opened.is_empty());
        std::fs::write(&gone, b"x").unwrap();
        std::fs::set_permissions(&gone, std::fs::Permissions::from_mode(0o644)).unwrap();
        close_to_others(&gone, 0o600, &mut opened).unwrap();
        assert_eq!(opened, ["events.db-wal 644"]);
        let mode = std::fs::metadata(&gone).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
