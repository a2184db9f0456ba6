//! The messages of the staff protocol (`handin-staff/1`), tags 0x40 to 0x5f. They travel as
//! [`Message::Staff`](super::Message::Staff); `Welcome`, `Refused`, `Error`, `Ready`, `Data`
//! and `DataEnd` are shared with the other protocols.

use super::codec::{err, put_bytes, put_entry, put_opt_str, put_str, Reader};
use super::grades::put_opt_feedback;
use super::{DecodeError, EncodeError, FeedbackFile, SubmissionEntry};
use crate::pki::StudentId;
use bytes::{BufMut, Bytes, BytesMut};

/// Message type tags of the staff protocol.
pub mod tag {
    /// The courses the caller is staff of.
    pub const COURSES: u8 = 0x40;
    /// Add an assignment, or change its terms.
    pub const PUT_ASSIGNMENT: u8 = 0x41;
    /// Close or reopen an assignment.
    pub const SET_OPEN: u8 = 0x42;
    /// One row per student of an assignment.
    pub const STATUS: u8 = 0x43;
    /// One submission of a student, with its receipt.
    pub const STAFF_FETCH: u8 = 0x44;
    /// A per-student due time.
    pub const EXTEND: u8 = 0x45;
    /// A score, a comment and optionally a feedback file for one student.
    pub const GRADE: u8 = 0x46;
    /// Make an assignment's grades visible to its students.
    pub const RELEASE: u8 = 0x47;
    /// A course's record of staff actions.
    pub const LOG: u8 = 0x48;
    /// One course of the caller.
    pub const COURSE_ROW: u8 = 0x50;
    /// One student's standing on an assignment.
    pub const STATUS_ROW: u8 = 0x51;
    /// One recorded staff action.
    pub const LOG_ROW: u8 = 0x52;
    /// End of `CourseRow`, `StatusRow` or `LogRow` rows.
    pub const ROWS_END: u8 = 0x53;
    /// A change was made (or a feedback file stored).
    pub const DONE: u8 = 0x54;
    /// A fetched submission's description and receipt; `Data` frames and a `DataEnd` follow.
    pub const STAFF_FETCH_BEGIN: u8 = 0x55;
}

/// An assignment's terms, as staff set them. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentSpec {
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// The due time: a submission received after this second is late.
    pub due: u64,
    /// The largest file accepted, in bytes (at least 1).
    pub max_size: u64,
    /// The cut-off time, if any: after this second submissions are refused (`Closed`). Not
    /// before `due`.
    pub cutoff: Option<u64>,
    /// Grace period in seconds, kept for commit-before-deadline.
    pub grace_secs: u64,
    /// Accept a due time (or cut-off) in the past; otherwise the server refuses it with
    /// `DueInPast`.
    pub allow_past: bool,
}

/// A grade for one student, as staff give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradeSpec {
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// The student graded.
    pub student: StudentId,
    /// A decimal number, at most 16 characters (see [`crate::staff::check_score`]).
    pub score: String,
    /// At most 4,000 characters, no control characters but newline and tab (see
    /// [`crate::staff::check_comment`]).
    pub comment: String,
    /// A feedback file to upload after the server's `Ready`, if any.
    pub feedback: Option<FeedbackFile>,
}

/// One course the caller is staff of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseRow {
    /// Course code.
    pub course: String,
    /// Its title (may be empty).
    pub title: String,
}

/// Where a student stands on an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubmissionState {
    /// Nothing submitted yet (wire 0).
    Nothing,
    /// Submitted, the current submission on time (wire 1).
    OnTime,
    /// Submitted, the current submission late (wire 2).
    Late,
}

impl SubmissionState {
    /// The state's value on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Nothing => 0,
            Self::OnTime => 1,
            Self::Late => 2,
        }
    }

    /// The state for a value read from the wire.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Nothing),
            1 => Some(Self::OnTime),
            2 => Some(Self::Late),
            _ => None,
        }
    }
}

