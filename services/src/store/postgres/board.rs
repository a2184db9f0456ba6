//! Blackboard's records in PostgreSQL ([`PgBoard`]): assignments and submissions, with the
//! same columns and meaning as the SQLite database (times in seconds, SHA-256 as bytes, flags
//! as booleans, submissions in the order they were recorded, text compared byte by byte:
//! `COLLATE "C"`, as SQLite does). The course records are in `course.rs`.
//!
//! A batch of submissions ([`BoardRecords::begin`]) and a course change hold the Blackboard
//! advisory lock for their transaction, so the batches of all nodes are recorded one after
//! the other, and what a batch reads (versions, quotas) stays true until it commits.

use super::commitments;
use super::facts::File;
use super::log::{append_in, entries_in, hashes_in, head_in, BOARD_LOG};
use super::schema::migrate;
use super::tables::BOARD;
use super::{begin_locked, rollback, secs, signed, time, unsigned, Conn, Pool};
use crate::store::{
    Assignment, BoardRecords, BoardTx, CommitmentRecord, LogHead, LogRecords, LogTx, OfferFacts,
    RecordFacts, StoreError, StoredSubmission,
};
use handin_core::pki::StudentId;
use handin_core::rules::quota::Usage;
use handin_core::tlog::{Hash, Node};
use postgres::types::ToSql;
use postgres::{GenericClient, Row};
use std::time::{Duration, SystemTime};

/// The advisory lock a batch of submissions or a course change holds.
pub(super) const BOARD_LOCK: i64 = 0x6861_6e64_696e_0002;

const COLUMNS: &str = "id, student_id, course, assignment, file_name, size, sha256, \
                       received_at, late, version, due_at, committed_at, log_index";
/// Records one submission (the columns of [`COLUMNS`], in order).
const INSERT: &str = "INSERT INTO submissions (id, student_id, course, assignment, file_name, \
                      size, sha256, received_at, late, version, due_at, committed_at, \
                      log_index) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
const ASSIGNMENT_COLUMNS: &str = "course, assignment, due, max_size, cutoff, grace, open";

/// Blackboard's records in a PostgreSQL database that several nodes may share.
#[derive(Debug)]
pub struct PgBoard {
    pub(super) pool: Pool,
}

impl PgBoard {
    /// Connects to the database at `url` (`postgres://...`), creating or upgrading
    /// Blackboard's tables.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let pool = Pool::open(url)?;
        migrate(pool.get()?.client(), &BOARD)?;
        Ok(Self { pool })
    }

    /// Submissions matching `filter` (a WHERE clause or nothing), in the order recorded.
    pub(super) fn submissions(
        &self,
        filter: &str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<StoredSubmission>, StoreError> {
        let mut conn = self.pool.get()?;
        let sql = format!("SELECT {COLUMNS} FROM submissions {filter} ORDER BY seq");
        let rows = conn
            .client()
            .query(&sql, args)
            .map_err(conn.failed("listing submissions"))?;
        rows.iter().map(row_to_submission).collect()
    }
}

impl BoardRecords for PgBoard {
    fn put_assignment(&self, a: &Assignment) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        let done = put_assignment_in(conn.client(), a);
        done.map_err(conn.failed(format!("adding assignment {}/{}", a.course, a.assignment)))
    }

    fn assignment(&self, course: &str, assignment: &str) -> Result<Option<Assignment>, StoreError> {
        let mut conn = self.pool.get()?;
        let found = assignment_in(conn.client(), course, assignment);
        found
            .map_err(conn.failed("reading an assignment"))?
            .as_ref()
            .map(row_to_assignment)
            .transpose()
    }

    fn assignments(&self) -> Result<Vec<Assignment>, StoreError> {
        let mut conn = self.pool.get()?;
        let rows = conn
            .client()
            .query(
                &format!(
                    "SELECT {ASSIGNMENT_COLUMNS} FROM assignments ORDER BY course, assignment"
                ),
                &[],
            )
            .map_err(conn.failed("listing assignments"))?;
        rows.iter().map(row_to_assignment).collect()
    }

    fn usage(
        &self,
        student: &StudentId,
        course: &str,
        assignment: &str,
    ) -> Result<Usage, StoreError> {
        usage_in(&mut self.pool.get()?, student, course, assignment)
    }

    fn offer_facts(
        &self,
        student: &StudentId,
        course: &str,
        assignment: &str,
    ) -> Result<OfferFacts, StoreError> {
        super::facts::offer_facts(&mut self.pool.get()?, student, course, assignment)
    }

    fn begin(&self) -> Result<Box<dyn BoardTx + '_>, StoreError> {
        let conn = begin_locked(&self.pool, BOARD_LOCK, "starting a batch of submissions")?;
        Ok(Box::new(PgBoardTx {
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
            "WHERE student_id = $1 AND ($2::TEXT IS NULL OR course = $2)",
            &[&student.as_str(), &course],
        )
    }

    fn find(&self, id: &str) -> Result<Option<StoredSubmission>, StoreError> {
        Ok(self
            .submissions("WHERE id = $1", &[&id])?
            .into_iter()
            .next())
    }

    fn all(&self) -> Result<Vec<StoredSubmission>, StoreError> {
        self.submissions("", &[])
    }

    fn is_recorded(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.pool.get()?;
        let row = conn
            .client()
            .query_opt("SELECT 1 FROM submissions WHERE id = $1", &[&id]);
        Ok(row
            .map_err(conn.failed("looking a submission up"))?
            .is_some())
    }

    fn commitments(
        &self,
        course: &str,
        assignment: &str,
    ) -> Result<Vec<CommitmentRecord>, StoreError> {
        commitments::list_in(
            &mut self.pool.get()?,
            "course = $1 AND assignment = $2",
            "student_id, committed_at, seq",
            &[&course, &assignment],
        )
    }

    fn student_commitments(
        &self,
        student: &StudentId,
    ) -> Result<Vec<CommitmentRecord>, StoreError> {
        commitments::list_in(
            &mut self.pool.get()?,
            "student_id = $1",
            "committed_at, seq",
            &[&student.as_str()],
        )
    }
}

