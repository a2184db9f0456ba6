//! Where a Blackboard store is, as the command line names it, and opening it there: the
//! records in SQLite inside the data directory (the default, one server), or in PostgreSQL
//! (`--db postgres://...`) with the blobs in a directory that several nodes share.
//!
//! ```text
//! --data DIR                 DIR/blackboard.db, DIR/files/, DIR/tmp/; DIR/server.lock held
//! --db URL --blobs DIR       PostgreSQL; DIR/files/, DIR/tmp/<node>/ and its server.lock
//! ```
//!
//! A node of several cleans up only `tmp/<node>/` when it starts, after taking that
//! directory's lock: two servers with the same node name are refused like two servers on one
//! data directory, and no node ever removes another's uploads in progress.

use super::{io_err, Board, BoardError};
use crate::store::blobs::check_node_name;
use crate::store::{BlobDir, PgBoard};
use handin_files::dirlock::DirLock;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where the store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// SQLite and the blobs in one data directory.
    Data(PathBuf),
    /// PostgreSQL at `url`, the blobs in `blobs` (shared by every node).
    Postgres {
        /// The connection URL (`postgres://...` or `postgresql://...`).
        url: String,
        /// The blob directory.
        blobs: PathBuf,
    },
}

impl StoreLocation {
    /// The location the flags name: `--db` (a PostgreSQL URL) with `--blobs`, or `--data`
    /// (with `--db`, `--data` stands for `--blobs`).
    pub fn from_flags(
        data: Option<&Path>,
        db: Option<&str>,
        blobs: Option<&Path>,
    ) -> Result<Self, String> {
        match db {
            Some(url) => {
                if !crate::store::postgres::is_postgres_url(url) {
                    return Err(format!(
                        "--db {url:?} is not a PostgreSQL URL: give postgres://USER@HOST/DB \
                         (leave --db out for the SQLite database in --data)"
                    ));
                }
                let blobs = blobs.or(data).ok_or(
                    "--db needs --blobs DIR: the directory the nodes share for the submitted files",
                )?;
                Ok(Self::Postgres {
                    url: url.to_owned(),
                    blobs: blobs.to_path_buf(),
                })
            }
            None => match (data, blobs) {
                (Some(d), None) => Ok(Self::Data(d.to_path_buf())),
                (_, Some(_)) => Err("--blobs goes with --db postgres://...: with SQLite, the \
                                     files live in --data"
                    .into()),
                (None, None) => Err("give --data DIR (or --db postgres://... --blobs DIR)".into()),
            },
        }
    }

    /// Whether the records are in PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres { .. })
    }
}

/// The node name a server uses when none is given: the host's name, so that the nodes of a
/// cluster, one per machine, need none; two nodes on one machine need `--node`.
pub fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let host = host.trim();
    match check_node_name(host) {
        Ok(()) => host.to_owned(),
        Err(_) => "node".to_owned(),
    }
}

impl Board {
    /// Makes a new, empty store at `location` ([`Board::init`] for a data directory; for
    /// PostgreSQL, the schema if missing and the blob directory).
    pub fn init_at(location: &StoreLocation) -> Result<(), BoardError> {
        match location {
            StoreLocation::Data(dir) => Self::init(dir),
            StoreLocation::Postgres { url, blobs } => {
                PgBoard::open(url)?;
                BlobDir::open(blobs)
                    .map_err(|(at, e)| io_err(format!("creating {}", at.display()))(e))?;
                Ok(())
            }
        }
    }

    /// Opens the store at `location` for a server ([`Board::open`] for a data directory). For
    /// PostgreSQL, as the node `node`: takes `tmp/<node>/`'s lock and empties it.
    pub fn open_at(location: &StoreLocation, node: &str) -> Result<Self, BoardError> {
        let (url, dir) = match location {
            StoreLocation::Data(dir) => return Self::open(dir),
            StoreLocation::Postgres { url, blobs } => (url, blobs),
        };
        check_node_name(node).map_err(BoardError::Invalid)?;
        let blobs = shared_blobs(dir, Some(node))?;
        let lock = DirLock::acquire(blobs.tmp(), SystemTime::now()).map_err(BoardError::Locked)?;
        let removed = blobs
            .clean_tmp()
            .map_err(|(at, e)| io_err(format!("removing leftover upload {}", at.display()))(e))?;
        let records = PgBoard::open(url)?;
        Self::with_parts(Box::new(records), blobs, Some(lock), removed).with_log_key()
    }

