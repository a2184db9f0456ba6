//! A student's grades and feedback files, once their staff released them.

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
            SubmitClientEvent::Refused(r) => Some(fail(format!(
                "Blackboard refused: {}",
                printable::text(&r.reason)
            ))),
            _ => None,
        },
        nothing_more,
    );
    bb.check_pin(profile);
    r.map(|()| got)
}

/// Fetches the feedback file of a released grade into `out` (written whole or not at all).
pub fn feedback(
    remote: &Remote,
    profile: &Profile,
    course: &str,
    assignment: &str,
    out: &Path,
) -> Result<FeedbackFile, StudentError> {
    let mut bb = blackboard(remote, profile)?;
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = super::tempfile_in(dir)?;
    let mut file: Option<FeedbackFile> = None;
    let result = bb.exchange(
        |c| c.feedback(course, assignment),
        |ev| match ev {
            SubmitClientEvent::FeedbackBegin(f) => {
                file = Some(f);
                None
            }
            SubmitClientEvent::FeedbackData(d) => tmp
                .1
                .write_all(&d)
                .err()
                .map(|e| fail(format!("cannot write {}: {e}", tmp.0.display()))),
            SubmitClientEvent::FeedbackEnd => Some(Ok(())),
            SubmitClientEvent::Refused(r) => Some(fail(format!(
                "Blackboard refused: {}",
                printable::text(&r.reason)
            ))),
            _ => None,
        },
        nothing_more,
    );
    bb.check_pin(profile);
    let finish = result.and_then(|()| {
        tmp.1
            .sync_all()
            .map_err(|e| StudentError(format!("cannot write {}: {e}", tmp.0.display())))?;
        std::fs::rename(&tmp.0, out)
            .map_err(|e| StudentError(format!("cannot create {}: {e}", out.display())))?;
        file.ok_or_else(|| StudentError("Blackboard sent no feedback file".into()))
    });
    if finish.is_err() {
        let _ = std::fs::remove_file(&tmp.0);
    }
    finish
}
