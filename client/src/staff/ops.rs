//! The staff commands over `handin-staff/1`, one request each: courses, assignments, status,
//! extensions, grades (with a feedback file, or a whole grade sheet over one connection),
//! release and the log. Every answer is the server's: what the caller may do is decided there.

use crate::grade_sheet::SheetRow;
use crate::printable;
use crate::session::{nothing_more, staff_blackboard, Profile, Remote, Session, StudentError};
use crate::upload::FileUpload;
use handin_core::msg::{AssignmentSpec, CourseRow, FeedbackFile, GradeSpec, LogRow, StatusRow};
use handin_core::pki::StudentId;
use handin_core::staff::{StaffClientEvent, StaffClientProtocol};
use handin_core::submit::Sha256;
use handin_core::Refusal;
use std::fs::File;
use std::io::Read;
use std::path::Path;

type Staff = Session<StaffClientProtocol>;

/// The sentence for a refusal.
pub(crate) fn refused(r: &Refusal) -> StudentError {
    StudentError::refused(format!(
        "Blackboard refused: {}",
        printable::text(&r.reason)
    ))
}

/// Answers that are a row list.
fn rows<T>(
    bb: &mut Staff,
    request: impl FnOnce(&mut handin_core::staff::StaffClient) -> Result<(), handin_core::UsageError>,
    mut pick: impl FnMut(StaffClientEvent) -> Option<T>,
) -> Result<Vec<T>, StudentError> {
    let mut got = Vec::new();
    bb.exchange(
        request,
        |ev| match ev {
            StaffClientEvent::RowsEnd => Some(Ok(())),
            StaffClientEvent::Refused(r) => Some(Err(refused(&r))),
            other => {
                if let Some(row) = pick(other) {
                    got.push(row);
                }
                None
            }
        },
        nothing_more,
    )?;
    Ok(got)
}

/// Answers that are one `Done`.
fn change(
    bb: &mut Staff,
    request: impl FnOnce(&mut handin_core::staff::StaffClient) -> Result<(), handin_core::UsageError>,
) -> Result<String, StudentError> {
    bb.exchange(
        request,
        |ev| match ev {
            StaffClientEvent::Done(detail) => Some(Ok(printable::text(&detail).into_owned())),
            StaffClientEvent::Refused(r) => Some(Err(refused(&r))),
            _ => None,
        },
        nothing_more,
    )
}

/// The courses the caller is staff of.
pub fn courses(remote: &Remote, profile: &Profile) -> Result<Vec<CourseRow>, StudentError> {
    let mut bb = staff_blackboard(remote, profile)?;
    rows(
        &mut bb,
        |c| c.courses(),
        |ev| match ev {
            StaffClientEvent::Course(c) => Some(c),
            _ => None,
        },
    )
}

/// Adds an assignment or changes its terms; returns the server's words.
pub fn put_assignment(
    remote: &Remote,
    profile: &Profile,
    spec: &AssignmentSpec,
) -> Result<String, StudentError> {
    let mut bb = staff_blackboard(remote, profile)?;
    change(&mut bb, |c| c.put_assignment(spec))
}

/// Closes an assignment to submissions (`open` false) or reopens it.
pub fn set_open(
    remote: &Remote,
    profile: &Profile,
    course: &str,
    assignment: &str,
    open: bool,
) -> Result<String, StudentError> {
    let mut bb = staff_blackboard(remote, profile)?;
    change(&mut bb, |c| c.set_open(course, assignment, open))
}

/// The status table of an assignment.
pub fn status(
    remote: &Remote,
    profile: &Profile,
    course: &str,
    assignment: &str,
) -> Result<Vec<StatusRow>, StudentError> {
    let mut bb = staff_blackboard(remote, profile)?;
    status_on(&mut bb, course, assignment)
}

pub(crate) fn status_on(
    bb: &mut Staff,
    course: &str,
    assignment: &str,
) -> Result<Vec<StatusRow>, StudentError> {
    rows(
        bb,
        |c| c.status(course, assignment),
        |ev| match ev {
            StaffClientEvent::Status(s) => Some(s),
            _ => None,
        },
    )
}

