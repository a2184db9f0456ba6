//! What the pages need from the store, computed on a worker: each function takes the request's
//! person and arguments and returns the whole answer (a page, a redirect, a file to stream, or
//! an error page). Who may see or change what is decided by the same [`Board`](crate::board)
//! calls the command line's requests make: [`Board::find`](crate::board::Board::find) for a
//! student's own files, [`Board::authorize`](crate::board::Board::authorize) for staff.

use super::pages::{self, Table};
use super::routes::Action;
use super::FormKey;
use crate::blackboard::{refusal, Shared};
use crate::board::{Actor, BoardError};
use crate::store::{Grade, StoredSubmission};
use handin_core::grade_sheet::parse_grade_sheet;
use handin_core::http::Response;
use handin_core::pki::{PersonId, StudentId};
use handin_core::rules::grading;
use handin_core::{Refusal, RefusalCode};
use std::fs::File;
use std::path::Path;
use std::time::SystemTime;

/// A whole answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Status and headers.
    pub(crate) response: Response,
    /// What follows them.
    pub(crate) body: Body,
}

/// An answer's body.
#[derive(Debug)]
pub(crate) enum Body {
    /// Bytes in memory (a page).
    Bytes(Vec<u8>),
    /// A stored file of this size, streamed from disk.
    File(File, u64),
}

impl Answer {
    /// An HTML page.
    pub(crate) fn page(status: u16, html: String) -> Self {
        Self {
            response: Response::html(status),
            body: Body::Bytes(html.into_bytes()),
        }
    }

    /// An error page for `refusal`, with the status its code maps to.
    pub(crate) fn refused(r: &Refusal, who: Option<&PersonId>) -> Self {
        let status = status_of(r.code);
        Self::page(status, pages::error(status, &r.reason, who))
    }

    /// 303 to `location`.
    pub(crate) fn see_other(location: &str) -> Self {
        Self {
            response: Response::see_other(location),
            body: Body::Bytes(Vec::new()),
        }
    }
}

/// The HTTP status of a refusal.
pub(crate) fn status_of(code: RefusalCode) -> u16 {
    match code {
        RefusalCode::NotFound | RefusalCode::NoSuchAssignment => 404,
        RefusalCode::TooLarge | RefusalCode::Quota => 413,
        RefusalCode::NotStaff
        | RefusalCode::NotOnClassList
        | RefusalCode::NotAuthenticated
        | RefusalCode::BadCertificate
        | RefusalCode::Revoked
        | RefusalCode::Expired => 403,
        RefusalCode::Closed => 409,
        RefusalCode::Storage | RefusalCode::Internal => 500,
        RefusalCode::Unavailable | RefusalCode::Throttled => 503,
        _ => 400,
    }
}

fn refused(e: BoardError, who: &PersonId) -> Answer {
    Answer::refused(&refusal(e), Some(who))
}

/// A file download: a safe `Content-Disposition` (the name percent-encoded as RFC 6266 and
/// 5987 say, with a fallback for old browsers of letters, digits and `._-()+,` only).
pub(crate) fn download(name: &str, file: File, size: u64, content_type: &str) -> Answer {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-()+,".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    Answer {
        response: Response::new(200)
            .header("content-type", content_type)
            .header(
                "content-disposition",
                &format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"),
            ),
        body: Body::File(file, size),
    }
}

/// The home page of `who`.
pub(crate) fn home(shared: &Shared, key: &FormKey, who: &PersonId) -> Answer {
    let now = SystemTime::now();
    let r = (|| {
        let all = shared.board.assignments()?;
        let staff_of: Vec<_> = shared
            .board
            .courses_of(who)?
            .into_iter()
            .map(|c| {
                let mine = all
                    .iter()
                    .filter(|a| a.course == c.course)
                    .cloned()
                    .collect();
                (c, mine)
            })
            .collect();
        match who {
            PersonId::Student(id) => {
                let view = shared.board.student_view(id, now)?;
                let token = key.token(who, now);
                Ok(pages::student_home(who, &view, &staff_of, &token))
            }
            PersonId::Staff(_) => Ok(pages::staff_home(who, &staff_of)),
        }
    })();
    match r {
        Ok(html) => Answer::page(200, html),
        Err(e) => refused(e, who),
    }
}

