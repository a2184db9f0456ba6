//! A transparency log's tables in a SQLite database ([`crate::store::log`]): one log per
//! database (`log_entries`, `log_hashes`, `log_head`), appended to on the connection of the
//! transaction that writes what it logs ([`ConnLog`]) and read on any connection, a
//! read-only one of its own included ([`SqliteLogReader`]).

use super::{failed, get_u64, open_read_only, signed};
use crate::store::log_rows::{check_append, check_level, frontier_bytes, hash_from, head_from};
use crate::store::{LogHead, LogRecords, LogTx, StoreError};
use handin_core::tlog::{Hash, Node};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// The log's tables, as a literal for `concat!` into a schema step. `log_head` has at most one
/// row.
macro_rules! log_tables {
    () => {
        "
CREATE TABLE log_entries (
    idx  INTEGER PRIMARY KEY,
    data BLOB NOT NULL
) STRICT;
CREATE TABLE log_hashes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;
CREATE TABLE log_head (
    id         INTEGER PRIMARY KEY CHECK (id = 0),
    size       INTEGER NOT NULL,
    frontier   BLOB NOT NULL,
    checkpoint TEXT NOT NULL
) STRICT;
"
    };
}
pub(super) use log_tables;

/// A range's end as SQLite compares it (no index is past `i64::MAX`).
fn bound(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The head as `conn` sees it.
pub(super) fn head_in(conn: &Connection) -> Result<Option<LogHead>, StoreError> {
    let row = conn
        .prepare_cached("SELECT size, frontier, checkpoint FROM log_head WHERE id = 0")
        .and_then(|mut st| {
            st.query_row([], |r| {
                Ok((get_u64(r, 0)?, r.get::<_, Vec<u8>>(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(failed("reading the log head"))?;
    row.map(|(size, frontier, checkpoint)| head_from(size, &frontier, checkpoint))
        .transpose()
}

/// Appends on `conn`, which must be in the transaction writing what the entries log.
pub(super) fn append_in(
    conn: &Connection,
    first: u64,
    entries: &[Vec<u8>],
    nodes: &[Node],
    head: &LogHead,
) -> Result<(), StoreError> {
    let size = head_in(conn)?.map_or(0, |h| h.size);
    check_append(size, first, entries.len(), nodes, head)?;
    let new_size = signed(head.size, "the log size")?;
    let what = || format!("appending {} entries to the log", entries.len());
    {
        let mut st = conn
            .prepare_cached("INSERT INTO log_entries (idx, data) VALUES (?1, ?2)")
            .map_err(failed(what()))?;
        for (idx, data) in (first..).zip(entries) {
            st.execute(params![signed(idx, "the log index")?, data])
                .map_err(failed(what()))?;
        }
    }
    {
        let mut st = conn
            .prepare_cached("INSERT INTO log_hashes (level, idx, hash) VALUES (?1, ?2, ?3)")
            .map_err(failed(what()))?;
        for n in nodes {
            st.execute(params![
                n.level,
                signed(n.index, "the subtree index")?,
                &n.hash.0[..]
            ])
            .map_err(failed(what()))?;
        }
    }
    conn.prepare_cached(
        "INSERT INTO log_head (id, size, frontier, checkpoint) VALUES (0, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET
             size = excluded.size, frontier = excluded.frontier, checkpoint = excluded.checkpoint",
    )
    .and_then(|mut st| {
        st.execute(params![
            new_size,
            frontier_bytes(&head.frontier),
            head.checkpoint
        ])
    })
    .map_err(failed(what()))?;
    Ok(())
}

/// The entries `from..to` on `conn`.
pub(super) fn entries_in(
    conn: &Connection,
    from: u64,
    to: u64,
) -> Result<Vec<Vec<u8>>, StoreError> {
    if from >= to {
        return Ok(Vec::new());
    }
    conn.prepare_cached("SELECT data FROM log_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")
        .and_then(|mut st| {
            st.query_map(params![bound(from), bound(to)], |r| r.get(0))?
                .collect()
        })
        .map_err(failed("reading log entries"))
}

/// The kept hashes at `level` with indexes `from..to` on `conn`.
pub(super) fn hashes_in(
    conn: &Connection,
    level: u8,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, StoreError> {
    check_level(level)?;
    if from >= to {
        return Ok(Vec::new());
    }
    let rows: Vec<Vec<u8>> = conn
        .prepare_cached(
            "SELECT hash FROM log_hashes WHERE level = ?1 AND idx >= ?2 AND idx < ?3
             ORDER BY idx",
        )
        .and_then(|mut st| {
            st.query_map(params![level, bound(from), bound(to)], |r| r.get(0))?
                .collect()
        })
        .map_err(failed("reading log hashes"))?;
    rows.iter().map(|h| hash_from(h)).collect()
}

/// The log on the connection of an open transaction.
pub(super) struct ConnLog<'c>(pub(super) &'c Connection);

impl LogTx for ConnLog<'_> {
    fn log_head(&mut self) -> Result<Option<LogHead>, StoreError> {
        head_in(self.0)
    }

    fn log_append(
        &mut self,
        first: u64,
        entries: &[Vec<u8>],
        nodes: &[Node],
        head: &LogHead,
    ) -> Result<(), StoreError> {
        append_in(self.0, first, entries, nodes, head)
    }
}

/// Reading a database's log on a read-only connection of its own: what was last committed,
/// without waiting for the writer.
#[derive(Debug)]
pub struct SqliteLogReader {
    conn: Mutex<Connection>,
}

impl SqliteLogReader {
    /// Opens the existing database at `path`, whose schema must be at `version`.
    pub(super) fn open(path: &Path, version: i64) -> Result<Self, StoreError> {
        Ok(Self {
            conn: Mutex::new(open_read_only(path, version)?),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // Only reads run on it: a panic while holding it leaves nothing half done.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl LogRecords for SqliteLogReader {
    fn log_head(&self) -> Result<Option<LogHead>, StoreError> {
        head_in(&self.lock())
    }

    fn log_entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        entries_in(&self.lock(), from, to)
    }

    fn log_hashes(&self, level: u8, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        hashes_in(&self.lock(), level, from, to)
    }
}
