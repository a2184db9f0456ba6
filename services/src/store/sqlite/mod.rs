//! Opening the SQLite databases of the services the same way: write-ahead logging, full
//! synchronous writes, foreign keys on, a busy timeout, and a schema created on first use and
//! recorded in `PRAGMA user_version`; and the SQLite implementations of the storage traits:
//! [`SqliteBoard`] (`DATA/blackboard.db`) and [`SqliteRegistrar`] (`PKI/cuhk.db`).

pub mod board;
mod commitments;
mod course;
mod log;
#[cfg(test)]
mod log_tests;
pub mod registrar;
mod registrar_tx;

pub use board::SqliteBoard;
pub use log::SqliteLogReader;
pub use registrar::{SqliteRegistrar, SqliteRegistrarView};

use super::StoreError;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why [`open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SqliteOpenError {
    /// SQLite failed.
    #[error("{what}: {source}")]
    Database {
        /// What was being done.
        what: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The database holds something this version does not understand.
    #[error("{0}")]
    BadDatabase(String),
}

impl From<SqliteOpenError> for StoreError {
    fn from(e: SqliteOpenError) -> Self {
        match e {
            SqliteOpenError::Database { what, source } => StoreError::Database {
                what,
                source: Box::new(source),
            },
            SqliteOpenError::BadDatabase(m) => StoreError::BadDatabase(m),
        }
    }
}

/// Wraps a SQLite error with what was being done (made into a `String` only on error).
fn failed(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Database {
        what: what.into(),
        source: Box::new(source),
    }
}

/// Seconds since the Unix epoch, as the databases keep times.
fn secs(t: std::time::SystemTime) -> i64 {
    i64::try_from(handin_core::pki::unix_secs(t)).unwrap_or(i64::MAX)
}

/// A time kept as seconds since the Unix epoch.
fn time(secs: i64) -> std::time::SystemTime {
    std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// A number to keep in an INTEGER column (SQLite's are signed).
fn signed(n: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(n)
        .map_err(|_| StoreError::BadDatabase(format!("{what} {n} does not fit the database")))
}

/// Column `idx` as an unsigned number.
fn get_u64(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = r.get(idx)?;
    u64::try_from(v).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Integer, e.into())
    })
}

fn db(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> SqliteOpenError {
    let what = what.into();
    move |source| SqliteOpenError::Database { what, source }
}

/// Opens the database at `path`, creating it if missing, and configures the connection.
///
/// A new database (`user_version` 0) gets `schema` and `version` in one transaction; a database
/// already at `version` is used as it is; any other version is refused as
/// [`SqliteOpenError::BadDatabase`], as is a database that cannot use write-ahead logging.
pub fn open(path: &Path, schema: &str, version: i64) -> Result<Connection, SqliteOpenError> {
    open_migrating(path, schema, version, &[])
}

/// One step of a schema's history: the SQL that takes a database from version `from` to
/// `from + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version the step starts from.
    pub from: i64,
    /// The statements.
    pub sql: &'static str,
}

