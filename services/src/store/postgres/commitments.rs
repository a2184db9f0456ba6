//! Commitments ([`CommitmentRecord`]) in Blackboard's PostgreSQL database: recorded in the
//! transaction of their log entry, listed by assignment or by student. (The earliest
//! commitment to a file's bytes is read with the rest of a record's facts, `facts.rs`.)

use super::board::{get, sha256, student};
use super::{secs, signed, time, unsigned, Conn};
use crate::store::{CommitmentRecord, StoreError};
use handin_core::pki::StudentId;
use postgres::types::ToSql;
use postgres::Row;
use std::time::SystemTime;

const COLUMNS: &str =
    "student_id, course, assignment, file_name, size, sha256, committed_at, log_index";
const INSERT: &str = "INSERT INTO commitments (student_id, course, assignment, file_name, \
                      size, sha256, committed_at, log_index) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// $1 student, $2 course, $3 assignment, $4 size, $5 SHA-256: the earliest commitment's time.
const EARLIEST: &str = "SELECT MIN(committed_at) FROM commitments \
                        WHERE student_id = $1 AND course = $2 AND assignment = $3 \
                        AND size = $4 AND sha256 = $5";

/// Records `c` in the transaction on `conn`.
pub(super) fn insert_in(conn: &mut Conn<'_>, c: &CommitmentRecord) -> Result<(), StoreError> {
    let size = signed(c.size, "the size")?;
    let index = signed(c.log_index, "the log index")?;
    let done = conn.prepared(INSERT).and_then(|(client, st)| {
        client.execute(
            &st,
            &[
                &c.student.as_str(),
                &c.course,
                &c.assignment,
                &c.file_name,
                &size,
                &&c.sha256[..],
                &secs(c.committed_at),
                &index,
            ],
        )
    });
    done.map_err(conn.failed("recording a commitment"))?;
    Ok(())
}

/// The commitments matching `filter` (a WHERE clause), in the order `order` says.
pub(super) fn list_in(
    conn: &mut Conn<'_>,
    filter: &str,
    order: &str,
    args: &[&(dyn ToSql + Sync)],
) -> Result<Vec<CommitmentRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM commitments WHERE {filter} ORDER BY {order}");
    let rows = conn.client().query(&sql, args);
    let rows = rows.map_err(conn.failed("listing commitments"))?;
    rows.iter().map(row_to_commitment).collect()
}

fn row_to_commitment(r: &Row) -> Result<CommitmentRecord, StoreError> {
    Ok(CommitmentRecord {
        student: student(get(r, 0)?)?,
        course: get(r, 1)?,
        assignment: get(r, 2)?,
        file_name: get(r, 3)?,
        size: unsigned(get(r, 4)?, "a size")?,
        sha256: sha256(get(r, 5)?)?,
        committed_at: time(get(r, 6)?),
        log_index: unsigned(get(r, 7)?, "a log index")?,
    })
}

/// When `student` first committed to these bytes for `course`/`assignment`, in the transaction
/// on `conn`.
pub(super) fn earliest_in(
    conn: &mut Conn<'_>,
    student: &StudentId,
    course: &str,
    assignment: &str,
    size: u64,
    sha256: &[u8; 32],
) -> Result<Option<SystemTime>, StoreError> {
    // No commitment is to more bytes than the database can count: NULL matches none.
    let size = i64::try_from(size).ok();
    let row = conn.prepared(EARLIEST).and_then(|(c, st)| {
        c.query_one(
            &st,
            &[&student.as_str(), &course, &assignment, &size, &&sha256[..]],
        )
    });
    let row = row.map_err(conn.failed("looking a commitment up"))?;
    Ok(get::<Option<i64>>(&row, 0)?.map(time))
}