impl LogRecords for PgBoard {
    fn log_head(&self) -> Result<Option<LogHead>, StoreError> {
        head_in(&mut self.pool.get()?, &BOARD_LOG)
    }

    fn log_entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        entries_in(&mut self.pool.get()?, &BOARD_LOG, from, to)
    }

    fn log_hashes(&self, level: u8, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        hashes_in(&mut self.pool.get()?, &BOARD_LOG, level, from, to)
    }
}

/// The transaction of a batch, on the connection it holds for its whole life.
struct PgBoardTx<'a> {
    conn: Conn<'a>,
    /// Not committed nor rolled back yet.
    open: bool,
    inserted: usize,
}

impl BoardTx for PgBoardTx<'_> {
    fn assignment(
        &mut self,
        course: &str,
        assignment: &str,
    ) -> Result<Option<Assignment>, StoreError> {
        let found = assignment_in(self.conn.client(), course, assignment);
        found
            .map_err(self.conn.failed("reading an assignment"))?
            .as_ref()
            .map(row_to_assignment)
            .transpose()
    }

    fn usage(
        &mut self,
        student: &StudentId,
        course: &str,
        assignment: &str,
    ) -> Result<Usage, StoreError> {
        usage_in(&mut self.conn, student, course, assignment)
    }

    fn extension(
        &mut self,
        course: &str,
        assignment: &str,
        student: &StudentId,
    ) -> Result<Option<SystemTime>, StoreError> {
        super::course::extension_in(&mut self.conn, course, assignment, student)
    }

    fn versions(
        &mut self,
        student: &StudentId,
        course: &str,
        assignment: &str,
        file_name: &str,
    ) -> Result<u32, StoreError> {
        let row = self.conn.client().query_one(
            "SELECT COUNT(*) FROM submissions
             WHERE student_id = $1 AND course = $2 AND assignment = $3 AND file_name = $4",
            &[&student.as_str(), &course, &assignment, &file_name],
        );
        let n: i64 = row
            .and_then(|r| r.try_get(0))
            .map_err(self.conn.failed("counting earlier versions"))?;
        u32::try_from(n)
            .map_err(|_| StoreError::BadDatabase(format!("the database counts {n} versions")))
    }

    fn earliest_commitment(
        &mut self,
        student: &StudentId,
        course: &str,
        assignment: &str,
        size: u64,
        sha256: &[u8; 32],
    ) -> Result<Option<SystemTime>, StoreError> {
        commitments::earliest_in(&mut self.conn, student, course, assignment, size, sha256)
    }

    fn record_facts(
        &mut self,
        student: &StudentId,
        course: &str,
        assignment: &str,
        file_name: &str,
        size: u64,
        sha256: &[u8; 32],
    ) -> Result<RecordFacts, StoreError> {
        let file = File {
            name: file_name,
            size,
            sha256,
        };
        super::facts::record_facts(&mut self.conn, student, course, assignment, &file)
    }

    fn insert(&mut self, s: &StoredSubmission) -> Result<(), StoreError> {
        let size = signed(s.size, "the size")?;
        let version = i64::from(s.version);
        let log_index = s
            .log_index
            .map(|i| signed(i, "the log index"))
            .transpose()?;
        let done = self.conn.prepared(INSERT).and_then(|(c, st)| {
            c.execute(
                &st,
                &[
                    &s.id,
                    &s.student.as_str(),
                    &s.course,
                    &s.assignment,
                    &s.file_name,
                    &size,
                    &&s.sha256[..],
                    &secs(s.received_at),
                    &s.late,
                    &version,
                    &secs(s.due),
                    &s.committed_at.map(secs),
                    &log_index,
                ],
            )
        });
        done.map_err(self.conn.failed("recording a submission"))?;
        self.inserted += 1;
        Ok(())
    }

    fn insert_commitment(&mut self, c: &CommitmentRecord) -> Result<(), StoreError> {
        commitments::insert_in(&mut self.conn, c)
    }

    fn log(&mut self) -> &mut dyn LogTx {
        self
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        // Whatever happens, the transaction is over: a failed COMMIT ends it too (and the
        // connection is then not reused).
        self.open = false;
        let done = self.conn.client().batch_execute("COMMIT");
        done.map_err(
            self.conn
                .failed(format!("committing {} submission(s)", self.inserted)),
        )
    }
}

