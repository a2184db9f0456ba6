//! A course as its staff and the server's operator run it: the course and its lists,
//! assignments (times, cut-off, closing), extensions, grades and releases, the status table and
//! the log. Every change is checked here (names, times, who may do it) and recorded with its
//! log entry; the rules are the core's ([`handin_core::rules`]).

use super::{Board, BoardError};
use crate::store::{
    Assignment, Change, Course, Extension, Grade, LogEntry, ReleasedGrade, StoredSubmission,
};
use handin_core::names::check_label;
use handin_core::pki::{rfc3339, unix_secs, PersonId, StudentId};
use handin_core::rules::course::{check_staff, Membership};
use handin_core::rules::current::{current, standing, Standing};
use handin_core::rules::{grading, window};
use handin_core::{Refusal, RefusalCode};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Who makes a change: a member of a course's staff, over the network, or the server's operator
/// at its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The operator (`blackboard` commands on the server).
    Operator,
    /// A person on the course's staff list (checked for every change).
    Staff(PersonId),
}

impl Actor {
    fn name(&self) -> &str {
        match self {
            Self::Operator => "operator",
            Self::Staff(p) => p.as_str(),
        }
    }
}

/// An assignment's settings as staff give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentSpec {
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// Due time.
    pub due: SystemTime,
    /// Largest file accepted, in bytes.
    pub max_size: u64,
    /// Cut-off time, if any.
    pub cutoff: Option<SystemTime>,
    /// Grace for commitments made before the due time.
    pub grace: Duration,
}

/// One row of an assignment's status table: a student on the class list, or anyone who
/// submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentStatus {
    /// The student.
    pub student: StudentId,
    /// On the course's class list.
    pub on_class_list: bool,
    /// The due time in force for this student.
    pub due: SystemTime,
    /// The due time is an extension.
    pub extended: bool,
    /// Nothing yet, on time or late, judged on the current submission.
    pub standing: Standing,
    /// The current submission: the latest version of each file name.
    pub files: Vec<StoredSubmission>,
    /// When the student first committed to a file's bytes for the assignment, if they did.
    pub committed_at: Option<SystemTime>,
}

fn invalid(m: impl Into<String>) -> BoardError {
    BoardError::Invalid(m.into())
}

fn secs_time(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(s)
}

fn to_second(t: SystemTime) -> SystemTime {
    secs_time(unix_secs(t))
}

/// The log entry of one change.
fn entry(
    actor: &Actor,
    course: &str,
    action: &str,
    student: Option<&StudentId>,
    detail: String,
    now: SystemTime,
) -> LogEntry {
    LogEntry {
        at: to_second(now),
        course: course.to_owned(),
        actor: actor.name().to_owned(),
        action: action.to_owned(),
        student: student.map(|s| s.as_str().to_owned()),
        detail,
    }
}

impl Board {
    /// Whether `person` may act as staff of `course` ([`check_staff`]).
    pub fn authorize(&self, person: &PersonId, course: &str) -> Result<(), BoardError> {
        let m = self.records().membership(person, course)?;
        check_staff(person, course, m).map_err(BoardError::Refused)
    }

    /// What the records say about `person` and `course`.
    pub fn membership(&self, person: &PersonId, course: &str) -> Result<Membership, BoardError> {
        Ok(self.records().membership(person, course)?)
    }

    fn allowed(&self, actor: &Actor, course: &str) -> Result<(), BoardError> {
        match actor {
            Actor::Operator => Ok(()),
            Actor::Staff(p) => self.authorize(p, course),
        }
    }

    fn record(&self, change: Change, log: LogEntry) -> Result<(), BoardError> {
        Ok(self.records().change(&change, &log)?)
    }

    fn existing_course(&self, course: &str) -> Result<Course, BoardError> {
        check_label("course", course).map_err(BoardError::InvalidName)?;
        self.records().course(course)?.ok_or_else(|| {
            invalid(format!(
                "there is no course {course}; add it first with `blackboard course add {course}`"
            ))
        })
    }

