//! A student's grades and feedback files over `handin-submit/1`: only what the rules let the
//! student see ([`crate::board::Board::released_grades`]: their own, once released). A feedback
//! file of an unreleased grade is answered exactly as one that does not exist.

use super::{failed, refusal, Done, Shared};
use crate::runtime::{Inbox, Promise};
use handin_core::msg::{FeedbackFile, GradeEntry};
use handin_core::pki::{unix_secs, StudentId};
use handin_core::{Refusal, RefusalCode};
use std::sync::Arc;
use std::time::SystemTime;

/// Lists `student`'s released grades (of one course, if given) on a worker.
pub(super) fn list(
    shared: &Arc<Shared>,
    inbox: &Inbox<Done>,
    student: StudentId,
    course: Option<String>,
) {
    let shared_job = shared.clone();
    let answer = Promise::new(inbox.clone(), || Done::Grades(Err(failed())));
    shared.pool.spawn(move || {
        let grades = shared_job
            .board
            .released_grades(&student, course.as_deref(), SystemTime::now())
            .map(|all| {
                all.into_iter()
                    .map(|g| GradeEntry {
                        course: g.grade.course,
                        assignment: g.grade.assignment,
                        score: g.grade.score,
                        comment: g.grade.comment,
                        feedback: g.grade.feedback.map(|f| FeedbackFile {
                            file_name: f.file_name,
                            size: f.size,
                            sha256: f.sha256,
                        }),
                        released_at: unix_secs(g.released_at),
                    })
                    .collect()
            })
            .map_err(refusal);
        answer.keep(Done::Grades(grades));
    });
}

/// Opens `student`'s feedback file of `course`/`assignment` on a worker, if they may see it.
pub(super) fn open_feedback(
    shared: &Arc<Shared>,
    inbox: &Inbox<Done>,
    student: StudentId,
    course: String,
    assignment: String,
) {
    let shared_job = shared.clone();
    let answer = Promise::new(inbox.clone(), || Done::FeedbackOpened(Err(failed())));
    shared.pool.spawn(move || {
        let opened = (|| {
            let file = shared_job
                .board
                .feedback(&student, &course, &assignment, SystemTime::now())
                .map_err(refusal)?
                .ok_or_else(|| {
                    Refusal::new(
                        RefusalCode::NotFound,
                        format!(
                            "there is no released feedback file for you on {course}/{assignment}"
                        ),
                    )
                })?;
            let blobs = shared_job.board.blobs();
            let f = blobs.open_blob(&file.id).map_err(|e| {
                tracing::error!(path = %blobs.path(&file.id).display(), error = %e, "feedback file unreadable");
                Refusal::new(RefusalCode::Storage, "the feedback file cannot be read: tell the course staff")
            })?;
            Ok((
                FeedbackFile {
                    file_name: file.file_name,
                    size: file.size,
                    sha256: file.sha256,
                },
                f,
            ))
        })();
        answer.keep(Done::FeedbackOpened(opened));
    });
}
