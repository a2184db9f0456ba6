//! The course records ([`CourseRecords`]) in Blackboard's SQLite database: courses, staff and
//! class lists, extensions, grades, releases and the staff log (schema version 2).

use super::board::{put_assignment_in, SqliteBoard};
use super::{failed, get_u64, secs, time};
use crate::store::{
    Change, Course, CourseRecords, Extension, FeedbackFile, Grade, LogEntry, StoreError,
    StoredSubmission,
};
use handin_core::pki::{PersonId, StudentId};
use handin_core::rules::course::Membership;
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::time::SystemTime;

/// Schema version 1 to 2: assignment cut-off, grace and state; the due time each submission
/// was judged against; courses and their lists, extensions, grades, releases and the log.
pub(super) const UPGRADE_COURSES: &str = "
ALTER TABLE assignments ADD COLUMN cutoff INTEGER;
ALTER TABLE assignments ADD COLUMN grace INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN open INTEGER NOT NULL DEFAULT 1;
ALTER TABLE submissions ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0;
UPDATE submissions SET due_at = (
    SELECT a.due FROM assignments a
    WHERE a.course = submissions.course AND a.assignment = submissions.assignment);
CREATE INDEX submissions_by_assignment ON submissions (course, assignment);
CREATE TABLE courses (
    course TEXT PRIMARY KEY,
    title  TEXT NOT NULL
) STRICT;
CREATE TABLE course_staff (
    course TEXT NOT NULL REFERENCES courses (course),
    person TEXT NOT NULL,
    PRIMARY KEY (course, person)
) STRICT;
CREATE INDEX course_staff_by_person ON course_staff (person);
CREATE TABLE class_list (
    course     TEXT NOT NULL REFERENCES courses (course),
    student_id TEXT NOT NULL,
    PRIMARY KEY (course, student_id)
) STRICT;
CREATE TABLE extensions (
    course     TEXT NOT NULL,
    assignment TEXT NOT NULL,
    student_id TEXT NOT NULL,
    due        INTEGER NOT NULL,
    PRIMARY KEY (course, assignment, student_id),
    FOREIGN KEY (course, assignment) REFERENCES assignments (course, assignment)
) STRICT;
CREATE TABLE grades (
    course          TEXT NOT NULL,
    assignment      TEXT NOT NULL,
    student_id      TEXT NOT NULL,
    score           TEXT NOT NULL,
    comment         TEXT NOT NULL,
    feedback_id     TEXT,
    feedback_name   TEXT,
    feedback_size   INTEGER,
    feedback_sha256 BLOB,
    graded_by       TEXT NOT NULL,
    graded_at       INTEGER NOT NULL,
    PRIMARY KEY (course, assignment, student_id),
    FOREIGN KEY (course, assignment) REFERENCES assignments (course, assignment)
) STRICT;
CREATE TABLE releases (
    course      TEXT NOT NULL,
    assignment  TEXT NOT NULL,
    released_at INTEGER NOT NULL,
    PRIMARY KEY (course, assignment),
    FOREIGN KEY (course, assignment) REFERENCES assignments (course, assignment)
) STRICT;
CREATE TABLE staff_log (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    course     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    student_id TEXT,
    detail     TEXT NOT NULL
) STRICT;
CREATE INDEX staff_log_by_course ON staff_log (course, seq);
";

const GRADE_COLUMNS: &str = "g.course, g.assignment, g.student_id, g.score, g.comment, \
    g.feedback_id, g.feedback_name, g.feedback_size, g.feedback_sha256, g.graded_by, g.graded_at";