    fn existing_assignment(
        &self,
        course: &str,
        assignment: &str,
    ) -> Result<Assignment, BoardError> {
        self.records()
            .assignment(course, assignment)?
            .ok_or_else(|| {
                BoardError::Refused(Refusal::new(
                    RefusalCode::NoSuchAssignment,
                    format!("there is no assignment {assignment} in course {course}"),
                ))
            })
    }

    /// Adds a course (operator), or changes its title.
    pub fn add_course(&self, course: &str, title: &str, now: SystemTime) -> Result<(), BoardError> {
        check_label("course", course).map_err(BoardError::InvalidName)?;
        grading::check_comment(title)
            .map_err(|_| invalid("the title holds control characters or is too long"))?;
        let detail = format!("course {course} {title:?}");
        let change = Change::PutCourse(Course {
            course: course.to_owned(),
            title: title.to_owned(),
        });
        self.record(
            change,
            entry(&Actor::Operator, course, "course", None, detail, now),
        )
    }

    /// Every course (operator).
    pub fn courses(&self) -> Result<Vec<Course>, BoardError> {
        Ok(self.records().courses()?)
    }

    /// The courses `person` is staff of.
    pub fn courses_of(&self, person: &PersonId) -> Result<Vec<Course>, BoardError> {
        Ok(self.records().courses_of(person)?)
    }

    /// Adds people to a course's staff list (operator).
    pub fn add_staff(
        &self,
        course: &str,
        people: &[PersonId],
        now: SystemTime,
    ) -> Result<(), BoardError> {
        self.existing_course(course)?;
        let names: Vec<&str> = people.iter().map(|p| p.as_str()).collect();
        let detail = format!("staff added: {}", names.join(" "));
        let change = Change::AddStaff {
            course: course.to_owned(),
            people: people.to_vec(),
        };
        self.record(
            change,
            entry(&Actor::Operator, course, "staff", None, detail, now),
        )
    }

    /// Adds students to a course's class list (operator).
    pub fn add_students(
        &self,
        course: &str,
        students: &[StudentId],
        now: SystemTime,
    ) -> Result<(), BoardError> {
        self.existing_course(course)?;
        let detail = format!("{} student(s) added to the class list", students.len());
        let change = Change::AddStudents {
            course: course.to_owned(),
            students: students.to_vec(),
        };
        self.record(
            change,
            entry(&Actor::Operator, course, "students", None, detail, now),
        )
    }

    /// A course's staff list and class list.
    pub fn lists(&self, course: &str) -> Result<(Vec<String>, Vec<StudentId>), BoardError> {
        self.existing_course(course)?;
        Ok((
            self.records().staff(course)?,
            self.records().class_list(course)?,
        ))
    }

    /// Adds an assignment or changes its settings (an existing one stays open or closed as it
    /// was). A due time in the past is refused unless `allow_past`; a cut-off before the due
    /// time always is.
    pub fn put_assignment(
        &self,
        spec: &AssignmentSpec,
        allow_past: bool,
        actor: &Actor,
        now: SystemTime,
    ) -> Result<(), BoardError> {
        check_label("course", &spec.course).map_err(BoardError::InvalidName)?;
        check_label("assignment", &spec.assignment).map_err(BoardError::InvalidName)?;
        self.allowed(actor, &spec.course)?;
        if spec.max_size == 0 || i64::try_from(spec.max_size).is_err() {
            return Err(invalid(format!(
                "the maximum size {} is out of range; give at least 1 byte",
                spec.max_size
            )));
        }
        window::check_new_times(
            unix_secs(now),
            unix_secs(spec.due),
            spec.cutoff.map(unix_secs),
            allow_past,
        )
        .map_err(BoardError::Refused)?;
        let open = self
            .records()
            .assignment(&spec.course, &spec.assignment)?
            .is_none_or(|a| a.open);
        let a = Assignment {
            course: spec.course.clone(),
            assignment: spec.assignment.clone(),
            due: to_second(spec.due),
            max_size: spec.max_size,
            cutoff: spec.cutoff.map(to_second),
            grace: Duration::from_secs(spec.grace.as_secs()),
            open,
        };
        let detail = format!(
            "{}: due {}, at most {}, cut-off {}, grace {} s",
            a.assignment,
            rfc3339(a.due),
            handin_core::units::size_exact(a.max_size),
            a.cutoff.map_or_else(|| "none".to_owned(), rfc3339),
            a.grace.as_secs()
        );
        self.record(
            Change::PutAssignment(a.clone()),
            entry(actor, &a.course, "assignment", None, detail, now),
        )
    }

