//! What Blackboard keeps about courses beyond the submissions: the course itself, its staff
//! list and class list, per-student extensions, grades and feedback files, grade releases, and
//! the log of every staff action. Each change is recorded together with its log entry, in one
//! transaction ([`CourseRecords::change`]).

use super::{Assignment, StoreError, StoredSubmission};
use handin_core::pki::{PersonId, StudentId};
use handin_core::rules::course::Membership;
use std::time::SystemTime;

/// A course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Course {
    /// Course code.
    pub course: String,
    /// Its title (may be empty).
    pub title: String,
}

/// One student's extension on one assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// The student granted it.
    pub student: StudentId,
    /// The student's due time (to the second).
    pub due: SystemTime,
}

/// A feedback file returned with a grade: its bytes are the blob named by `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackFile {
    /// Blob id.
    pub id: String,
    /// File name as the grader gave it.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
}

/// One student's grade on one assignment (the latest one given replaces earlier ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grade {
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// The student graded.
    pub student: StudentId,
    /// The score, a decimal number as text ([`handin_core::rules::grading::check_score`]).
    pub score: String,
    /// The grader's comment.
    pub comment: String,
    /// A feedback file, if one was returned.
    pub feedback: Option<FeedbackFile>,
    /// Who graded (staff login or TA's student ID).
    pub graded_by: String,
    /// When (to the second).
    pub graded_at: SystemTime,
}

/// A grade a student may see, with when its assignment's grades were released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedGrade {
    /// The grade.
    pub grade: Grade,
    /// When the grades of its assignment were released.
    pub released_at: SystemTime,
}

/// One recorded action: who did what, when, to which student.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// When (to the second).
    pub at: SystemTime,
    /// The course it concerns.
    pub course: String,
    /// Who: a staff login, a TA's student ID, or `operator` for the server's command line.
    pub actor: String,
    /// What, as one word (`assignment`, `close`, `reopen`, `extend`, `grade`, `release`,
    /// `course`, `staff`, `students`).
    pub action: String,
    /// The student concerned, if one is.
    pub student: Option<String>,
    /// The details, for a person reading the log.
    pub detail: String,
}

/// A change to a course's records, made together with its [`LogEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Adds a course, or changes its title.
    PutCourse(Course),
    /// Adds people to a course's staff list (already listed ones stay).
    AddStaff {
        /// Course code.
        course: String,
        /// Staff logins or TAs' student IDs.
        people: Vec<PersonId>,
    },
    /// Adds students to a course's class list (already listed ones stay).
    AddStudents {
        /// Course code.
        course: String,
        /// The students.
        students: Vec<StudentId>,
    },
    /// Adds an assignment or changes its times, size limit and state.
    PutAssignment(Assignment),
    /// Grants (or changes) one student's extension.
    Extend(Extension),
    /// Records a grade (replacing the student's earlier one for the assignment).
    Grade(Grade),
    /// Releases an assignment's grades to its students.
    Release {
        /// Course code.
        course: String,
        /// Assignment name.
        assignment: String,
        /// When.
        at: SystemTime,
    },
}

/// The course records.
pub trait CourseRecords {
    /// Makes a change and records its log entry, both or neither.
    fn change(&self, change: &Change, log: &LogEntry) -> Result<(), StoreError>;
    /// One course, if it exists.
    fn course(&self, course: &str) -> Result<Option<Course>, StoreError>;
    /// Every course, by code.
    fn courses(&self) -> Result<Vec<Course>, StoreError>;
    /// The courses whose staff list holds `person`, by code.
    fn courses_of(&self, person: &PersonId) -> Result<Vec<Course>, StoreError>;
    /// What the records say about `person` and `course`.
    fn membership(&self, person: &PersonId, course: &str) -> Result<Membership, StoreError>;
    /// A course's staff list, sorted.
    fn staff(&self, course: &str) -> Result<Vec<String>, StoreError>;
    /// A course's class list, sorted.
    fn class_list(&self, course: &str) -> Result<Vec<StudentId>, StoreError>;
    /// One student's extension on one assignment, if granted.
    fn extension(
        &self,
        course: &str,
        assignment: &str,
        student: &StudentId,
    ) -> Result<Option<SystemTime>, StoreError>;
    /// Every extension on one assignment.
    fn extensions(&self, course: &str, assignment: &str) -> Result<Vec<Extension>, StoreError>;
    /// Every submission to one assignment, oldest first.
    fn submissions_to(
        &self,
        course: &str,
        assignment: &str,
    ) -> Result<Vec<StoredSubmission>, StoreError>;
    /// Every grade of one assignment.
    fn grades(&self, course: &str, assignment: &str) -> Result<Vec<Grade>, StoreError>;
    /// When an assignment's grades were released, if they were.
    fn released(&self, course: &str, assignment: &str) -> Result<Option<SystemTime>, StoreError>;
    /// A student's grades, optionally of one course, each with when its assignment's grades
    /// were released (if they were). Whether the student may see one is the rules' decision
    /// ([`handin_core::rules::grading::visible_to_student`]).
    fn grades_of(
        &self,
        student: &StudentId,
        course: Option<&str>,
    ) -> Result<Vec<(Grade, Option<SystemTime>)>, StoreError>;
    /// A course's log, oldest first.
    fn log(&self, course: &str) -> Result<Vec<LogEntry>, StoreError>;
}
