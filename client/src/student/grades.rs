//! A student's grades and feedback files, once their staff released them.

use super::output::{self, Destination};
use crate::error::ErrorKind;
use crate::printable;
use crate::session::{blackboard, fail, nothing_more, Profile, Remote, StudentError};
use handin_core::msg::{FeedbackFile, GradeEntry};
use handin_core::SubmitClientEvent;
use std::io::Write;
use std::path::Path;

/// The student's released grades, optionally of one course.
pub fn grades(
    remote: &Remote,
    profile: &Profile,
    course: Option<&str>,
) -> Result<Vec<GradeEntry>, StudentError> {
    let mut bb = blackboard(remote, profile)?;
    let mut got = Vec::new();
    let r = bb.exchange(
        |c| c.grades(course),
        |ev| match ev {
            SubmitClientEvent::Grade(g) => {
                got.push(g);
                None
            }
            SubmitClientEvent::GradesEnd => Some(Ok(())),
            SubmitClientEvent::Refused(r) => Some(fail(
                ErrorKind::Refused,
                format!("Blackboard refused: {}", printable::text(&r.reason)),
            )),
            _ => None,
        },
        nothing_more,
    );
    bb.check_pin(profile);
    r.map(|()| got)
}

/// Fetches the feedback file of a released grade into `out` (written whole or not at all),
/// replacing a file there.
pub fn feedback(
    remote: &Remote,
    profile: &Profile,
    course: &str,
    assignment: &str,
    out: &Path,
) -> Result<FeedbackFile, StudentError> {
    feedback_to(remote, profile, course, assignment, out, true)
}

/// [`feedback`], replacing a file at `out` only if `overwrite` (else refused before connecting,
/// and again when the file would land).
pub fn feedback_to(
    remote: &Remote,
    profile: &Profile,
    course: &str,
    assignment: &str,
    out: &Path,
    overwrite: bool,
) -> Result<FeedbackFile, StudentError> {
    let dest = Destination::File(out);
    output::check_free(out, overwrite)?;
    let mut bb = blackboard(remote, profile)?;
    let mut tmp = super::tempfile_in(dest.dir())?;
    let mut file: Option<FeedbackFile> = None;
    let result = bb.exchange(
        |c| c.feedback(course, assignment),
        |ev| match ev {
            SubmitClientEvent::FeedbackBegin(f) => {
                file = Some(f);
                None
            }
            SubmitClientEvent::FeedbackData(d) => tmp.1.write_all(&d).err().map(|e| {
                fail(
                    ErrorKind::File,
                    format!("cannot write {}: {e}", tmp.0.display()),
                )
            }),
            SubmitClientEvent::FeedbackEnd => Some(Ok(())),
            SubmitClientEvent::Refused(r) => Some(fail(
                ErrorKind::Refused,
                format!("Blackboard refused: {}", printable::text(&r.reason)),
            )),
            _ => None,
        },
        nothing_more,
    );
    bb.check_pin(profile);
    let finish = result.and_then(|()| {
        let file = file.ok_or_else(|| StudentError::other("Blackboard sent no feedback file"))?;
        tmp.1
            .sync_all()
            .map_err(|e| StudentError::file(format!("cannot write {}: {e}", tmp.0.display())))?;
        output::place(&tmp.0, out, overwrite)?;
        Ok(file)
    });
    if finish.is_err() {
        let _ = std::fs::remove_file(&tmp.0);
    }
    finish
}