    /// Closes an assignment to submissions (`open` false) or reopens it.
    pub fn set_open(
        &self,
        course: &str,
        assignment: &str,
        open: bool,
        actor: &Actor,
        now: SystemTime,
    ) -> Result<(), BoardError> {
        self.allowed(actor, course)?;
        let mut a = self.existing_assignment(course, assignment)?;
        a.open = open;
        let action = if open { "reopen" } else { "close" };
        let detail = format!("{assignment} {}", if open { "reopened" } else { "closed" });
        self.record(
            Change::PutAssignment(a),
            entry(actor, course, action, None, detail, now),
        )
    }

    /// Gives one student their own due time for one assignment (replacing an earlier one).
    pub fn extend(
        &self,
        course: &str,
        assignment: &str,
        student: &StudentId,
        due: SystemTime,
        actor: &Actor,
        now: SystemTime,
    ) -> Result<(), BoardError> {
        self.allowed(actor, course)?;
        let a = self.existing_assignment(course, assignment)?;
        let due = to_second(due);
        let detail = format!(
            "{assignment}: due {} for {student} (the assignment's: {})",
            rfc3339(due),
            rfc3339(a.due)
        );
        let change = Change::Extend(Extension {
            course: course.to_owned(),
            assignment: assignment.to_owned(),
            student: student.clone(),
            due,
        });
        self.record(
            change,
            entry(actor, course, "extend", Some(student), detail, now),
        )
    }

    /// Records a grade (its feedback file, if any, already stored as a blob).
    pub fn grade(&self, grade: &Grade, actor: &Actor, now: SystemTime) -> Result<(), BoardError> {
        self.allowed(actor, &grade.course)?;
        self.existing_assignment(&grade.course, &grade.assignment)?;
        grading::check_score(&grade.score).map_err(BoardError::Refused)?;
        grading::check_comment(&grade.comment).map_err(BoardError::Refused)?;
        let detail = format!(
            "{}: score {}{}",
            grade.assignment,
            grade.score,
            grade
                .feedback
                .as_ref()
                .map_or_else(String::new, |f| format!(
                    ", feedback file {:?}",
                    f.file_name
                ))
        );
        let mut g = grade.clone();
        g.graded_at = to_second(now);
        g.graded_by = actor.name().to_owned();
        let student = g.student.clone();
        self.record(
            Change::Grade(g),
            entry(actor, &grade.course, "grade", Some(&student), detail, now),
        )
    }

    /// Releases an assignment's grades to its students (once; a second release changes nothing
    /// but is logged).
    pub fn release(
        &self,
        course: &str,
        assignment: &str,
        actor: &Actor,
        now: SystemTime,
    ) -> Result<(), BoardError> {
        self.allowed(actor, course)?;
        self.existing_assignment(course, assignment)?;
        let n = self.records().grades(course, assignment)?.len();
        let detail = format!("{assignment}: {n} grade(s) released");
        let change = Change::Release {
            course: course.to_owned(),
            assignment: assignment.to_owned(),
            at: to_second(now),
        };
        self.record(change, entry(actor, course, "release", None, detail, now))
    }

