//! The data directory: where the embedded defaults keep everything. It is made, and
//! locked, only when a store in it is opened, so that a process on deployed stores leaves
//! nothing there.

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
            std::fs::create_dir_all(&self.path)
                .with_context(|| format!("creating {}", self.path.display()))?;
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
