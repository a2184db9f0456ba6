//! The requests a staff server hands its application, as the core checked them.

use crate::msg::{AssignmentSpec, GradeSpec};
use crate::pki::StudentId;

/// A well-formed staff request, for the application to judge and answer. Times are seconds
/// since the Unix epoch.
///
/// The core has checked what needs no records: names (course, assignment, file name,
/// submission id), student IDs, scores, comments, and times. Whether the caller may make the
/// request is the application's decision: every request but `Courses` and `Fetch` names its
/// course ([`course`](Self::course)); for `Fetch` the course is the submission's.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffRequest {
    /// The courses the caller is staff of: answer with
    /// [`send_course`](super::StaffServer::send_course) for each, then
    /// [`finish_rows`](super::StaffServer::finish_rows).
    Courses,
    /// Add an assignment or change its terms (checked by [`super::check_assignment`] at the
    /// time of the request): [`done`](super::StaffServer::done) or [`refuse`](super::StaffServer::refuse).
    PutAssignment(AssignmentSpec),
    /// Close (`open: false`: refuse further submissions) or reopen: `done` or `refuse`.
    SetOpen {
        /// Course code.
        course: String,
        /// Assignment name.
        assignment: String,
        /// Open or closed.
        open: bool,
    },
    /// One row per student on the class list and anyone else who submitted:
    /// [`send_status`](super::StaffServer::send_status) for each, then `finish_rows`.
    Status {
        /// Course code.
        course: String,
        /// Assignment name.
        assignment: String,
    },
    /// One submission with its receipt: [`start_fetch`](super::StaffServer::start_fetch),
    /// [`send_fetch_data`](super::StaffServer::send_fetch_data),
    /// [`finish_fetch`](super::StaffServer::finish_fetch); or `refuse` (`NotFound`, or `NotStaff`
    /// where the caller does not teach the submission's course).
    Fetch {
        /// The submission's identifier (well-formed).
        id: String,
    },
    /// Give one student a due time of their own: `done` or `refuse`.
    Extend {
        /// Course code.
        course: String,
        /// Assignment name.
        assignment: String,
        /// The student.
        student: StudentId,
        /// The student's due time.
        due: u64,
    },
    /// Grade one student. Without a feedback file: `done` or `refuse`. With one:
    /// [`accept_feedback`](super::StaffServer::accept_feedback) (the bytes then arrive as
    /// `FeedbackData` and `FeedbackComplete`, and the grade is answered with `done` or
    /// `refuse` after that) or `refuse`.
    Grade(GradeSpec),
    /// Release an assignment's grades to its students: `done` or `refuse`.
    Release {
        /// Course code.
        course: String,
        /// Assignment name.
        assignment: String,
    },
    /// The course's record of staff actions: [`send_log`](super::StaffServer::send_log) for each
    /// row, then `finish_rows`.
    Log {
        /// Course code.
        course: String,
    },
}

impl StaffRequest {
    /// The course the request is about, if it names one (all but `Courses` and `Fetch`).
    pub fn course(&self) -> Option<&str> {
        match self {
            Self::Courses | Self::Fetch { .. } => None,
            Self::PutAssignment(a) => Some(&a.course),
            Self::Grade(g) => Some(&g.course),
            Self::SetOpen { course, .. }
            | Self::Status { course, .. }
            | Self::Extend { course, .. }
            | Self::Release { course, .. }
            | Self::Log { course } => Some(course),
        }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Courses => "Courses",
            Self::PutAssignment(_) => "PutAssignment",
            Self::SetOpen { .. } => "SetOpen",
            Self::Status { .. } => "Status",
            Self::Fetch { .. } => "StaffFetch",
            Self::Extend { .. } => "Extend",
            Self::Grade(_) => "Grade",
            Self::Release { .. } => "Release",
            Self::Log { .. } => "Log",
        }
    }
}