    /// The status table of an assignment: one row per student on the class list and per
    /// anyone else who submitted, by student ID.
    pub fn status(&self, course: &str, assignment: &str) -> Result<Vec<StudentStatus>, BoardError> {
        let a = self.existing_assignment(course, assignment)?;
        let win = a.window();
        let listed = self.records().class_list(course)?;
        let extensions: BTreeMap<StudentId, u64> = self
            .records()
            .extensions(course, assignment)?
            .into_iter()
            .map(|e| (e.student, unix_secs(e.due)))
            .collect();
        let commitments = self.records().commitments(course, assignment)?;
        let mut committed: BTreeMap<StudentId, SystemTime> = BTreeMap::new();
        for c in &commitments {
            let first = committed.entry(c.student.clone()).or_insert(c.committed_at);
            *first = (*first).min(c.committed_at);
        }
        // The earliest commitment to a file's very bytes, whether or not it decided the file's
        // lateness when it was received (the due time may have moved since).
        let earliest = |f: &StoredSubmission| {
            commitments
                .iter()
                .filter(|c| c.student == f.student && c.size == f.size && c.sha256 == f.sha256)
                .map(|c| unix_secs(c.committed_at))
                .min()
        };
        let grace = a.grace.as_secs();
        let mut by_student: BTreeMap<StudentId, Vec<StoredSubmission>> =
            listed.iter().map(|s| (s.clone(), Vec::new())).collect();
        for s in self.records().submissions_to(course, assignment)? {
            by_student.entry(s.student.clone()).or_default().push(s);
        }
        Ok(by_student
            .into_iter()
            .map(|(student, versions)| {
                let ext = extensions.get(&student).copied();
                let deadline = win.deadline(ext);
                // Judged against the due time in force now (an extension granted later
                // counts), as the standing is; the receipt keeps what was judged at the time.
                let files: Vec<StoredSubmission> = current(&versions)
                    .into_iter()
                    .map(|f| StoredSubmission {
                        late: deadline.is_late_committed(
                            unix_secs(f.received_at),
                            earliest(f),
                            grace,
                        ),
                        committed_at: earliest(f)
                            .filter(|&c| {
                                deadline.saved_by(unix_secs(f.received_at), Some(c), grace)
                            })
                            .map(secs_time),
                        ..f.clone()
                    })
                    .collect();
                let refs: Vec<&StoredSubmission> = files.iter().collect();
                StudentStatus {
                    on_class_list: listed.binary_search(&student).is_ok(),
                    due: secs_time(deadline.due()),
                    extended: ext.is_some(),
                    standing: standing(&refs, deadline, grace),
                    files,
                    committed_at: committed.get(&student).copied(),
                    student,
                }
            })
            .collect())
    }

    /// The submission with this id, whoever's it is: for its course's staff, once the caller
    /// checked they are ([`Board::authorize`] on its course).
    pub fn find_any(&self, id: &str) -> Result<Option<StoredSubmission>, BoardError> {
        if !crate::store::blobs::is_submission_id(id) {
            return Ok(None);
        }
        Ok(self.records().find(id)?)
    }

    /// A course's log, oldest first.
    pub fn log(&self, course: &str) -> Result<Vec<LogEntry>, BoardError> {
        Ok(self.records().log(course)?)
    }

    /// The grades `student` may see ([`grading::visible_to_student`]), optionally of one
    /// course, by course and assignment.
    pub fn released_grades(
        &self,
        student: &StudentId,
        course: Option<&str>,
        now: SystemTime,
    ) -> Result<Vec<ReleasedGrade>, BoardError> {
        let grades = self.records().grades_of(student, course)?;
        Ok(grades
            .into_iter()
            .filter(|(g, _)| g.student == *student)
            .filter_map(|(grade, released)| {
                let visible = grading::visible_to_student(released.map(unix_secs), unix_secs(now));
                match (visible, released) {
                    (true, Some(released_at)) => Some(ReleasedGrade { grade, released_at }),
                    _ => None,
                }
            })
            .collect())
    }

    /// The feedback file `student` may fetch for one assignment: its record, if the grade
    /// has one and is visible to them.
    pub fn feedback(
        &self,
        student: &StudentId,
        course: &str,
        assignment: &str,
        now: SystemTime,
    ) -> Result<Option<crate::store::FeedbackFile>, BoardError> {
        Ok(self
            .released_grades(student, Some(course), now)?
            .into_iter()
            .find(|g| g.grade.assignment == assignment)
            .and_then(|g| g.grade.feedback))
    }
}

#[cfg(test)]
mod tests;