/// A stored submission `who` may see: a student's own, or any of a course they are staff of.
/// Anyone else learns only that there is no such submission.
fn visible(shared: &Shared, who: &PersonId, id: &str) -> Result<StoredSubmission, Refusal> {
    let not_found = || {
        Refusal::new(
            RefusalCode::NotFound,
            format!("there is no submission {id}"),
        )
    };
    if let PersonId::Student(s) = who {
        if let Some(found) = shared.board.find(s, id).map_err(refusal)? {
            return Ok(found);
        }
    }
    let found = shared
        .board
        .find_any(id)
        .map_err(refusal)?
        .ok_or_else(not_found)?;
    shared
        .board
        .authorize(who, &found.course)
        .map_err(|_| not_found())?;
    Ok(found)
}

/// A stored submission's bytes.
pub(crate) fn file(shared: &Shared, who: &PersonId, id: &str) -> Answer {
    let r = visible(shared, who, id).and_then(|found| {
        let file = shared.board.open_blob(&found).map_err(|e| {
            tracing::error!(path = %shared.board.blobs().path(&found.id).display(), error = %e, "stored submission unreadable");
            Refusal::new(RefusalCode::Storage, "the stored file cannot be read: tell the course staff")
        })?;
        Ok(download(&found.file_name, file, found.size, "application/octet-stream"))
    });
    r.unwrap_or_else(|r| Answer::refused(&r, Some(who)))
}

/// A submission's receipt, signed again from its record (the same body the student got),
/// followed by Blackboard's certificate, as `student verify-receipt` reads it.
pub(crate) fn receipt(shared: &Shared, who: &PersonId, id: &str) -> Answer {
    let r = visible(shared, who, id).and_then(|found| {
        let signed = shared
            .board
            .receipt(&shared.signer, &found, None)
            .map_err(|e| {
                tracing::error!(error = %e, "cannot sign a receipt");
                Refusal::new(
                    RefusalCode::Internal,
                    "Blackboard could not sign the receipt",
                )
            })?;
        let mut pem = signed.to_pem();
        pem.push_str(&handin_core::pki::to_pem(
            "CERTIFICATE",
            shared.signer.certificate(),
        ));
        Ok(Answer {
            response: Response::new(200)
                .header("content-type", "application/x-pem-file")
                .header(
                    "content-disposition",
                    &format!("attachment; filename=\"{}.receipt\"", found.id),
                ),
            body: Body::Bytes(pem.into_bytes()),
        })
    });
    r.unwrap_or_else(|r| Answer::refused(&r, Some(who)))
}

/// The page of one of the caller's stored uploads.
pub(crate) fn submitted(shared: &Shared, who: &PersonId, id: &str) -> Answer {
    match visible(shared, who, id) {
        Ok(found) => Answer::page(200, pages::stored(who, &found.receipt_body())),
        Err(r) => Answer::refused(&r, Some(who)),
    }
}

/// A student's feedback file, once released.
pub(crate) fn feedback(shared: &Shared, who: &PersonId, course: &str, assignment: &str) -> Answer {
    let PersonId::Student(student) = who else {
        return Answer::refused(
            &Refusal::new(RefusalCode::NotFound, "feedback files are for students"),
            Some(who),
        );
    };
    let r = (|| {
        let f = shared
            .board
            .feedback(student, course, assignment, SystemTime::now())
            .map_err(refusal)?
            .ok_or_else(|| {
                Refusal::new(
                    RefusalCode::NotFound,
                    format!("there is no released feedback file for you on {course}/{assignment}"),
                )
            })?;
        let file = shared.board.blobs().open_blob(&f.id).map_err(|e| {
            tracing::error!(error = %e, "feedback file unreadable");
            Refusal::new(
                RefusalCode::Storage,
                "the feedback file cannot be read: tell the course staff",
            )
        })?;
        Ok(download(
            &f.file_name,
            file,
            f.size,
            "application/octet-stream",
        ))
    })();
    r.unwrap_or_else(|r| Answer::refused(&r, Some(who)))
}

/// An assignment's table for its staff, with `said` about a change just made.
pub(crate) fn table(
    shared: &Shared,
    key: &FormKey,
    who: &PersonId,
    course: &str,
    assignment: &str,
    said: Option<&str>,
) -> Answer {
    let r = (|| {
        shared.board.authorize(who, course)?;
        let a = shared
            .board
            .assignment(course, assignment)?
            .ok_or_else(|| {
                BoardError::Refused(Refusal::new(
                    RefusalCode::NoSuchAssignment,
                    format!("there is no assignment {assignment} in course {course}"),
                ))
            })?;
        let rows = shared.board.status(course, assignment)?;
        let grades = shared.board.records().grades(course, assignment)?;
        let released = shared.board.records().released(course, assignment)?;
        let token = key.token(who, SystemTime::now());
        Ok(pages::staff_table(
            who,
            &Table {
                assignment: &a,
                rows: &rows,
                grades: &grades,
                released,
                token: &token,
                said,
            },
        ))
    })();
    match r {
        Ok(html) => Answer::page(200, html),
        Err(e) => refused(e, who),
    }
}

