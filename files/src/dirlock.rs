//! One server per directory: an advisory lock on `DIR/server.lock`, held for the life of the
//! server process, that names its holder.
//!
//! The lock is `flock(2)` on the open file (through rustix, already a dependency; no extra crate
//! needed for one call). The kernel releases it when the process ends, however it ends (SIGKILL
//! included), so a crashed server never leaves a stale lock behind and nothing has to be cleaned
//! up by hand: the file itself stays and is reused. Its content is one line naming the holder
//! (pid, start time, address), read back only to say who holds the lock.

use handin_core::pki::rfc3339;
use handin_core::pki::unix_secs;
use rustix::fs::{flock, FlockOperation};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The lock file's name inside a locked directory.
pub const LOCK_FILE: &str = "server.lock";
/// The most of a holder line read back (the file is only ever written by a server).
const MAX_HOLDER: usize = 256;

/// Why a directory could not be locked.
#[derive(Debug)]
pub enum DirLockError {
    /// Another process holds the lock.
    InUse {
        /// The directory.
        dir: PathBuf,
        /// Who holds it, as its lock file says (`pid 1234, since ...`).
        holder: String,
    },
    /// The lock file could not be opened, locked or written.
    Io {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

impl fmt::Display for DirLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InUse { dir, holder } => write!(
                f,
                "{} is in use by another server ({holder}): stop it first",
                dir.display()
            ),
            Self::Io { path, source } => write!(
                f,
                "cannot lock {}: {source}; check that the directory exists and is writable",
                path.display()
            ),
        }
    }
}

impl std::error::Error for DirLockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::InUse { .. } => None,
        }
    }
}

/// The lock on a directory, held until dropped (or the process ends).
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
    since: SystemTime,
}

impl DirLock {
    /// Locks `dir` (which must exist) for this process, writing `pid N, since TIME` into the
    /// lock file; refuses with [`DirLockError::InUse`], naming the holder, if another process
    /// holds it. Never waits.
    pub fn acquire(dir: &Path, now: SystemTime) -> Result<Self, DirLockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| DirLockError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .map_err(io)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                return Err(DirLockError::InUse {
                    dir: dir.to_path_buf(),
                    holder: read_holder(&file),
                });
            }
            Err(e) => return Err(io(e.into())),
        }
        let lock = Self {
            file,
            path: path.clone(),
            since: SystemTime::UNIX_EPOCH + Duration::from_secs(unix_secs(now)),
        };
        lock.write_holder(None).map_err(io)?;
        Ok(lock)
    }

    /// Adds the address the server listens on to the line naming the holder.
    pub fn set_address(&self, addr: SocketAddr) -> Result<(), DirLockError> {
        self.write_holder(Some(addr))
            .map_err(|source| DirLockError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// What the lock file says about this holder.
    pub fn holder(&self) -> String {
        read_holder(&self.file)
    }

    fn write_holder(&self, addr: Option<SocketAddr>) -> io::Result<()> {
        let mut line = format!("pid {}, since {}", std::process::id(), rfc3339(self.since));
        if let Some(addr) = addr {
            line.push_str(&format!(", listening on {addr}"));
        }
        line.push('\n');
        self.file.set_len(0)?;
        self.file.write_all_at(line.as_bytes(), 0)
    }
}

/// The first line of a lock file, made safe to print; a placeholder if it says nothing (its
/// holder has only just taken the lock).
fn read_holder(file: &File) -> String {
    let mut buf = vec![0u8; MAX_HOLDER];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    let line: String = text
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let line = line.trim();
    if line.is_empty() {
        "its pid is not known yet: it is starting".to_owned()
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path(), at(1_800_000_000)).unwrap();
        let pid = std::process::id();
        assert_eq!(
            first.holder(),
            format!("pid {pid}, since 2027-01-15T08:00:00Z")
        );
        first
            .set_address("127.0.0.1:3141".parse().unwrap())
            .unwrap();

        // flock locks belong to the open file, so even this process cannot take it twice.
        let err = DirLock::acquire(dir.path(), at(1_800_000_100)).unwrap_err();
        let text = err.to_string();
        assert_eq!(
            text,
            format!(
                "{} is in use by another server (pid {pid}, since 2027-01-15T08:00:00Z, \
                 listening on 127.0.0.1:3141): stop it first",
                dir.path().display()
            )
        );

        drop(first);
        let again = DirLock::acquire(dir.path(), at(1_800_000_200)).unwrap();
        assert_eq!(
            again.holder(),
            format!("pid {pid}, since 2027-01-15T08:03:20Z"),
            "the old holder's line is replaced, not appended to"
        );
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("nowhere");
        let err = DirLock::acquire(&gone, at(0)).unwrap_err();
        assert!(matches!(err, DirLockError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("server.lock"), "{err}");
    }

    #[test]
    fn a_holder_line_is_read_safely() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        std::fs::write(&path, "").unwrap();
        let f = File::open(&path).unwrap();
        assert!(read_holder(&f).contains("starting"));
        std::fs::write(&path, "pid 7\u{1b}[2J, since x\nsecond line\n").unwrap();
        assert_eq!(
            read_holder(&File::open(&path).unwrap()),
            "pid 7[2J, since x"
        );
        std::fs::write(&path, vec![b'a'; 10_000]).unwrap();
        assert_eq!(read_holder(&File::open(&path).unwrap()).len(), 256);
    }
}
