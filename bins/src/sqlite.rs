//! Opening the SQLite databases of the services the same way: write-ahead logging, full
//! synchronous writes, foreign keys on, a busy timeout, and a schema created on first use and
//! recorded in `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why [`open`] failed.
#[derive(Debug)]
pub enum SqliteOpenError {
    /// SQLite failed.
    Database {
        /// What was being done.
        what: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The database holds something this version does not understand.
    BadDatabase(String),
}

impl fmt::Display for SqliteOpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Database { what, source } => write!(f, "{what}: {source}"),
            Self::BadDatabase(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SqliteOpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Database { source, .. } => Some(source),
            Self::BadDatabase(_) => None,
        }
    }
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
    } else if found != version {
        return Err(SqliteOpenError::BadDatabase(format!(
            "schema version {found} is not the version {version} this program knows"
        )));
    }
    tx.commit().map_err(db("creating the schema"))?;
    Ok(conn)
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
    fn another_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(open(&path, SCHEMA, 2).unwrap());
        match open(&path, SCHEMA, 1) {
            Err(SqliteOpenError::BadDatabase(m)) => {
                assert_eq!(
                    m,
                    "schema version 2 is not the version 1 this program knows"
                );
            }
            other => panic!("expected BadDatabase, got {other:?}"),
        }
    }
}