/// [`open`], also upgrading an older database: from the version it is at, each step of
/// `migrations` runs in turn up to `version`, all in the one transaction that checks the
/// schema, so that a failure leaves the database as it was. A version older than the steps
/// reach, or newer than `version`, is refused as [`SqliteOpenError::BadDatabase`].
pub fn open_migrating(
    path: &Path,
    schema: &str,
    version: i64,
    migrations: &[Migration],
) -> Result<Connection, SqliteOpenError> {
    let mut conn = Connection::open(path).map_err(db(format!("opening {}", path.display())))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(db("switching to write-ahead logging"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SqliteOpenError::BadDatabase(format!(
            "the journal mode is {mode}, not WAL"
        )));
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .map_err(db("configuring the database"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(db("configuring the database"))?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting the schema check"))?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db("reading the schema version"))?;
    if found == 0 {
        tx.execute_batch(schema)
            .map_err(db("creating the schema"))?;
        tx.pragma_update(None, "user_version", version)
            .map_err(db("recording the schema version"))?;
    } else if found < version && migrations.iter().any(|m| m.from == found) {
        let mut at = found;
        while at < version {
            let Some(step) = migrations.iter().find(|m| m.from == at) else {
                return Err(SqliteOpenError::BadDatabase(format!(
                    "schema version {found} cannot be upgraded past version {at} to the \
                     version {version} this program knows"
                )));
            };
            tx.execute_batch(step.sql).map_err(db(format!(
                "upgrading the schema from version {at} to {}",
                at + 1
            )))?;
            at += 1;
        }
        tx.pragma_update(None, "user_version", version)
            .map_err(db("recording the schema version"))?;
    } else if found != version {
        return Err(SqliteOpenError::BadDatabase(other_version(found, version)));
    }
    tx.commit().map_err(db("creating the schema"))?;
    Ok(conn)
}

/// Opens an existing database at `path` for reading only: the same busy timeout, and the
/// schema must be at `version` (else [`SqliteOpenError::BadDatabase`]). Writes through it fail.
///
/// Another connection opened with [`open`] should be open on the same file, so that its
/// write-ahead log and shared-memory index exist; a reader sees what was last committed.
pub fn open_read_only(path: &Path, version: i64) -> Result<Connection, SqliteOpenError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(db(format!("opening {} for reading", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(db("configuring the database"))?;
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db("reading the schema version"))?;
    if found != version {
        return Err(SqliteOpenError::BadDatabase(other_version(found, version)));
    }
    Ok(conn)
}

/// Why a database at schema version `found` is refused by a program that knows `version`: a
/// newer one needs a newer program.
fn other_version(found: i64, version: i64) -> String {
    if found > version {
        format!(
            "schema version {found} is newer than the version {version} this program knows: \
             upgrade handin"
        )
    } else {
        format!("schema version {found} is not the version {version} this program knows")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = "CREATE TABLE t (x INTEGER NOT NULL) STRICT;";

    #[test]
    fn a_new_database_gets_the_schema_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open(&path, SCHEMA, 3).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 3);
        conn.execute("INSERT INTO t (x) VALUES (1)", []).unwrap();
        drop(conn);
        let again = open(&path, SCHEMA, 3).unwrap();
        let n: i64 = again
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_reader_sees_committed_rows_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = open(&path, SCHEMA, 3).unwrap();
        let reader = open_read_only(&path, 3).unwrap();
        writer.execute("INSERT INTO t (x) VALUES (7)", []).unwrap();
        let x: i64 = reader
            .query_row("SELECT x FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(x, 7);
        assert!(reader.execute("INSERT INTO t (x) VALUES (8)", []).is_err());
        assert!(matches!(
            open_read_only(&path, 4),
            Err(SqliteOpenError::BadDatabase(_))
        ));
        assert!(open_read_only(&dir.path().join("missing.db"), 3).is_err());
    }

    #[test]
    fn an_older_database_is_upgraded_step_by_step_in_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let v1 = open(&path, SCHEMA, 1).unwrap();
        v1.execute("INSERT INTO t (x) VALUES (5)", []).unwrap();
        drop(v1);
        let steps = [
            Migration {
                from: 1,
                sql: "ALTER TABLE t ADD COLUMN y INTEGER NOT NULL DEFAULT 2;",
            },
            Migration {
                from: 2,
                sql: "ALTER TABLE t RENAME COLUMN x TO z;",
            },
        ];
        let v3 = open_migrating(&path, "unused", 3, &steps).unwrap();
        let (z, y): (i64, i64) = v3
            .query_row("SELECT z, y FROM t", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((z, y), (5, 2));
        let v: i64 = v3
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 3);
        drop(v3);
        // Already at the version: used as it is.
        drop(open_migrating(&path, "unused", 3, &steps).unwrap());

        // A failing step leaves the database as it was.
        let old = dir.path().join("old.db");
        drop(open(&old, SCHEMA, 1).unwrap());
        let broken = [
            steps[0],
            Migration {
                from: 2,
                sql: "ALTER TABLE missing ADD COLUMN w INTEGER;",
            },
        ];
        assert!(open_migrating(&old, "unused", 3, &broken).is_err());
        let conn = open(&old, SCHEMA, 1).expect("still version 1");
        assert!(conn.prepare("SELECT y FROM t").is_err(), "no half upgrade");
        drop(conn);

        // A gap in the steps is refused, and changes nothing.
        match open_migrating(&old, "unused", 3, &steps[..1]) {
            Err(SqliteOpenError::BadDatabase(m)) => assert_eq!(
                m,
                "schema version 1 cannot be upgraded past version 2 to the version 3 this \
                 program knows"
            ),
            other => panic!("expected BadDatabase, got {other:?}"),
        }
        drop(open(&old, SCHEMA, 1).expect("still version 1"));
    }

    #[test]
    fn another_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(open(&path, SCHEMA, 2).unwrap());
        match open(&path, SCHEMA, 1) {
            Err(SqliteOpenError::BadDatabase(m)) => {
                assert_eq!(
                    m,
                    "schema version 2 is newer than the version 1 this program knows: upgrade \
                     handin"
                );
            }
            other => panic!("expected BadDatabase, got {other:?}"),
        }
    }
}
