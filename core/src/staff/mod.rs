//! The staff protocol (`handin-staff/1`, on Blackboard's port 3141 beside submission), over
//! mutual TLS: teachers (a staff login's certificate) and teaching assistants (their own
//! student certificate) manage assignments, see who submitted, collect submissions, extend,
//! grade and release grades.
//!
//! The caller's identity is the person in its verified certificate. What that person may do
//! is the application's decision, per request: the core hands every well-formed request to
//! the application with the caller's [`PersonId`](crate::pki::PersonId), and the application
//! checks it against the course's staff list (answering `NotStaff` for a course the caller
//! does not teach, and for one that does not exist).
//!
//! ```text
//! client                                  server
//!   -- TLS 1.3, personal certificate required --
//!                                   <---  Welcome { id, server_time }
//!   Courses                         --->
//!                                   <---  CourseRow* RowsEnd | Refused
//!   PutAssignment { course, assignment, due, max_size,
//!                   cutoff?, grace_secs, allow_past } --->
//!                                   <---  Done | Refused
//!   SetOpen { course, assignment, open } --->
//!                                   <---  Done | Refused
//!   Status { course, assignment }   --->
//!                                   <---  StatusRow* RowsEnd | Refused
//!   StaffFetch { id }               --->
//!                                   <---  StaffFetchBegin { entry, receipt } Data* DataEnd | Refused
//!   Extend { course, assignment, student, due } --->
//!                                   <---  Done | Refused
//!   Grade { course, assignment, student, score, comment, feedback? } --->
//!       without feedback:           <---  Done | Refused
//!       with feedback:              <---  Ready | Refused
//!   Data* DataEnd                   --->
//!                                   <---  Done | Refused
//!   Release { course, assignment }  --->
//!                                   <---  Done | Refused
//!   Log { course }                  --->
//!                                   <---  LogRow* RowsEnd | Refused
//! ```
//!
//! Times are whole seconds since the Unix epoch, as everywhere on the wire. One request at a
//! time, as in the other protocols.

mod client;
mod request;
mod server;

pub use client::{StaffClient, StaffClientEvent, StaffClientProtocol};
pub use server::{StaffRequest, StaffServer, StaffServerEvent, StaffServerProtocol};

use crate::error::{Refusal, RefusalCode};
use crate::msg::AssignmentSpec;
use crate::names::check_label;

pub use crate::rules::grading::{MAX_COMMENT, MAX_SCORE};
pub use crate::rules::window::MAX_TIME;
/// The longest grace period accepted: 366 days, in seconds.
pub const MAX_GRACE: u64 = 366 * 24 * 3600;

fn bad(reason: String) -> Refusal {
    Refusal::new(RefusalCode::BadField, reason)
}

/// Checks a course code and an assignment name ([`check_label`]); a refusal is `BadField`.
pub fn check_labels(course: &str, assignment: &str) -> Result<(), Refusal> {
    check_label("course", course)
        .and_then(|()| check_label("assignment", assignment))
        .map_err(|e| bad(e.0))
}

pub use crate::rules::grading::{check_comment, check_score};
pub use crate::rules::window::check_time;

/// Checks an assignment's terms at `now` (seconds since the Unix epoch): well-formed names, a
/// size limit of at least one byte, a grace period of at most [`MAX_GRACE`], and the times
/// ([`crate::rules::window::check_new_times`]).
pub fn check_assignment(spec: &AssignmentSpec, now: u64) -> Result<(), Refusal> {
    check_labels(&spec.course, &spec.assignment)?;
    if spec.max_size == 0 {
        return Err(bad(
            "the largest file accepted must be at least one byte".into()
        ));
    }
    if spec.grace_secs > MAX_GRACE {
        return Err(bad(format!(
            "a grace period of {} seconds is longer than {MAX_GRACE} (366 days)",
            spec.grace_secs
        )));
    }
    crate::rules::window::check_new_times(now, spec.due, spec.cutoff, spec.allow_past)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_short_decimal_numbers() {
        for ok in ["0", "17", "8.5", "-2", "100.00", "1234567890123456"] {
            assert!(check_score(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "",
            "-",
            ".5",
            "5.",
            "1e3",
            "+1",
            "1,5",
            " 1",
            "1 ",
            "A",
            "½",
            "1.2.3",
            "--1",
            "12345678901234567",
        ] {
            let r = check_score(bad).expect_err(bad);
            assert_eq!(r.code, RefusalCode::BadField);
        }
    }

    #[test]
    fn comments_are_bounded_and_plain() {
        assert!(check_comment("").is_ok());
        assert!(check_comment("Good.\n\tSee p. 3 — 好").is_ok());
        assert!(check_comment(&"é".repeat(MAX_COMMENT)).is_ok());
        assert!(check_comment(&"é".repeat(MAX_COMMENT + 1)).is_err());
        for bad in ["a\rb", "a\0b", "\u{1b}[2J", "a\u{7f}"] {
            assert_eq!(
                check_comment(bad).expect_err(bad).code,
                RefusalCode::BadField
            );
        }
    }

    fn spec() -> AssignmentSpec {
        AssignmentSpec {
            course: "CSCI3180".into(),
            assignment: "hw2".into(),
            due: 2_000,
            max_size: 1 << 20,
            cutoff: Some(3_000),
            grace_secs: 600,
            allow_past: false,
        }
    }

    #[test]
    fn assignment_terms_are_checked() {
        assert!(check_assignment(&spec(), 1_000).is_ok());
        let code = |s: AssignmentSpec, now| check_assignment(&s, now).map_err(|r| r.code);
        assert_eq!(code(spec(), 2_500), Err(RefusalCode::DueInPast));
        assert_eq!(
            code(
                AssignmentSpec {
                    allow_past: true,
                    ..spec()
                },
                5_000
            ),
            Ok(())
        );
        let bad = [
            AssignmentSpec {
                course: "a/b".into(),
                ..spec()
            },
            AssignmentSpec {
                assignment: String::new(),
                ..spec()
            },
            AssignmentSpec {
                cutoff: Some(1_999),
                ..spec()
            },
            AssignmentSpec {
                max_size: 0,
                ..spec()
            },
            AssignmentSpec {
                due: MAX_TIME + 1,
                cutoff: None,
                ..spec()
            },
            AssignmentSpec {
                grace_secs: MAX_GRACE + 1,
                ..spec()
            },
        ];
        for s in bad {
            assert_eq!(code(s.clone(), 0), Err(RefusalCode::BadField), "{s:?}");
        }
    }
}
