//! Blackboard's records in SQLite (`DATA/blackboard.db`): assignments and submissions here,
//! courses in `course.rs`, commitments in `commitments.rs`, the log in `log.rs`.

use super::commitments::{self, UPGRADE_LOG};
use super::course::UPGRADE_COURSES;
use super::log::{entries_in, hashes_in, head_in, ConnLog};
use super::{failed, get_u64, open_migrating, secs, time, Migration};
use crate::store::{
    Assignment, BoardRecords, BoardTx, CommitmentRecord, LogHead, LogRecords, LogTx, StoreError,
    StoredSubmission,
};
use handin_core::pki::StudentId;
use handin_core::rules::quota::Usage;
use handin_core::tlog::{Hash, Node};
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

/// The first schema: assignments and submissions.
pub(super) const SCHEMA: &str = "
CREATE TABLE assignments (
    course     TEXT NOT NULL,
    assignment TEXT NOT NULL,
    due        INTEGER NOT NULL,
    max_size   INTEGER NOT NULL,
    PRIMARY KEY (course, assignment)
) STRICT;
CREATE TABLE submissions (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    student_id  TEXT NOT NULL,
    course      TEXT NOT NULL,
    assignment  TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    late        INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    UNIQUE (student_id, course, assignment, file_name, version),
    FOREIGN KEY (course, assignment) REFERENCES assignments (course, assignment)
) STRICT;
CREATE INDEX submissions_by_student ON submissions (student_id, course);
";
/// The schema's version: 2 added courses (see [`UPGRADE_COURSES`]), 3 the log and
/// commitments ([`UPGRADE_LOG`]).
const SCHEMA_VERSION: i64 = 3;
/// A database of an older version is brought up to date.
const MIGRATIONS: &[Migration] = &[
    Migration {
        from: 1,
        sql: UPGRADE_COURSES,
    },
    Migration {
        from: 2,
        sql: UPGRADE_LOG,
    },
];
const COLUMNS: &str = "id, student_id, course, assignment, file_name, size, sha256, \
                       received_at, late, version, due_at, committed_at, log_index";
const ASSIGNMENT_COLUMNS: &str = "course, assignment, due, max_size, cutoff, grace, open";

/// Blackboard's records in one SQLite database, on one connection shared by the workers.
#[derive(Debug)]
pub struct SqliteBoard {
    conn: Mutex<Connection>,
}

impl SqliteBoard {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // A new database gets the first schema and every step after it at once.
        let schema = format!("{SCHEMA}{UPGRADE_COURSES}{UPGRADE_LOG}");
        let conn = open_migrating(path, &schema, SCHEMA_VERSION, MIGRATIONS)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no open transaction (it rolls back on drop),
        // so the connection is still good.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn submissions(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredSubmission>, StoreError> {
        let conn = self.lock();
        let sql = format!("SELECT {COLUMNS} FROM submissions {filter} ORDER BY seq");
        let mut stmt = conn.prepare(&sql).map_err(failed("listing submissions"))?;
        let rows = stmt
            .query_map(args, row_to_submission)
            .map_err(failed("listing submissions"))?;
        rows.collect::<Result<_, _>>()
            .map_err(failed("listing submissions"))
    }
}

impl BoardRecords for SqliteBoard {
    fn put_assignment(&self, a: &Assignment) -> Result<(), StoreError> {
        put_assignment_in(&self.lock(), a).map_err(failed(format!(
            "adding assignment {}/{}",
            a.course, a.assignment
        )))?;
        Ok(())
    }

    fn assignment(&self, course: &str, assignment: &str) -> Result<Option<Assignment>, StoreError> {
        assignment_in(&self.lock(), course, assignment)
    }