/// One student's standing on one assignment: every student on the class list, and anyone
/// else who submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    /// The student.
    pub student_id: String,
    /// Whether the student is on the course's class list.
    pub on_class_list: bool,
    /// The due time in force for this student (an extension's, or the assignment's), seconds
    /// since the Unix epoch.
    pub due_at: u64,
    /// Whether the student was granted an extension.
    pub extended: bool,
    /// Nothing yet, on time or late.
    pub state: SubmissionState,
    /// The current submission: the latest version of each file name (at most 65,535; the row
    /// must fit in one frame).
    pub files: Vec<SubmissionEntry>,
    /// When the student first committed to a file's bytes for this assignment (a logged
    /// commitment), seconds since the Unix epoch; `None` if they never did.
    pub committed_at: Option<u64>,
}

/// One recorded staff action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// When, seconds since the Unix epoch.
    pub at: u64,
    /// Who (a staff login or a student ID).
    pub actor: String,
    /// What (`put-assignment`, `close`, `extend`, `grade`, `release`, ...).
    pub action: String,
    /// On which student, if on one.
    pub student: Option<String>,
    /// Details for a person to read.
    pub detail: String,
}

/// A message of the staff protocol.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffMessage {
    /// The courses the caller is staff of: `CourseRow`* `RowsEnd`.
    Courses,
    /// Add or change an assignment: `Done` | `Refused`.
    PutAssignment(AssignmentSpec),
    /// Close (`open: false`) or reopen an assignment: `Done` | `Refused`.
    SetOpen {
        /// Course code.
        course: String,
        /// Assignment name.
        assignment: String,
        /// Open or closed.
        open: bool,
    },
    /// `StatusRow`* `RowsEnd` | `Refused`.
    Status {
        /// Course code.
        course: String,
        /// Assignment name.
        assignment: String,
    },
    /// `StaffFetchBegin` `Data`* `DataEnd` | `Refused`.
    Fetch {
        /// The submission's identifier.
        id: String,
    },
    /// Give one student a due time of their own: `Done` | `Refused`.
    Extend {
        /// Course code.
        course: String,
        /// Assignment name.
        assignment: String,
        /// The student (as sent: checked by the server).
        student: String,
        /// The student's due time, seconds since the Unix epoch.
        due: u64,
    },
    /// Grade one student: `Done` | `Refused`, or with a feedback file `Ready`, the file as
    /// `Data`* `DataEnd`, then `Done` | `Refused`.
    Grade {
        /// Course code.
        course: String,
        /// Assignment name.
        assignment: String,
        /// The student (as sent: checked by the server).
        student: String,
        /// The score.
        score: String,
        /// The comment.
        comment: String,
        /// The feedback file to follow, if any.
        feedback: Option<FeedbackFile>,
    },
    /// Release an assignment's grades to its students: `Done` | `Refused`.
    Release {
        /// Course code.
        course: String,
        /// Assignment name.
        assignment: String,
    },
    /// A course's record of staff actions: `LogRow`* `RowsEnd` | `Refused`.
    Log {
        /// Course code.
        course: String,
    },
    /// One course.
    CourseRow(CourseRow),
    /// One student's standing.
    StatusRow(StatusRow),
    /// One recorded action.
    LogRow(LogRow),
    /// End of rows.
    RowsEnd,
    /// The change was made.
    Done {
        /// What was done, for a person to read.
        detail: String,
    },
    /// A fetched submission; its bytes follow.
    FetchBegin {
        /// The submission.
        entry: SubmissionEntry,
        /// Its receipt, encoded (see [`crate::receipt`]).
        receipt: Bytes,
    },
}

fn put_course_assignment(p: &mut BytesMut, c: &str, a: &str) -> Result<(), EncodeError> {
    put_str(p, c)?;
    put_str(p, a)
}

