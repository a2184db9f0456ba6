//! A transparency log's tables in PostgreSQL ([`crate::store::log`]). Blackboard's and CUHK's
//! tables may share a database, so each component's log has its own tables, named with its
//! prefix (`blackboard_log_entries`, `cuhk_log_head`, ...), and its own statements
//! ([`LogSql`]). An append is one check of the head and one statement writing entries, hashes
//! and head together; reads need no lock (entries and hashes never change, the head only
//! grows).

use super::board::get;
use super::{signed, unsigned, Conn, Pool};
use crate::store::log_rows::{check_append, check_level, frontier_bytes, hash_from, head_from};
use crate::store::{LogHead, LogRecords, LogTx, StoreError};
use handin_core::tlog::{Hash, Node};

/// The log tables of the component whose table names start with `$p`, as a literal for
/// `concat!` into a schema step. `{$p}log_head` has at most one row.
macro_rules! log_tables {
    ($p:literal) => {
        concat!(
            "
CREATE TABLE ",
            $p,
            "log_entries (
    idx  BIGINT PRIMARY KEY,
    data BYTEA NOT NULL
);
CREATE TABLE ",
            $p,
            "log_hashes (
    level SMALLINT NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE ",
            $p,
            "log_head (
    id         SMALLINT PRIMARY KEY CHECK (id = 0),
    size       BIGINT NOT NULL,
    frontier   BYTEA NOT NULL,
    checkpoint TEXT NOT NULL
);
"
        )
    };
}
pub(super) use log_tables;

/// The statements of one component's log.
#[derive(Debug)]
pub(super) struct LogSql {
    head: &'static str,
    append: &'static str,
    entries: &'static str,
    hashes: &'static str,
}

macro_rules! log_sql {
    ($p:literal) => {
        LogSql {
            head: concat!(
                "SELECT size, frontier, checkpoint FROM ",
                $p,
                "log_head WHERE id = 0"
            ),
            // $1, $2: entries' indexes and data; $3, $4, $5: hashes' levels, indexes and
            // bytes; $6, $7, $8: the head.
            append: concat!(
                "WITH e AS (INSERT INTO ",
                $p,
                "log_entries (idx, data)
                    SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[])),
                 h AS (INSERT INTO ",
                $p,
                "log_hashes (level, idx, hash)
                    SELECT * FROM UNNEST($3::SMALLINT[], $4::BIGINT[], $5::BYTEA[]))
                 INSERT INTO ",
                $p,
                "log_head (id, size, frontier, checkpoint)
                 VALUES (0, $6, $7, $8)
                 ON CONFLICT (id) DO UPDATE SET size = excluded.size,
                     frontier = excluded.frontier, checkpoint = excluded.checkpoint"
            ),
            entries: concat!(
                "SELECT data FROM ",
                $p,
                "log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx"
            ),
            hashes: concat!(
                "SELECT hash FROM ",
                $p,
                "log_hashes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx"
            ),
        }
    };
}

/// Blackboard's log.
pub(super) const BOARD_LOG: LogSql = log_sql!("blackboard_");
/// CUHK's log.
pub(super) const CUHK_LOG: LogSql = log_sql!("cuhk_");