    fn assignments(&self) -> Result<Vec<Assignment>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {ASSIGNMENT_COLUMNS} FROM assignments ORDER BY course, assignment"
            ))
            .map_err(failed("listing assignments"))?;
        let rows = stmt
            .query_map([], row_to_assignment)
            .map_err(failed("listing assignments"))?;
        rows.collect::<Result<_, _>>()
            .map_err(failed("listing assignments"))
    }

    fn usage(
        &self,
        student: &StudentId,
        course: &str,
        assignment: &str,
    ) -> Result<Usage, StoreError> {
        usage_in(&self.lock(), student, course, assignment)
    }

    fn begin(&self) -> Result<Box<dyn BoardTx + '_>, StoreError> {
        let conn = self.lock();
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(failed("starting a transaction"))?;
        Ok(Box::new(SqliteBoardTx {
            conn,
            open: true,
            inserted: 0,
        }))
    }

    fn list(
        &self,
        student: &StudentId,
        course: Option<&str>,
    ) -> Result<Vec<StoredSubmission>, StoreError> {
        self.submissions(
            "WHERE student_id = ?1 AND (?2 IS NULL OR course = ?2)",
            params![student.as_str(), course],
        )
    }

    fn find(&self, id: &str) -> Result<Option<StoredSubmission>, StoreError> {
        Ok(self
            .submissions("WHERE id = ?1", params![id])?
            .into_iter()
            .next())
    }

    fn all(&self) -> Result<Vec<StoredSubmission>, StoreError> {
        self.submissions("", params![])
    }

    fn is_recorded(&self, id: &str) -> Result<bool, StoreError> {
        self.lock()
            .query_row("SELECT 1 FROM submissions WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(failed("looking a submission up"))
    }

    fn commitments(
        &self,
        course: &str,
        assignment: &str,
    ) -> Result<Vec<CommitmentRecord>, StoreError> {
        commitments::list_in(
            &self.lock(),
            "course = ?1 AND assignment = ?2",
            "student_id, committed_at, seq",
            params![course, assignment],
        )
    }

    fn student_commitments(
        &self,
        student: &StudentId,
    ) -> Result<Vec<CommitmentRecord>, StoreError> {
        commitments::list_in(
            &self.lock(),
            "student_id = ?1",
            "committed_at, seq",
            params![student.as_str()],
        )
    }
}

impl LogRecords for SqliteBoard {
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

/// The transaction of a batch, on the connection it holds locked for its whole life.
struct SqliteBoardTx<'a> {
    conn: MutexGuard<'a, Connection>,
    /// Not committed nor rolled back yet.
    open: bool,
    inserted: usize,
}

impl BoardTx for SqliteBoardTx<'_> {
    fn assignment(
        &mut self,
        course: &str,
        assignment: &str,
    ) -> Result<Option<Assignment>, StoreError> {
        assignment_in(&self.conn, course, assignment)
    }

    fn usage(
        &mut self,
        student: &StudentId,
        course: &str,
        assignment: &str,
    ) -> Result<Usage, StoreError> {
        usage_in(&self.conn, student, course, assignment)
    }

    fn extension(
        &mut self,
        course: &str,
        assignment: &str,
        student: &StudentId,
    ) -> Result<Option<SystemTime>, StoreError> {
        super::course::extension_in(&self.conn, course, assignment, student)
    }

    fn versions(
        &mut self,
        student: &StudentId,
        course: &str,
        assignment: &str,
        file_name: &str,
    ) -> Result<u32, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT COUNT(*) FROM submissions
                 WHERE student_id = ?1 AND course = ?2 AND assignment = ?3 AND file_name = ?4",
            )
            .and_then(|mut st| {
                st.query_row(
                    params![student.as_str(), course, assignment, file_name],
                    |r| r.get(0),
                )
            })
            .map_err(failed("counting earlier versions"))
    }

    fn earliest_commitment(
        &mut self,
        student: &StudentId,
        course: &str,
        assignment: &str,
        size: u64,
        sha256: &[u8; 32],
    ) -> Result<Option<SystemTime>, StoreError> {
        commitments::earliest_in(&self.conn, student, course, assignment, size, sha256)
    }

    fn insert(&mut self, s: &StoredSubmission) -> Result<(), StoreError> {
        let size = super::signed(s.size, "the size")?;
        let log_index = s
            .log_index
            .map(|i| super::signed(i, "the log index"))
            .transpose()?;
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO submissions ({COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))
            .and_then(|mut st| {
                st.execute(params![
                    s.id,
                    s.student.as_str(),
                    s.course,
                    s.assignment,
                    s.file_name,
                    size,
                    &s.sha256[..],
                    secs(s.received_at),
                    s.late,
                    s.version,
                    secs(s.due),
                    s.committed_at.map(secs),
                    log_index
                ])
            })
            .map_err(failed("recording a submission"))?;
        self.inserted += 1;
        Ok(())
    }

    fn insert_commitment(&mut self, c: &CommitmentRecord) -> Result<(), StoreError> {
        commitments::insert_in(&self.conn, c)
    }

    fn log(&mut self) -> &mut dyn LogTx {
        self
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let result = self.conn.execute_batch("COMMIT");
        match result {
            Ok(()) => {
                self.open = false;
                Ok(())
            }
            // Still open (the drop rolls it back) if the commit did not end it.
            Err(e) => {
                self.open = !self.conn.is_autocommit();
                Err(failed(format!(
                    "committing {} submission(s)",
                    self.inserted
                ))(e))
            }
        }
    }
}