/// A staff change from a form (already checked for its origin and token), then the table.
pub(crate) fn change(
    shared: &Shared,
    key: &FormKey,
    who: &PersonId,
    (course, assignment): (&str, &str),
    action: Action,
    fields: &[(String, String)],
    sheet: Option<&[u8]>,
) -> Answer {
    let field = |n: &str| {
        super::guard::field(fields, n)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let now = SystemTime::now();
    let actor = Actor::Staff(who.clone());
    let bad = |m: String| BoardError::Refused(Refusal::new(RefusalCode::BadField, m));
    let r: Result<String, BoardError> = (|| match action {
        Action::Grade => {
            let student = StudentId::parse(&field("student"))
                .map_err(|_| bad("the student ID is exactly 10 digits".into()))?;
            let score = field("score");
            grading::check_score(&score).map_err(|e| bad(e.to_string()))?;
            let grade = Grade {
                course: course.into(),
                assignment: assignment.into(),
                student: student.clone(),
                score: score.clone(),
                comment: field("comment"),
                feedback: None,
                graded_by: who.to_string(),
                graded_at: now,
            };
            shared.board.grade(&grade, &actor, now)?;
            Ok(format!("{student} graded {score}"))
        }
        Action::Extend => {
            let student = StudentId::parse(&field("student"))
                .map_err(|_| bad("the student ID is exactly 10 digits".into()))?;
            let due = parse_time(&field("due")).map_err(bad)?;
            shared
                .board
                .extend(course, assignment, &student, due, &actor, now)?;
            Ok(format!(
                "{student} is due {}",
                handin_core::pki::rfc3339(due)
            ))
        }
        Action::Release => {
            shared.board.release(course, assignment, &actor, now)?;
            Ok("grades released: students see them from now on".into())
        }
        Action::Sheet => {
            let text = sheet.ok_or_else(|| bad("choose a grade sheet (CSV) to upload".into()))?;
            // The page cannot take files by path: a sheet naming feedback files goes with
            // `staff grade --csv`, which sends them.
            let no_files = |_: &Path| {
                Err(
                    "feedback files go with `staff grade --csv` from the command line, which \
                     sends them: remove the feedback column here"
                        .to_owned(),
                )
            };
            let rows = parse_grade_sheet(text, Path::new("sheet.csv"), &no_files).map_err(bad)?;
            // The staff member's right to grade here is checked once, before any row.
            shared.board.authorize(who, course)?;
            for row in &rows {
                let grade = Grade {
                    course: course.into(),
                    assignment: assignment.into(),
                    student: row.student.clone(),
                    score: row.score.clone(),
                    comment: row.comment.clone(),
                    feedback: None,
                    graded_by: who.to_string(),
                    graded_at: now,
                };
                shared.board.grade(&grade, &actor, now)?;
            }
            Ok(format!("{} grades saved from the sheet", rows.len()))
        }
    })();
    match r {
        Ok(said) => {
            tracing::info!(person = %who, course, assignment, %said, "staff change from the web");
            table(shared, key, who, course, assignment, Some(&said))
        }
        Err(e) => refused(e, who),
    }
}

/// An RFC 3339 time from a form.
fn parse_time(s: &str) -> Result<SystemTime, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("{s:?} is not a time like 2026-12-08T23:59:00+08:00"))?;
    Ok(SystemTime::from(t))
}

/// An object of Blackboard's transparency log at its C2SP tlog-tiles path (under `/log/`),
/// for anyone: a full tile or bundle may be cached forever, a checkpoint or partial tile not.
pub(crate) fn log_object(shared: &Shared, path: &str) -> Answer {
    let plain = |status: u16, text: String| Answer {
        response: Response::new(status)
            .header("content-type", "text/plain; charset=utf-8")
            .header("access-control-allow-origin", "*"),
        body: Body::Bytes(text.into_bytes()),
    };
    match super::super::logs::object(shared, path) {
        Ok((bytes, immutable)) => {
            let content_type = if path.starts_with("tile/") {
                "application/octet-stream"
            } else {
                "text/plain; charset=utf-8"
            };
            let cache = if immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            Answer {
                response: Response::new(200)
                    .header("content-type", content_type)
                    .header("cache-control", cache)
                    .header("access-control-allow-origin", "*"),
                body: Body::Bytes(bytes),
            }
        }
        Err(r) if r.code == handin_core::RefusalCode::NotFound => {
            plain(404, format!("{}\n", r.reason))
        }
        Err(r) => plain(503, format!("{}\n", r.reason)),
    }
}