/// Gives one student their own due time (seconds since the Unix epoch).
pub fn extend(
    remote: &Remote,
    profile: &Profile,
    course: &str,
    assignment: &str,
    student: &StudentId,
    due: u64,
) -> Result<String, StudentError> {
    let mut bb = staff_blackboard(remote, profile)?;
    change(&mut bb, |c| c.extend(course, assignment, student, due))
}

/// Releases an assignment's grades to its students.
pub fn release(
    remote: &Remote,
    profile: &Profile,
    course: &str,
    assignment: &str,
) -> Result<String, StudentError> {
    let mut bb = staff_blackboard(remote, profile)?;
    change(&mut bb, |c| c.release(course, assignment))
}

/// The course's log of staff actions, oldest first.
pub fn log(remote: &Remote, profile: &Profile, course: &str) -> Result<Vec<LogRow>, StudentError> {
    let mut bb = staff_blackboard(remote, profile)?;
    rows(
        &mut bb,
        |c| c.log(course),
        |ev| match ev {
            StaffClientEvent::Log(l) => Some(l),
            _ => None,
        },
    )
}

/// One grade to give.
#[derive(Debug, Clone)]
pub struct GradeInput<'a> {
    /// The student.
    pub student: StudentId,
    /// The score.
    pub score: String,
    /// The comment.
    pub comment: String,
    /// A feedback file to return with it.
    pub feedback: Option<&'a Path>,
}

/// Grades students of `course`/`assignment` over one connection, in order; returns the server's
/// words for each. Stops at the first refusal (the grades before it stand).
pub fn grade(
    remote: &Remote,
    profile: &Profile,
    course: &str,
    assignment: &str,
    grades: &[GradeInput<'_>],
) -> Result<Vec<String>, StudentError> {
    let mut bb = staff_blackboard(remote, profile)?;
    bb.keep_open();
    let mut done = Vec::new();
    for g in grades {
        let r = grade_one(&mut bb, course, assignment, g).map_err(|e| e.context(&g.student));
        match r {
            Ok(d) => done.push(d),
            Err(e) => {
                bb.finish();
                return Err(e);
            }
        }
    }
    bb.finish();
    Ok(done)
}

/// The grades of a grade sheet, as [`grade`] takes them.
pub fn sheet_inputs(rows: &[SheetRow]) -> Vec<GradeInput<'_>> {
    rows.iter()
        .map(|r| GradeInput {
            student: r.student.clone(),
            score: r.score.clone(),
            comment: r.comment.clone(),
            feedback: r.feedback.as_deref(),
        })
        .collect()
}

fn hash_file(path: &Path) -> Result<(u64, [u8; 32]), StudentError> {
    let mut f = File::open(path)
        .map_err(|e| StudentError::file(format!("cannot open {}: {e}", path.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| StudentError::file(format!("cannot read {}: {e}", path.display())))?;
        if n == 0 {
            return Ok((size, h.finish()));
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
}

fn grade_one(
    bb: &mut Staff,
    course: &str,
    assignment: &str,
    g: &GradeInput<'_>,
) -> Result<String, StudentError> {
    let feedback = match g.feedback {
        None => None,
        Some(path) => {
            crate::student::refuse_directory(path)?;
            let (size, sha256) = hash_file(path)?;
            let file_name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| {
                    StudentError::file(format!("{} has no usable file name", path.display()))
                })?
                .to_owned();
            Some((
                path,
                FeedbackFile {
                    file_name,
                    size,
                    sha256,
                },
            ))
        }
    };
    let spec = GradeSpec {
        course: course.to_owned(),
        assignment: assignment.to_owned(),
        student: g.student.clone(),
        score: g.score.clone(),
        comment: g.comment.clone(),
        feedback: feedback.as_ref().map(|(_, f)| f.clone()),
    };
    let Some((path, file)) = feedback else {
        return change(bb, |c| c.grade(&spec));
    };
    let mut upload = FileUpload::open(path, file.size, "feedback")?;
    let result = bb.exchange(
        |c| c.grade(&spec),
        |ev| match ev {
            StaffClientEvent::Done(detail) => Some(Ok(printable::text(&detail).into_owned())),
            StaffClientEvent::Refused(r) => Some(Err(refused(&r))),
            _ => None,
        },
        |c, progress| upload.pump(c, progress),
    );
    drop(upload);
    result
}
