//! Commitments ([`CommitmentRecord`]) in Blackboard's SQLite database, and the schema step
//! that added them with the log (version 2 to 3).

use super::log::log_tables;
use super::{failed, get_u64, secs, signed, time};
use crate::store::{CommitmentRecord, StoreError};
use handin_core::pki::StudentId;
use rusqlite::types::Type;
use rusqlite::{params, Connection, Row};
use std::time::SystemTime;

/// Schema version 2 to 3: the log's tables, commitments, and what a submission's record says
/// of both (NULL for those recorded before).
pub(super) const UPGRADE_LOG: &str = concat!(
    log_tables!(),
    "
CREATE TABLE commitments (
    seq          INTEGER PRIMARY KEY,
    student_id   TEXT NOT NULL,
    course       TEXT NOT NULL,
    assignment   TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       BLOB NOT NULL,
    committed_at INTEGER NOT NULL,
    log_index    INTEGER NOT NULL,
    FOREIGN KEY (course, assignment) REFERENCES assignments (course, assignment)
) STRICT;
CREATE INDEX commitments_by_student ON commitments (student_id, course, assignment);
CREATE INDEX commitments_by_assignment ON commitments (course, assignment);
ALTER TABLE submissions ADD COLUMN committed_at INTEGER;
ALTER TABLE submissions ADD COLUMN log_index INTEGER;
"
);

const COLUMNS: &str =
    "student_id, course, assignment, file_name, size, sha256, committed_at, log_index";

/// Records `c` on `conn` (in the caller's transaction).
pub(super) fn insert_in(conn: &Connection, c: &CommitmentRecord) -> Result<(), StoreError> {
    let size = signed(c.size, "the size")?;
    let index = signed(c.log_index, "the log index")?;
    conn.prepare_cached(&format!(
        "INSERT INTO commitments ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    ))
    .and_then(|mut st| {
        st.execute(params![
            c.student.as_str(),
            c.course,
            c.assignment,
            c.file_name,
            size,
            &c.sha256[..],
            secs(c.committed_at),
            index
        ])
    })
    .map_err(failed("recording a commitment"))?;
    Ok(())
}

/// When `student` first committed to these bytes for `course`/`assignment`, on `conn`.
pub(super) fn earliest_in(
    conn: &Connection,
    student: &StudentId,
    course: &str,
    assignment: &str,
    size: u64,
    sha256: &[u8; 32],
) -> Result<Option<SystemTime>, StoreError> {
    // No commitment is to more bytes than the database can count.
    let Ok(size) = i64::try_from(size) else {
        return Ok(None);
    };
    let at: Option<i64> = conn
        .prepare_cached(
            "SELECT MIN(committed_at) FROM commitments
             WHERE student_id = ?1 AND course = ?2 AND assignment = ?3 AND size = ?4
                 AND sha256 = ?5",
        )
        .and_then(|mut st| {
            st.query_row(
                params![student.as_str(), course, assignment, size, &sha256[..]],
                |r| r.get(0),
            )
        })
        .map_err(failed("looking a commitment up"))?;
    Ok(at.map(time))
}

/// The commitments matching `filter` (a WHERE clause), in the order `order` says.
pub(super) fn list_in(
    conn: &Connection,
    filter: &str,
    order: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<CommitmentRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM commitments WHERE {filter} ORDER BY {order}");
    let mut st = conn.prepare(&sql).map_err(failed("listing commitments"))?;
    let rows = st
        .query_map(args, row_to_commitment)
        .map_err(failed("listing commitments"))?;
    rows.collect::<Result<_, _>>()
        .map_err(failed("listing commitments"))
}

fn row_to_commitment(r: &Row<'_>) -> rusqlite::Result<CommitmentRecord> {
    let student: String = r.get(0)?;
    let student = StudentId::parse(&student)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Text, e.into()))?;
    let sha: Vec<u8> = r.get(5)?;
    let sha256 = <[u8; 32]>::try_from(sha.as_slice())
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(5, Type::Blob, e.into()))?;
    Ok(CommitmentRecord {
        student,
        course: r.get(1)?,
        assignment: r.get(2)?,
        file_name: r.get(3)?,
        size: get_u64(r, 4)?,
        sha256,
        committed_at: time(r.get(6)?),
        log_index: get_u64(r, 7)?,
    })
}
