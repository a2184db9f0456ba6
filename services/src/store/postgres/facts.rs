//! What deciding on an offer, and recording a submission, read from PostgreSQL: each in ONE
//! prepared statement (one round trip), where the SQLite store reads them one by one in
//! process ([`BoardRecords::offer_facts`], [`BoardTx::record_facts`]).
//!
//! [`BoardRecords::offer_facts`]: crate::store::BoardRecords::offer_facts
//! [`BoardTx::record_facts`]: crate::store::BoardTx::record_facts

use super::board::{get, row_to_assignment};
use super::{time, unsigned, Conn};
use crate::store::{Assignment, OfferFacts, RecordFacts, StoreError};
use handin_core::pki::StudentId;
use handin_core::rules::course::Membership;
use handin_core::rules::quota::Usage;
use postgres::Row;

/// $1 student, $2 course, $3 assignment: the assignment's columns (NULL if there is none), the
/// four membership facts, the extension's due time, and the student's usage.
const OFFER: &str = "
SELECT a.course, a.assignment, a.due, a.max_size, a.cutoff, a.grace, a.open,
    EXISTS (SELECT 1 FROM courses WHERE course = $2),
    EXISTS (SELECT 1 FROM course_staff WHERE course = $2 AND person = $1),
    EXISTS (SELECT 1 FROM class_list WHERE course = $2),
    EXISTS (SELECT 1 FROM class_list WHERE course = $2 AND student_id = $1),
    (SELECT due FROM extensions WHERE course = $2 AND assignment = $3 AND student_id = $1),
    u.n, u.bytes
FROM (SELECT COUNT(*) AS n, COALESCE(SUM(size), 0)::BIGINT AS bytes FROM submissions
      WHERE student_id = $1 AND course = $2 AND assignment = $3) u
LEFT JOIN assignments a ON a.course = $2 AND a.assignment = $3";

/// $1 student, $2 course, $3 assignment, $4 file name, $5 size, $6 SHA-256: the assignment's
/// columns (NULL if there is none), the student's usage, the versions of the file name, the
/// extension's due time, the earliest commitment to these bytes.
const RECORD: &str = "
SELECT a.course, a.assignment, a.due, a.max_size, a.cutoff, a.grace, a.open,
    u.n, u.bytes,
    (SELECT COUNT(*) FROM submissions
     WHERE student_id = $1 AND course = $2 AND assignment = $3 AND file_name = $4),
    (SELECT due FROM extensions WHERE course = $2 AND assignment = $3 AND student_id = $1),
    (SELECT MIN(committed_at) FROM commitments
     WHERE student_id = $1 AND course = $2 AND assignment = $3 AND size = $5 AND sha256 = $6)
FROM (SELECT COUNT(*) AS n, COALESCE(SUM(size), 0)::BIGINT AS bytes FROM submissions
      WHERE student_id = $1 AND course = $2 AND assignment = $3) u
LEFT JOIN assignments a ON a.course = $2 AND a.assignment = $3";

/// [`OfferFacts`] for `student`'s offer to `course`/`assignment`.
pub(super) fn offer_facts(
    conn: &mut Conn<'_>,
    student: &StudentId,
    course: &str,
    assignment: &str,
) -> Result<OfferFacts, StoreError> {
    let row = conn
        .prepared(OFFER)
        .and_then(|(c, st)| c.query_one(&st, &[&student.as_str(), &course, &assignment]));
    let row = row.map_err(conn.failed("reading what an offer is decided on"))?;
    Ok(OfferFacts {
        assignment: assignment_of(&row)?,
        membership: Membership {
            course_exists: get(&row, 7)?,
            staff: get(&row, 8)?,
            has_class_list: get(&row, 9)?,
            on_class_list: get(&row, 10)?,
        },
        extension: get::<Option<i64>>(&row, 11)?.map(time),
        usage: usage(&row, 12)?,
    })
}

/// The file [`record_facts`] reads about: its name, size and SHA-256.
pub(super) struct File<'a> {
    pub(super) name: &'a str,
    pub(super) size: u64,
    pub(super) sha256: &'a [u8; 32],
}

/// [`RecordFacts`] for recording `student`'s `file` for `course`/`assignment`, in the
/// transaction on `conn`.
pub(super) fn record_facts(
    conn: &mut Conn<'_>,
    student: &StudentId,
    course: &str,
    assignment: &str,
    file: &File<'_>,
) -> Result<RecordFacts, StoreError> {
    // No commitment is to more bytes than the database can count: NULL matches none.
    let size = i64::try_from(file.size).ok();
    let row = conn.prepared(RECORD).and_then(|(c, st)| {
        c.query_one(
            &st,
            &[
                &student.as_str(),
                &course,
                &assignment,
                &file.name,
                &size,
                &&file.sha256[..],
            ],
        )
    });
    let row = row.map_err(conn.failed("reading what a submission is recorded with"))?;
    let versions: i64 = get(&row, 9)?;
    Ok(RecordFacts {
        assignment: assignment_of(&row)?,
        usage: usage(&row, 7)?,
        versions: u32::try_from(versions).map_err(|_| {
            StoreError::BadDatabase(format!("the database counts {versions} versions"))
        })?,
        extension: get::<Option<i64>>(&row, 10)?.map(time),
        committed_at: get::<Option<i64>>(&row, 11)?.map(time),
    })
}

/// The assignment in columns 0 to 6, if the outer join found one.
fn assignment_of(row: &Row) -> Result<Option<Assignment>, StoreError> {
    match get::<Option<String>>(row, 0)? {
        Some(_) => row_to_assignment(row).map(Some),
        None => Ok(None),
    }
}

/// The usage in columns `at` (count) and `at + 1` (bytes).
fn usage(row: &Row, at: usize) -> Result<Usage, StoreError> {
    Ok(Usage {
        submissions: unsigned(get(row, at)?, "a submission count")?,
        bytes: unsigned(get(row, at + 1)?, "a storage total")?,
    })
}