fn put_opt_u64(p: &mut BytesMut, v: Option<u64>) {
    match v {
        None => p.put_u8(0),
        Some(v) => {
            p.put_u8(1);
            p.put_u64(v);
        }
    }
}

impl StaffMessage {
    /// Appends the payload to `p`; returns the type tag.
    pub(crate) fn encode_payload(&self, p: &mut BytesMut) -> Result<u8, EncodeError> {
        Ok(match self {
            Self::Courses => tag::COURSES,
            Self::PutAssignment(a) => {
                put_course_assignment(p, &a.course, &a.assignment)?;
                p.put_u64(a.due);
                p.put_u64(a.max_size);
                put_opt_u64(p, a.cutoff);
                p.put_u64(a.grace_secs);
                p.put_u8(u8::from(a.allow_past));
                tag::PUT_ASSIGNMENT
            }
            Self::SetOpen {
                course,
                assignment,
                open,
            } => {
                put_course_assignment(p, course, assignment)?;
                p.put_u8(u8::from(*open));
                tag::SET_OPEN
            }
            Self::Status { course, assignment } => {
                put_course_assignment(p, course, assignment)?;
                tag::STATUS
            }
            Self::Fetch { id } => {
                put_str(p, id)?;
                tag::STAFF_FETCH
            }
            Self::Extend {
                course,
                assignment,
                student,
                due,
            } => {
                put_course_assignment(p, course, assignment)?;
                put_str(p, student)?;
                p.put_u64(*due);
                tag::EXTEND
            }
            Self::Grade {
                course,
                assignment,
                student,
                score,
                comment,
                feedback,
            } => {
                put_course_assignment(p, course, assignment)?;
                put_str(p, student)?;
                put_str(p, score)?;
                put_str(p, comment)?;
                put_opt_feedback(p, feedback.as_ref())?;
                tag::GRADE
            }
            Self::Release { course, assignment } => {
                put_course_assignment(p, course, assignment)?;
                tag::RELEASE
            }
            Self::Log { course } => {
                put_str(p, course)?;
                tag::LOG
            }
            Self::CourseRow(c) => {
                put_str(p, &c.course)?;
                put_str(p, &c.title)?;
                tag::COURSE_ROW
            }
            Self::StatusRow(r) => {
                put_str(p, &r.student_id)?;
                p.put_u8(u8::from(r.on_class_list));
                p.put_u64(r.due_at);
                p.put_u8(u8::from(r.extended));
                p.put_u8(r.state.to_u8());
                let n = u16::try_from(r.files.len())
                    .map_err(|_| EncodeError(format!("{} files in a status row", r.files.len())))?;
                p.put_u16(n);
                for f in &r.files {
                    put_entry(p, f)?;
                }
                p.put_u8(u8::from(r.committed_at.is_some()));
                p.put_u64(r.committed_at.unwrap_or(0));
                tag::STATUS_ROW
            }
            Self::LogRow(l) => {
                p.put_u64(l.at);
                put_str(p, &l.actor)?;
                put_str(p, &l.action)?;
                put_opt_str(p, l.student.as_deref())?;
                put_str(p, &l.detail)?;
                tag::LOG_ROW
            }
            Self::RowsEnd => tag::ROWS_END,
            Self::Done { detail } => {
                put_str(p, detail)?;
                tag::DONE
            }
            Self::FetchBegin { entry, receipt } => {
                put_entry(p, entry)?;
                put_bytes(p, receipt)?;
                tag::STAFF_FETCH_BEGIN
            }
        })
    }

    /// Whether `kind` is a staff message tag this version knows.
    pub(crate) fn knows(kind: u8) -> bool {
        matches!(kind, tag::COURSES..=tag::LOG | tag::COURSE_ROW..=tag::STAFF_FETCH_BEGIN)
    }