impl LogTx for SqliteBoardTx<'_> {
    fn log_head(&mut self) -> Result<Option<LogHead>, StoreError> {
        ConnLog(&self.conn).log_head()
    }

    fn log_append(
        &mut self,
        first: u64,
        entries: &[Vec<u8>],
        nodes: &[Node],
        head: &LogHead,
    ) -> Result<(), StoreError> {
        ConnLog(&self.conn).log_append(first, entries, nodes, head)
    }
}

impl Drop for SqliteBoardTx<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rolling back a batch of submissions");
            }
        }
    }
}

fn assignment_in(
    conn: &Connection,
    course: &str,
    assignment: &str,
) -> Result<Option<Assignment>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE course = ?1 AND assignment = ?2"
    ))
    .and_then(|mut st| {
        st.query_row([course, assignment], row_to_assignment)
            .optional()
    })
    .map_err(failed("reading an assignment"))
}

fn usage_in(
    conn: &Connection,
    student: &StudentId,
    course: &str,
    assignment: &str,
) -> Result<Usage, StoreError> {
    let (count, bytes): (i64, i64) = conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM submissions
             WHERE student_id = ?1 AND course = ?2 AND assignment = ?3",
        )
        .and_then(|mut st| {
            st.query_row(params![student.as_str(), course, assignment], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .map_err(failed("reading a student's storage for an assignment"))?;
    Ok(Usage {
        submissions: u64::try_from(count).unwrap_or(0),
        bytes: u64::try_from(bytes).unwrap_or(0),
    })
}

/// Adds or changes an assignment on `conn` (inside a transaction or not).
pub(super) fn put_assignment_in(conn: &Connection, a: &Assignment) -> rusqlite::Result<()> {
    let max = i64::try_from(a.max_size).unwrap_or(i64::MAX);
    let grace = i64::try_from(a.grace.as_secs()).unwrap_or(i64::MAX);
    conn.execute(
        &format!(
            "INSERT INTO assignments ({ASSIGNMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (course, assignment) DO UPDATE SET
                 due = excluded.due, max_size = excluded.max_size, cutoff = excluded.cutoff,
                 grace = excluded.grace, open = excluded.open"
        ),
        params![
            a.course,
            a.assignment,
            secs(a.due),
            max,
            a.cutoff.map(secs),
            grace,
            a.open
        ],
    )?;
    Ok(())
}

fn row_to_assignment(r: &Row<'_>) -> rusqlite::Result<Assignment> {
    let cutoff: Option<i64> = r.get(4)?;
    Ok(Assignment {
        course: r.get(0)?,
        assignment: r.get(1)?,
        due: time(r.get(2)?),
        max_size: get_u64(r, 3)?,
        cutoff: cutoff.map(time),
        grace: Duration::from_secs(get_u64(r, 5)?),
        open: r.get(6)?,
    })
}

pub(super) fn row_to_submission(r: &Row<'_>) -> rusqlite::Result<StoredSubmission> {
    let sha: Vec<u8> = r.get(6)?;
    let sha256 = <[u8; 32]>::try_from(sha.as_slice())
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(6, Type::Blob, e.into()))?;
    let student: String = r.get(1)?;
    let student = StudentId::parse(&student)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, Type::Text, e.into()))?;
    Ok(StoredSubmission {
        id: r.get(0)?,
        student,
        course: r.get(2)?,
        assignment: r.get(3)?,
        file_name: r.get(4)?,
        size: get_u64(r, 5)?,
        sha256,
        received_at: time(r.get(7)?),
        late: r.get(8)?,
        version: r.get(9)?,
        due: time(r.get(10)?),
        committed_at: r.get::<_, Option<i64>>(11)?.map(time),
        log_index: r
            .get::<_, Option<i64>>(12)?
            .map(|i| {
                u64::try_from(i).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(12, Type::Integer, e.into())
                })
            })
            .transpose()?,
    })
}