fn apply(conn: &Connection, change: &Change) -> rusqlite::Result<()> {
    match change {
        Change::PutCourse(c) => {
            conn.execute(
                "INSERT INTO courses (course, title) VALUES (?1, ?2)
                 ON CONFLICT (course) DO UPDATE SET title = excluded.title",
                params![c.course, c.title],
            )?;
        }
        Change::AddStaff { course, people } => {
            let mut st = conn.prepare_cached(
                "INSERT INTO course_staff (course, person) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?;
            for p in people {
                st.execute(params![course, p.as_str()])?;
            }
        }
        Change::AddStudents { course, students } => {
            let mut st = conn.prepare_cached(
                "INSERT INTO class_list (course, student_id) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
            )?;
            for s in students {
                st.execute(params![course, s.as_str()])?;
            }
        }
        Change::PutAssignment(a) => put_assignment_in(conn, a)?,
        Change::Extend(e) => {
            conn.execute(
                "INSERT INTO extensions (course, assignment, student_id, due) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (course, assignment, student_id) DO UPDATE SET due = excluded.due",
                params![e.course, e.assignment, e.student.as_str(), secs(e.due)],
            )?;
        }
        Change::Grade(g) => {
            let f = g.feedback.as_ref();
            let size = f.map(|f| i64::try_from(f.size).unwrap_or(i64::MAX));
            conn.execute(
                "INSERT INTO grades (course, assignment, student_id, score, comment, feedback_id,
                     feedback_name, feedback_size, feedback_sha256, graded_by, graded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (course, assignment, student_id) DO UPDATE SET
                     score = excluded.score, comment = excluded.comment,
                     feedback_id = excluded.feedback_id, feedback_name = excluded.feedback_name,
                     feedback_size = excluded.feedback_size,
                     feedback_sha256 = excluded.feedback_sha256,
                     graded_by = excluded.graded_by, graded_at = excluded.graded_at",
                params![
                    g.course,
                    g.assignment,
                    g.student.as_str(),
                    g.score,
                    g.comment,
                    f.map(|f| &f.id),
                    f.map(|f| &f.file_name),
                    size,
                    f.map(|f| &f.sha256[..]),
                    g.graded_by,
                    secs(g.graded_at)
                ],
            )?;
        }
        Change::Release {
            course,
            assignment,
            at,
        } => {
            conn.execute(
                "INSERT INTO releases (course, assignment, released_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (course, assignment) DO NOTHING",
                params![course, assignment, secs(*at)],
            )?;
        }
    }
    Ok(())
}

impl CourseRecords for SqliteBoard {
    fn change(&self, change: &Change, log: &LogEntry) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let what = format!("recording {} in course {}", log.action, log.course);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed(what.clone()))?;
        apply(&tx, change).map_err(failed(what.clone()))?;
        tx.execute(
            "INSERT INTO staff_log (at, course, actor, action, student_id, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                secs(log.at),
                log.course,
                log.actor,
                log.action,
                log.student,
                log.detail
            ],
        )
        .map_err(failed(what.clone()))?;
        tx.commit().map_err(failed(what))
    }

    fn course(&self, course: &str) -> Result<Option<Course>, StoreError> {
        self.lock()
            .query_row(
                "SELECT course, title FROM courses WHERE course = ?1",
                [course],
                row_to_course,
            )
            .optional()
            .map_err(failed("reading a course"))
    }

    fn courses(&self) -> Result<Vec<Course>, StoreError> {
        query(
            &self.lock(),
            "SELECT course, title FROM courses ORDER BY course",
            params![],
            row_to_course,
            "listing courses",
        )
    }

    fn courses_of(&self, person: &PersonId) -> Result<Vec<Course>, StoreError> {
        query(
            &self.lock(),
            "SELECT c.course, c.title FROM courses c
             JOIN course_staff s ON s.course = c.course WHERE s.person = ?1 ORDER BY c.course",
            params![person.as_str()],
            row_to_course,
            "listing a person's courses",
        )
    }

    fn membership(&self, person: &PersonId, course: &str) -> Result<Membership, StoreError> {
        self.lock()
            .query_row(
                "SELECT
                     EXISTS (SELECT 1 FROM courses WHERE course = ?1),
                     EXISTS (SELECT 1 FROM course_staff WHERE course = ?1 AND person = ?2),
                     EXISTS (SELECT 1 FROM class_list WHERE course = ?1),
                     EXISTS (SELECT 1 FROM class_list WHERE course = ?1 AND student_id = ?2)",
                params![course, person.as_str()],
                |r| {
                    Ok(Membership {
                        course_exists: r.get(0)?,
                        staff: r.get(1)?,
                        has_class_list: r.get(2)?,
                        on_class_list: r.get(3)?,
                    })
                },
            )
            .map_err(failed("reading a course's lists"))
    }

    fn staff(&self, course: &str) -> Result<Vec<String>, StoreError> {
        query(
            &self.lock(),
            "SELECT person FROM course_staff WHERE course = ?1 ORDER BY person",
            params![course],
            |r| r.get(0),
            "reading a staff list",
        )
    }

    fn class_list(&self, course: &str) -> Result<Vec<StudentId>, StoreError> {
        query(
            &self.lock(),
            "SELECT student_id FROM class_list WHERE course = ?1 ORDER BY student_id",
            params![course],
            |r| student(r, 0),
            "reading a class list",
        )
    }

    fn extension(
        &self,
        course: &str,
        assignment: &str,
        student: &StudentId,
    ) -> Result<Option<SystemTime>, StoreError> {
        extension_in(&self.lock(), course, assignment, student)
    }

    fn extensions(&self, course: &str, assignment: &str) -> Result<Vec<Extension>, StoreError> {
        query(
            &self.lock(),
            "SELECT course, assignment, student_id, due FROM extensions
             WHERE course = ?1 AND assignment = ?2 ORDER BY student_id",
            params![course, assignment],
            |r| {
                Ok(Extension {
                    course: r.get(0)?,
                    assignment: r.get(1)?,
                    student: student(r, 2)?,
                    due: time(r.get(3)?),
                })
            },
            "reading extensions",
        )
    }

    fn submissions_to(
        &self,
        course: &str,
        assignment: &str,
    ) -> Result<Vec<StoredSubmission>, StoreError> {
        self.submissions(
            "WHERE course = ?1 AND assignment = ?2",
            params![course, assignment],
        )
    }

    fn grades(&self, course: &str, assignment: &str) -> Result<Vec<Grade>, StoreError> {
        query(
            &self.lock(),
            &format!(
                "SELECT {GRADE_COLUMNS} FROM grades g
                 WHERE g.course = ?1 AND g.assignment = ?2 ORDER BY g.student_id"
            ),
            params![course, assignment],
            row_to_grade,
            "reading grades",
        )
    }

    fn released(&self, course: &str, assignment: &str) -> Result<Option<SystemTime>, StoreError> {
        self.lock()
            .query_row(
                "SELECT released_at FROM releases WHERE course = ?1 AND assignment = ?2",
                [course, assignment],
                |r| Ok(time(r.get(0)?)),
            )
            .optional()
            .map_err(failed("reading a release"))
    }

    fn grades_of(
        &self,
        student: &StudentId,
        course: Option<&str>,
    ) -> Result<Vec<(Grade, Option<SystemTime>)>, StoreError> {
        query(
            &self.lock(),
            &format!(
                "SELECT {GRADE_COLUMNS}, r.released_at FROM grades g
                 LEFT JOIN releases r ON r.course = g.course AND r.assignment = g.assignment
                 WHERE g.student_id = ?1 AND (?2 IS NULL OR g.course = ?2)
                 ORDER BY g.course, g.assignment"
            ),
            params![student.as_str(), course],
            |r| {
                let released: Option<i64> = r.get(11)?;
                Ok((row_to_grade(r)?, released.map(time)))
            },
            "reading a student's grades",
        )
    }

    fn log(&self, course: &str) -> Result<Vec<LogEntry>, StoreError> {
        query(
            &self.lock(),
            "SELECT at, course, actor, action, student_id, detail FROM staff_log
             WHERE course = ?1 ORDER BY seq",
            params![course],
            |r| {
                Ok(LogEntry {
                    at: time(r.get(0)?),
                    course: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    student: r.get(4)?,
                    detail: r.get(5)?,
                })
            },
            "reading the staff log",
        )
    }
}

