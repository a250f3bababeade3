//! One reconciler per state directory: an exclusive lock on
//! `<state_dir>/.lock`, held for the life of the process.
//!
//! Two reconcilers on one state directory would apply the same apps in
//! turn and commit over each other. The lock is the operating system's
//! (`flock` on Unix, through [`std::fs::File::try_lock`]), so it is released
//! when the process dies, however it dies: a crash never leaves a stale lock
//! behind. The file holds the holder's PID, only so that the second
//! instance's error can name it.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

/// The lock file's name in the state directory.
pub const LOCK_FILE: &str = ".lock";

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it.
    Held {
        /// The lock file.
        path: PathBuf,
        /// The holder's PID, when the file names one.
        pid: Option<u32>,
    },
    /// The state directory or the lock file could not be created, opened
    /// or locked.
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Held { path, pid } => {
                let dir = path.parent().unwrap_or(path);
                write!(f, "another helios-reconciler ")?;
                if let Some(pid) = pid {
                    write!(f, "(PID {pid}) ")?;
                }
                write!(
                    f,
                    "is using the state directory `{}` (lock `{}`); one instance per state directory",
                    dir.display(),
                    path.display()
                )
            }
            Self::Io { path, source } => {
                write!(f, "cannot lock `{}`: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Held { .. } => None,
        }
    }
}

/// The lock, held until dropped.
#[derive(Debug)]
pub struct StateLock {
    // Closing the file releases the lock.
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Takes the lock of `state_dir` (created if missing) without waiting,
    /// and writes this process's PID into the lock file.
    pub fn acquire(state_dir: &Path) -> Result<Self, LockError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LockError::Io { path, source }
        };
        std::fs::create_dir_all(state_dir).map_err(io(state_dir))?;
        let path = state_dir.join(LOCK_FILE);
        // Not truncated on open: the holder's PID must stay readable for
        // the instance that fails to lock.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse().ok());
                return Err(LockError::Held { path, pid });
            }
            Err(TryLockError::Error(source)) => return Err(LockError::Io { path, source }),
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush())
            .map_err(io(&path))?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let state = dir.path().join("state");
        let first = StateLock::acquire(&state).expect("the first lock");
        assert_eq!(
            std::fs::read_to_string(first.path()).expect("the lock file"),
            format!("{}\n", std::process::id())
        );

        // flock locks belong to the open file, so a second open in the same
        // process conflicts just as another process would.
        let error = StateLock::acquire(&state).expect_err("a second lock");
        match &error {
            LockError::Held { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
            other => panic!("unexpected error: {other}"),
        }
        let message = error.to_string();
        assert!(
            message.contains(&format!("PID {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains(&state.display().to_string()), "{message}");

        drop(first);
        let again = StateLock::acquire(&state).expect("the lock after release");
        drop(again);
    }

    #[test]
    fn a_stale_file_without_a_holder_does_not_block() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join(LOCK_FILE), "999999999\n").expect("a stale lock file");
        let lock = StateLock::acquire(dir.path()).expect("a lock over a stale file");
        assert_eq!(
            std::fs::read_to_string(lock.path()).expect("the lock file"),
            format!("{}\n", std::process::id())
        );
    }
}