/// A range's end as PostgreSQL compares it (no index is past `i64::MAX`).
fn bound(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The head as the transaction (or the connection) on `conn` sees it.
pub(super) fn head_in(conn: &mut Conn<'_>, sql: &LogSql) -> Result<Option<LogHead>, StoreError> {
    let row = conn
        .prepared(sql.head)
        .and_then(|(c, st)| c.query_opt(&st, &[]));
    let Some(row) = row.map_err(conn.failed("reading the log head"))? else {
        return Ok(None);
    };
    let size = unsigned(get(&row, 0)?, "a log size")?;
    head_from(size, get(&row, 1)?, get(&row, 2)?).map(Some)
}

/// Appends on `conn`, which must be in the transaction writing what the entries log.
pub(super) fn append_in(
    conn: &mut Conn<'_>,
    sql: &LogSql,
    first: u64,
    entries: &[Vec<u8>],
    nodes: &[Node],
    head: &LogHead,
) -> Result<(), StoreError> {
    let size = head_in(conn, sql)?.map_or(0, |h| h.size);
    check_append(size, first, entries.len(), nodes, head)?;
    let indexes = (first..)
        .take(entries.len())
        .map(|i| signed(i, "the log index"))
        .collect::<Result<Vec<i64>, _>>()?;
    let data: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    let levels: Vec<i16> = nodes.iter().map(|n| i16::from(n.level)).collect();
    let node_indexes = nodes
        .iter()
        .map(|n| signed(n.index, "the subtree index"))
        .collect::<Result<Vec<i64>, _>>()?;
    let hashes: Vec<&[u8]> = nodes.iter().map(|n| &n.hash.0[..]).collect();
    let new_size = signed(head.size, "the log size")?;
    let frontier = frontier_bytes(&head.frontier);
    let done = conn.prepared(sql.append).and_then(|(c, st)| {
        c.execute(
            &st,
            &[
                &indexes,
                &data,
                &levels,
                &node_indexes,
                &hashes,
                &new_size,
                &frontier,
                &head.checkpoint,
            ],
        )
    });
    done.map_err(conn.failed(format!("appending {} entries to the log", entries.len())))?;
    Ok(())
}

/// The entries `from..to` on `conn`.
pub(super) fn entries_in(
    conn: &mut Conn<'_>,
    sql: &LogSql,
    from: u64,
    to: u64,
) -> Result<Vec<Vec<u8>>, StoreError> {
    if from >= to {
        return Ok(Vec::new());
    }
    let rows = conn
        .prepared(sql.entries)
        .and_then(|(c, st)| c.query(&st, &[&bound(from), &bound(to)]));
    let rows = rows.map_err(conn.failed("reading log entries"))?;
    rows.iter().map(|r| get(r, 0)).collect()
}

/// The kept hashes at `level` with indexes `from..to` on `conn`.
pub(super) fn hashes_in(
    conn: &mut Conn<'_>,
    sql: &LogSql,
    level: u8,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, StoreError> {
    check_level(level)?;
    if from >= to {
        return Ok(Vec::new());
    }
    let level = i16::from(level);
    let rows = conn
        .prepared(sql.hashes)
        .and_then(|(c, st)| c.query(&st, &[&level, &bound(from), &bound(to)]));
    let rows = rows.map_err(conn.failed("reading log hashes"))?;
    rows.iter().map(|r| hash_from(get(r, 0)?)).collect()
}

/// A component's log on the connection of an open transaction.
pub(super) struct ConnLog<'c, 'p> {
    pub(super) conn: &'c mut Conn<'p>,
    pub(super) sql: &'static LogSql,
}

impl LogTx for ConnLog<'_, '_> {
    fn log_head(&mut self) -> Result<Option<LogHead>, StoreError> {
        head_in(self.conn, self.sql)
    }

    fn log_append(
        &mut self,
        first: u64,
        entries: &[Vec<u8>],
        nodes: &[Node],
        head: &LogHead,
    ) -> Result<(), StoreError> {
        append_in(self.conn, self.sql, first, entries, nodes, head)
    }
}

/// Reading a component's log on connections of its own: what was last committed, without
/// waiting for a writer.
#[derive(Debug)]
pub struct PgLogReader {
    pool: Pool,
    sql: &'static LogSql,
}

impl PgLogReader {
    /// A reader connecting with `pool`'s connections.
    pub(super) fn new(pool: Pool, sql: &'static LogSql) -> Self {
        Self { pool, sql }
    }
}

impl LogRecords for PgLogReader {
    fn log_head(&self) -> Result<Option<LogHead>, StoreError> {
        head_in(&mut self.pool.get()?, self.sql)
    }

    fn log_entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        entries_in(&mut self.pool.get()?, self.sql, from, to)
    }

    fn log_hashes(&self, level: u8, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        hashes_in(&mut self.pool.get()?, self.sql, level, from, to)
    }
}