    /// Opens the store at `location` for reading and changing its records while servers use
    /// it ([`Board::open_records`] for a data directory).
    pub fn open_records_at(location: &StoreLocation) -> Result<Self, BoardError> {
        match location {
            StoreLocation::Data(dir) => Self::open_records(dir),
            StoreLocation::Postgres { url, blobs } => {
                let records = PgBoard::open(url)?;
                Self::with_parts(Box::new(records), shared_blobs(blobs, None)?, None, 0)
                    .with_log_key()
            }
        }
    }
}

/// The shared blob directory, which must exist already (made by `blackboard init`): a typo in
/// a path must not start a node on an empty directory of its own.
fn shared_blobs(dir: &Path, node: Option<&str>) -> Result<BlobDir, BoardError> {
    if !dir.join("files").is_dir() {
        return Err(BoardError::NoStore {
            dir: dir.to_path_buf(),
            exists: dir.is_dir(),
        });
    }
    let opened = match node {
        Some(node) => BlobDir::open_node(dir, node),
        None => BlobDir::open(dir),
    };
    opened.map_err(|(at, e)| io_err(format!("opening {}", at.display()))(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_name_one_location() {
        let d = Path::new("d");
        let b = Path::new("b");
        let url = "postgres://u@h/db";
        assert_eq!(
            StoreLocation::from_flags(Some(d), None, None),
            Ok(StoreLocation::Data(d.into()))
        );
        assert_eq!(
            StoreLocation::from_flags(None, Some(url), Some(b)),
            Ok(StoreLocation::Postgres {
                url: url.into(),
                blobs: b.into()
            })
        );
        assert_eq!(
            StoreLocation::from_flags(Some(d), Some(url), None),
            Ok(StoreLocation::Postgres {
                url: url.into(),
                blobs: d.into()
            })
        );
        assert!(StoreLocation::from_flags(None, None, None).is_err());
        assert!(StoreLocation::from_flags(Some(d), None, Some(b)).is_err());
        assert!(StoreLocation::from_flags(None, Some(url), None).is_err());
        let e = StoreLocation::from_flags(Some(d), Some("mysql://x"), None).unwrap_err();
        assert!(e.contains("not a PostgreSQL URL"), "{e}");
    }

    #[test]
    fn a_node_cleans_only_its_own_uploads_and_a_second_with_its_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let location = StoreLocation::Postgres {
            url: crate::store::postgres::tests::fresh_url("node_names"),
            blobs: dir.path().join("blobs"),
        };
        Board::init_at(&location).unwrap();
        let first = Board::open_at(&location, "bb1").unwrap();
        assert_eq!(
            first.leftovers_removed(),
            0,
            "its own lock file is not a leftover"
        );
        let mut upload = first.begin_upload().unwrap();
        upload.write(b"in flight").unwrap();
        let other = dir.path().join("blobs/tmp/bb2");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("upload-X"), b"bb2's").unwrap();
        match Board::open_at(&location, "bb1") {
            Err(BoardError::Locked(_)) => {}
            other => panic!("a second bb1 must be refused, got {other:?}"),
        }
        assert!(
            upload.path().exists(),
            "the first bb1's upload in progress survives"
        );
        let second = Board::open_at(&location, "bb3").unwrap();
        assert_eq!(second.leftovers_removed(), 0);
        assert!(
            other.join("upload-X").exists(),
            "bb2's upload is not bb3's to remove"
        );
        // After a crash (the upload never dropped), bb1 restarted removes its own leftover.
        std::mem::forget(upload);
        drop(first);
        let again = Board::open_at(&location, "bb1").unwrap();
        assert_eq!(again.leftovers_removed(), 1);
        assert!(other.join("upload-X").exists());
    }

    #[test]
    fn the_default_node_name_is_a_node_name() {
        assert!(check_node_name(&default_node_name()).is_ok());
    }
}