/// One student's extension, on `conn` (inside a transaction or not).
pub(super) fn extension_in(
    conn: &Connection,
    course: &str,
    assignment: &str,
    student: &StudentId,
) -> Result<Option<SystemTime>, StoreError> {
    conn.prepare_cached(
        "SELECT due FROM extensions WHERE course = ?1 AND assignment = ?2 AND student_id = ?3",
    )
    .and_then(|mut st| {
        st.query_row(params![course, assignment, student.as_str()], |r| {
            Ok(time(r.get(0)?))
        })
        .optional()
    })
    .map_err(failed("reading an extension"))
}

fn query<T>(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(failed(what))?;
    let rows = stmt.query_map(args, row).map_err(failed(what))?;
    rows.collect::<Result<_, _>>().map_err(failed(what))
}

fn row_to_course(r: &Row<'_>) -> rusqlite::Result<Course> {
    Ok(Course {
        course: r.get(0)?,
        title: r.get(1)?,
    })
}

fn student(r: &Row<'_>, idx: usize) -> rusqlite::Result<StudentId> {
    let s: String = r.get(idx)?;
    StudentId::parse(&s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, e.into()))
}

fn row_to_grade(r: &Row<'_>) -> rusqlite::Result<Grade> {
    let id: Option<String> = r.get(5)?;
    let feedback = match id {
        None => None,
        Some(id) => {
            let sha: Vec<u8> = r.get(8)?;
            let sha256 = <[u8; 32]>::try_from(sha.as_slice())
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(8, Type::Blob, e.into()))?;
            Some(FeedbackFile {
                id,
                file_name: r.get(6)?,
                size: get_u64(r, 7)?,
                sha256,
            })
        }
    };
    Ok(Grade {
        course: r.get(0)?,
        assignment: r.get(1)?,
        student: student(r, 2)?,
        score: r.get(3)?,
        comment: r.get(4)?,
        feedback,
        graded_by: r.get(9)?,
        graded_at: time(r.get(10)?),
    })
}

#[cfg(test)]
mod tests;