    /// Decodes the payload of a frame whose tag [`knows`](Self::knows) says is a staff one.
    pub(crate) fn decode_payload(kind: u8, r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(match kind {
            tag::COURSES => Self::Courses,
            tag::PUT_ASSIGNMENT => Self::PutAssignment(AssignmentSpec {
                course: r.str()?,
                assignment: r.str()?,
                due: r.u64()?,
                max_size: r.u64()?,
                cutoff: r.opt_u64()?,
                grace_secs: r.u64()?,
                allow_past: r.bool()?,
            }),
            tag::SET_OPEN => Self::SetOpen {
                course: r.str()?,
                assignment: r.str()?,
                open: r.bool()?,
            },
            tag::STATUS => Self::Status {
                course: r.str()?,
                assignment: r.str()?,
            },
            tag::STAFF_FETCH => Self::Fetch { id: r.str()? },
            tag::EXTEND => Self::Extend {
                course: r.str()?,
                assignment: r.str()?,
                student: r.str()?,
                due: r.u64()?,
            },
            tag::GRADE => Self::Grade {
                course: r.str()?,
                assignment: r.str()?,
                student: r.str()?,
                score: r.str()?,
                comment: r.str()?,
                feedback: r.opt_feedback()?,
            },
            tag::RELEASE => Self::Release {
                course: r.str()?,
                assignment: r.str()?,
            },
            tag::LOG => Self::Log { course: r.str()? },
            tag::COURSE_ROW => Self::CourseRow(CourseRow {
                course: r.str()?,
                title: r.str()?,
            }),
            tag::STATUS_ROW => {
                let student_id = r.str()?;
                let on_class_list = r.bool()?;
                let due_at = r.u64()?;
                let extended = r.bool()?;
                let state = r.u8()?;
                let Some(state) = SubmissionState::from_u8(state) else {
                    return err(format!("submission state holds {state}"));
                };
                let n = r.u16()?;
                // Each entry takes at least 63 bytes: a count beyond what is left is a lie, and
                // must not size an allocation.
                let mut files = Vec::with_capacity(usize::from(n).min(r.remaining() / 63));
                for _ in 0..n {
                    files.push(r.entry()?);
                }
                let committed = r.bool()?;
                let at = r.u64()?;
                if !committed && at != 0 {
                    return err("a status row's commitment time without its flag");
                }
                Self::StatusRow(StatusRow {
                    student_id,
                    on_class_list,
                    due_at,
                    extended,
                    state,
                    files,
                    committed_at: committed.then_some(at),
                })
            }
            tag::LOG_ROW => Self::LogRow(LogRow {
                at: r.u64()?,
                actor: r.str()?,
                action: r.str()?,
                student: r.opt_str()?,
                detail: r.str()?,
            }),
            tag::ROWS_END => Self::RowsEnd,
            tag::DONE => Self::Done { detail: r.str()? },
            tag::STAFF_FETCH_BEGIN => Self::FetchBegin {
                entry: r.entry()?,
                receipt: r.bytes()?,
            },
            other => return err(format!("unknown message type 0x{other:02x}")),
        })
    }

    /// A short name for logs and error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Courses => "Courses",
            Self::PutAssignment(_) => "PutAssignment",
            Self::SetOpen { .. } => "SetOpen",
            Self::Status { .. } => "Status",
            Self::Fetch { .. } => "StaffFetch",
            Self::Extend { .. } => "Extend",
            Self::Grade { .. } => "Grade",
            Self::Release { .. } => "Release",
            Self::Log { .. } => "Log",
            Self::CourseRow(_) => "CourseRow",
            Self::StatusRow(_) => "StatusRow",
            Self::LogRow(_) => "LogRow",
            Self::RowsEnd => "RowsEnd",
            Self::Done { .. } => "Done",
            Self::FetchBegin { .. } => "StaffFetchBegin",
        }
    }
}

impl Reader {
    pub(crate) fn opt_u64(&mut self) -> Result<Option<u64>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u64()?)),
            v => err(format!("option tag holds {v}")),
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        bytes::Buf::remaining(&self.0)
    }
}
