//! The course records ([`CourseRecords`]) in Blackboard's PostgreSQL database: courses, staff
//! and class lists, extensions, grades, releases and the staff log. A change and its log entry
//! are one transaction, under the Blackboard advisory lock like a batch of submissions.

use super::board::{get, put_assignment_in, sha256, student, PgBoard, BOARD_LOCK};
use super::{secs, time, unsigned, Conn};
use crate::store::{
    Change, Course, CourseRecords, Extension, FeedbackFile, Grade, LogEntry, StoreError,
    StoredSubmission,
};
use handin_core::pki::{PersonId, StudentId};
use handin_core::rules::course::Membership;
use postgres::types::ToSql;
use postgres::{Client, Row};
use std::time::SystemTime;

const GRADE_COLUMNS: &str = "g.course, g.assignment, g.student_id, g.score, g.comment, \
    g.feedback_id, g.feedback_name, g.feedback_size, g.feedback_sha256, g.graded_by, g.graded_at";

fn apply(client: &mut Client, change: &Change) -> Result<(), postgres::Error> {
    match change {
        Change::PutCourse(c) => {
            client.execute(
                "INSERT INTO courses (course, title) VALUES ($1, $2)
                 ON CONFLICT (course) DO UPDATE SET title = excluded.title",
                &[&c.course, &c.title],
            )?;
        }
        Change::AddStaff { course, people } => {
            let st = client.prepare(
                "INSERT INTO course_staff (course, person) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )?;
            for p in people {
                client.execute(&st, &[course, &p.as_str()])?;
            }
        }
        Change::AddStudents { course, students } => {
            let st = client.prepare(
                "INSERT INTO class_list (course, student_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )?;
            for s in students {
                client.execute(&st, &[course, &s.as_str()])?;
            }
        }
        Change::PutAssignment(a) => put_assignment_in(client, a)?,
        Change::Extend(e) => {
            client.execute(
                "INSERT INTO extensions (course, assignment, student_id, due)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (course, assignment, student_id) DO UPDATE SET due = excluded.due",
                &[&e.course, &e.assignment, &e.student.as_str(), &secs(e.due)],
            )?;
        }
        Change::Grade(g) => {
            let f = g.feedback.as_ref();
            let size = f.map(|f| i64::try_from(f.size).unwrap_or(i64::MAX));
            client.execute(
                "INSERT INTO grades (course, assignment, student_id, score, comment, feedback_id,
                     feedback_name, feedback_size, feedback_sha256, graded_by, graded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (course, assignment, student_id) DO UPDATE SET
                     score = excluded.score, comment = excluded.comment,
                     feedback_id = excluded.feedback_id, feedback_name = excluded.feedback_name,
                     feedback_size = excluded.feedback_size,
                     feedback_sha256 = excluded.feedback_sha256,
                     graded_by = excluded.graded_by, graded_at = excluded.graded_at",
                &[
                    &g.course,
                    &g.assignment,
                    &g.student.as_str(),
                    &g.score,
                    &g.comment,
                    &f.map(|f| &f.id),
                    &f.map(|f| &f.file_name),
                    &size,
                    &f.map(|f| &f.sha256[..]),
                    &g.graded_by,
                    &secs(g.graded_at),
                ],
            )?;
        }
        Change::Release {
            course,
            assignment,
            at,
        } => {
            client.execute(
                "INSERT INTO releases (course, assignment, released_at) VALUES ($1, $2, $3)
                 ON CONFLICT (course, assignment) DO NOTHING",
                &[course, assignment, &secs(*at)],
            )?;
        }
    }
    Ok(())
}

impl PgBoard {
    /// Rows of `sql`, made into `T`s.
    fn rows<T>(
        &self,
        sql: &str,
        args: &[&(dyn ToSql + Sync)],
        row: impl Fn(&Row) -> Result<T, StoreError>,
        what: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut conn = self.pool.get()?;
        let rows = conn.client().query(sql, args);
        rows.map_err(conn.failed(what))?.iter().map(row).collect()
    }
}

impl CourseRecords for PgBoard {
    fn change(&self, change: &Change, log: &LogEntry) -> Result<(), StoreError> {
        let what = format!("recording {} in course {}", log.action, log.course);
        let mut conn = self.pool.get()?;
        conn.transaction(what, Some(BOARD_LOCK), |c| {
            apply(c, change)?;
            c.execute(
                "INSERT INTO staff_log (at, course, actor, action, student_id, detail)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &secs(log.at),
                    &log.course,
                    &log.actor,
                    &log.action,
                    &log.student,
                    &log.detail,
                ],
            )?;
            Ok(())
        })
    }

    fn course(&self, course: &str) -> Result<Option<Course>, StoreError> {
        let found = self.rows(
            "SELECT course, title FROM courses WHERE course = $1",
            &[&course],
            row_to_course,
            "reading a course",
        )?;
        Ok(found.into_iter().next())
    }

    fn courses(&self) -> Result<Vec<Course>, StoreError> {
        self.rows(
            "SELECT course, title FROM courses ORDER BY course",
            &[],
            row_to_course,
            "listing courses",
        )
    }

    fn courses_of(&self, person: &PersonId) -> Result<Vec<Course>, StoreError> {
        self.rows(
            "SELECT c.course, c.title FROM courses c
             JOIN course_staff s ON s.course = c.course WHERE s.person = $1 ORDER BY c.course",
            &[&person.as_str()],
            row_to_course,
            "listing a person's courses",
        )
    }

    fn membership(&self, person: &PersonId, course: &str) -> Result<Membership, StoreError> {
        let rows = self.rows(
            "SELECT
                 EXISTS (SELECT 1 FROM courses WHERE course = $1),
                 EXISTS (SELECT 1 FROM course_staff WHERE course = $1 AND person = $2),
                 EXISTS (SELECT 1 FROM class_list WHERE course = $1),
                 EXISTS (SELECT 1 FROM class_list WHERE course = $1 AND student_id = $2)",
            &[&course, &person.as_str()],
            |r| {
                Ok(Membership {
                    course_exists: get(r, 0)?,
                    staff: get(r, 1)?,
                    has_class_list: get(r, 2)?,
                    on_class_list: get(r, 3)?,
                })
            },
            "reading a course's lists",
        )?;
        rows.into_iter()
            .next()
            .ok_or_else(|| StoreError::BadDatabase("a membership query returned no row".into()))
    }

    fn staff(&self, course: &str) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT person FROM course_staff WHERE course = $1 ORDER BY person",
            &[&course],
            |r| get(r, 0),
            "reading a staff list",
        )
    }

    fn class_list(&self, course: &str) -> Result<Vec<StudentId>, StoreError> {
        self.rows(
            "SELECT student_id FROM class_list WHERE course = $1 ORDER BY student_id",
            &[&course],
            |r| student(get(r, 0)?),
            "reading a class list",
        )
    }

    fn extension(
        &self,
        course: &str,
        assignment: &str,
        student: &StudentId,
    ) -> Result<Option<SystemTime>, StoreError> {
        extension_in(&mut self.pool.get()?, course, assignment, student)
    }

    fn extensions(&self, course: &str, assignment: &str) -> Result<Vec<Extension>, StoreError> {
        self.rows(
            "SELECT course, assignment, student_id, due FROM extensions
             WHERE course = $1 AND assignment = $2 ORDER BY student_id",
            &[&course, &assignment],
            |r| {
                Ok(Extension {
                    course: get(r, 0)?,
                    assignment: get(r, 1)?,
                    student: student(get(r, 2)?)?,
                    due: time(get(r, 3)?),
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
            "WHERE course = $1 AND assignment = $2",
            &[&course, &assignment],
        )
    }

    fn grades(&self, course: &str, assignment: &str) -> Result<Vec<Grade>, StoreError> {
        self.rows(
            &format!(
                "SELECT {GRADE_COLUMNS} FROM grades g
                 WHERE g.course = $1 AND g.assignment = $2 ORDER BY g.student_id"
            ),
            &[&course, &assignment],
            row_to_grade,
            "reading grades",
        )
    }

    fn released(&self, course: &str, assignment: &str) -> Result<Option<SystemTime>, StoreError> {
        let found = self.rows(
            "SELECT released_at FROM releases WHERE course = $1 AND assignment = $2",
            &[&course, &assignment],
            |r| Ok(time(get(r, 0)?)),
            "reading a release",
        )?;
        Ok(found.into_iter().next())
    }

    fn grades_of(
        &self,
        student: &StudentId,
        course: Option<&str>,
    ) -> Result<Vec<(Grade, Option<SystemTime>)>, StoreError> {
        self.rows(
            &format!(
                "SELECT {GRADE_COLUMNS}, r.released_at FROM grades g
                 LEFT JOIN releases r ON r.course = g.course AND r.assignment = g.assignment
                 WHERE g.student_id = $1 AND ($2::TEXT IS NULL OR g.course = $2)
                 ORDER BY g.course, g.assignment"
            ),
            &[&student.as_str(), &course],
            |r| {
                let released: Option<i64> = get(r, 11)?;
                Ok((row_to_grade(r)?, released.map(time)))
            },
            "reading a student's grades",
        )
    }

    fn log(&self, course: &str) -> Result<Vec<LogEntry>, StoreError> {
        self.rows(
            "SELECT at, course, actor, action, student_id, detail FROM staff_log
             WHERE course = $1 ORDER BY seq",
            &[&course],
            |r| {
                Ok(LogEntry {
                    at: time(get(r, 0)?),
                    course: get(r, 1)?,
                    actor: get(r, 2)?,
                    action: get(r, 3)?,
                    student: get(r, 4)?,
                    detail: get(r, 5)?,
                })
            },
            "reading the staff log",
        )
    }
}

/// One student's extension, on `conn` (inside a transaction or not).
pub(super) fn extension_in(
    conn: &mut Conn<'_>,
    course: &str,
    assignment: &str,
    student: &StudentId,
) -> Result<Option<SystemTime>, StoreError> {
    let row = conn.client().query_opt(
        "SELECT due FROM extensions WHERE course = $1 AND assignment = $2 AND student_id = $3",
        &[&course, &assignment, &student.as_str()],
    );
    let row = row.map_err(conn.failed("reading an extension"))?;
    Ok(row.as_ref().map(|r| get(r, 0)).transpose()?.map(time))
}

fn row_to_course(r: &Row) -> Result<Course, StoreError> {
    Ok(Course {
        course: get(r, 0)?,
        title: get(r, 1)?,
    })
}

fn row_to_grade(r: &Row) -> Result<Grade, StoreError> {
    let id: Option<String> = get(r, 5)?;
    let feedback = match id {
        None => None,
        Some(id) => Some(FeedbackFile {
            id,
            file_name: get(r, 6)?,
            size: unsigned(get(r, 7)?, "a feedback size")?,
            sha256: sha256(get(r, 8)?)?,
        }),
    };
    Ok(Grade {
        course: get(r, 0)?,
        assignment: get(r, 1)?,
        student: student(get(r, 2)?)?,
        score: get(r, 3)?,
        comment: get(r, 4)?,
        feedback,
        graded_by: get(r, 9)?,
        graded_at: time(get(r, 10)?),
    })
}