impl LogTx for PgBoardTx<'_> {
    fn log_head(&mut self) -> Result<Option<LogHead>, StoreError> {
        head_in(&mut self.conn, &BOARD_LOG)
    }

    fn log_append(
        &mut self,
        first: u64,
        entries: &[Vec<u8>],
        nodes: &[Node],
        head: &LogHead,
    ) -> Result<(), StoreError> {
        append_in(&mut self.conn, &BOARD_LOG, first, entries, nodes, head)
    }
}

impl Drop for PgBoardTx<'_> {
    fn drop(&mut self) {
        rollback(&mut self.conn, self.open, "a batch of submissions");
    }
}

fn assignment_in(
    client: &mut impl GenericClient,
    course: &str,
    assignment: &str,
) -> Result<Option<Row>, postgres::Error> {
    client.query_opt(
        &format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE course = $1 AND assignment = $2"
        ),
        &[&course, &assignment],
    )
}

fn usage_in(
    conn: &mut Conn<'_>,
    student: &StudentId,
    course: &str,
    assignment: &str,
) -> Result<Usage, StoreError> {
    let row = conn.client().query_one(
        "SELECT COUNT(*), COALESCE(SUM(size), 0)::BIGINT FROM submissions
         WHERE student_id = $1 AND course = $2 AND assignment = $3",
        &[&student.as_str(), &course, &assignment],
    );
    let (count, bytes): (i64, i64) = row
        .and_then(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .map_err(conn.failed("reading a student's storage for an assignment"))?;
    Ok(Usage {
        submissions: unsigned(count, "a submission count")?,
        bytes: unsigned(bytes, "a storage total")?,
    })
}

/// Adds or changes an assignment (inside a transaction or not).
pub(super) fn put_assignment_in(
    client: &mut impl GenericClient,
    a: &Assignment,
) -> Result<(), postgres::Error> {
    let max = i64::try_from(a.max_size).unwrap_or(i64::MAX);
    let grace = i64::try_from(a.grace.as_secs()).unwrap_or(i64::MAX);
    client.execute(
        &format!(
            "INSERT INTO assignments ({ASSIGNMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (course, assignment) DO UPDATE SET
                 due = excluded.due, max_size = excluded.max_size, cutoff = excluded.cutoff,
                 grace = excluded.grace, open = excluded.open"
        ),
        &[
            &a.course,
            &a.assignment,
            &secs(a.due),
            &max,
            &a.cutoff.map(secs),
            &grace,
            &a.open,
        ],
    )?;
    Ok(())
}

/// Reads a column, saying which on failure.
pub(super) fn get<'a, T: postgres::types::FromSql<'a>>(
    r: &'a Row,
    idx: usize,
) -> Result<T, StoreError> {
    r.try_get(idx).map_err(|e| StoreError::Database {
        what: format!("reading column {idx} of a row"),
        source: Box::new(e),
    })
}

/// A SHA-256 column.
pub(super) fn sha256(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| {
        StoreError::BadDatabase(format!("the database holds a {}-byte SHA-256", bytes.len()))
    })
}

/// A student ID column.
pub(super) fn student(s: &str) -> Result<StudentId, StoreError> {
    StudentId::parse(s)
        .map_err(|_| StoreError::BadDatabase(format!("the database holds {s:?} as a student ID")))
}

pub(super) fn row_to_assignment(r: &Row) -> Result<Assignment, StoreError> {
    Ok(Assignment {
        course: get(r, 0)?,
        assignment: get(r, 1)?,
        due: time(get(r, 2)?),
        max_size: unsigned(get(r, 3)?, "a size limit")?,
        cutoff: get::<Option<i64>>(r, 4)?.map(time),
        grace: Duration::from_secs(unsigned(get(r, 5)?, "a grace")?),
        open: get(r, 6)?,
    })
}

pub(super) fn row_to_submission(r: &Row) -> Result<StoredSubmission, StoreError> {
    let version: i64 = get(r, 9)?;
    Ok(StoredSubmission {
        id: get(r, 0)?,
        student: student(get(r, 1)?)?,
        course: get(r, 2)?,
        assignment: get(r, 3)?,
        file_name: get(r, 4)?,
        size: unsigned(get(r, 5)?, "a size")?,
        sha256: sha256(get(r, 6)?)?,
        received_at: time(get(r, 7)?),
        late: get(r, 8)?,
        version: u32::try_from(version).map_err(|_| {
            StoreError::BadDatabase(format!("the database holds version {version}"))
        })?,
        due: time(get(r, 10)?),
        committed_at: get::<Option<i64>>(r, 11)?.map(time),
        log_index: get::<Option<i64>>(r, 12)?
            .map(|i| unsigned(i, "a log index"))
            .transpose()?,
    })
}
