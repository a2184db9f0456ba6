//! What each staff command does with its arguments: parse and check them here, ask the client
//! library, print with `show`.

use crate::show;
use crate::{AssignmentCommand, GradeArgs};
use handin::cli::{parse_duration, parse_rfc3339, parse_size, Failure};
use handin_client::config::{self, Server, ServerAddr};
use handin_client::grade_sheet::parse_grade_sheet;
use handin_client::logs::Log;
use handin_client::staff::{
    self, Enrolled, ExternalKey, GradeInput, Profile, Remote, StaffError, Trust,
};
use handin_core::msg::AssignmentSpec;
use handin_core::pki::{unix_secs, PersonId, StudentId};
use serde_json::json;
use std::path::{Path, PathBuf};

type Result = std::result::Result<(), Failure>;

fn e(x: StaffError) -> Failure {
    x.into()
}

fn student(s: &str) -> std::result::Result<StudentId, Failure> {
    StudentId::parse(s).map_err(|_| {
        Failure::usage(format!(
            "--student {s:?}: a student ID is exactly 10 digits"
        ))
    })
}

fn when(flag: &str, s: &str) -> std::result::Result<u64, Failure> {
    parse_rfc3339(s)
        .map(unix_secs)
        .map_err(|e| Failure::usage(format!("--{flag}: {e}")))
}

pub(crate) fn enroll(
    cuhk: &Remote,
    profile: &Profile,
    id: &PersonId,
    code: &str,
    trust: &Trust,
    external: Option<(PathBuf, PathBuf)>,
    remember: &[(Server, ServerAddr)],
) -> std::result::Result<Enrolled, Failure> {
    let external = external.map(|(csr, key)| ExternalKey { csr, key });
    let en = staff::enroll(cuhk, profile, id, code, trust, external.as_ref()).map_err(e)?;
    config::remember(profile, remember).map_err(e)?;
    Ok(en)
}

pub(crate) fn renew(cuhk: &Remote, profile: &Profile, as_json: bool) -> Result {
    let en = staff::renew(cuhk, profile).map_err(e)?;
    handin::json::print_enrolled(&en, profile, true, as_json);
    Ok(())
}

pub(crate) fn courses(bb: &Remote, profile: &Profile, json: bool) -> Result {
    show::courses(&staff::courses(bb, profile).map_err(e)?, json);
    Ok(())
}

pub(crate) fn assignment(bb: &Remote, profile: &Profile, command: AssignmentCommand) -> Result {
    let said = match command {
        AssignmentCommand::Add {
            course,
            assignment,
            due,
            max_size,
            cutoff,
            grace,
            allow_past,
        } => {
            let spec = AssignmentSpec {
                due: when("due", &due)?,
                max_size: parse_size(&max_size)
                    .map_err(|e| Failure::usage(format!("--max-size: {e}")))?,
                cutoff: cutoff.map(|c| when("cutoff", &c)).transpose()?,
                grace_secs: parse_duration(&grace)
                    .map_err(|e| Failure::usage(format!("--grace: {e}")))?
                    .as_secs(),
                allow_past,
                course,
                assignment,
            };
            staff::put_assignment(bb, profile, &spec)
        }
        AssignmentCommand::Close { course, assignment } => {
            staff::set_open(bb, profile, &course, &assignment, false)
        }
        AssignmentCommand::Reopen { course, assignment } => {
            staff::set_open(bb, profile, &course, &assignment, true)
        }
    };
    println!("{}", said.map_err(e)?);
    Ok(())
}

pub(crate) fn status(
    bb: &Remote,
    profile: &Profile,
    course: &str,
    assignment: &str,
    json: bool,
) -> Result {
    show::status(
        &staff::status(bb, profile, course, assignment).map_err(e)?,
        json,
    );
    Ok(())
}

pub(crate) fn collect(
    bb: &Remote,
    profile: &Profile,
    course: &str,
    assignment: &str,
    out: &Path,
    as_json: bool,
) -> Result {
    let c = staff::collect(bb, profile, course, assignment, out).map_err(e)?;
    if as_json {
        handin::json::print(&json!({
            "students": c.students,
            "files": c.rows.len(),
            "fetched": c.fetched,
            "kept": c.kept,
            "bytes": c.bytes,
            "out": out.display().to_string(),
            "manifest": out.join("manifest.csv").display().to_string(),
        }));
    } else {
        println!(
            "{} file(s) of {} student(s) in {}: {} fetched ({}), {} unchanged since the last collect",
            c.rows.len(),
            c.students,
            out.display(),
            c.fetched,
            handin_core::units::size(c.bytes),
            c.kept
        );
    }
    Ok(())
}

pub(crate) fn extend(
    bb: &Remote,
    profile: &Profile,
    course: &str,
    assignment: &str,
    who: &str,
    due: &str,
) -> Result {
    let said = staff::extend(
        bb,
        profile,
        course,
        assignment,
        &student(who)?,
        when("due", due)?,
    )
    .map_err(e)?;
    println!("{said}");
    Ok(())
}

pub(crate) fn grade(bb: &Remote, profile: &Profile, g: GradeArgs) -> Result {
    let sheet;
    let inputs = match &g.csv {
        Some(path) => {
            let text = std::fs::read(path)
                .map_err(|err| Failure::file(format!("cannot read {}: {err}", path.display())))?;
            let there = |f: &Path| {
                if f.is_file() {
                    Ok(())
                } else {
                    Err(format!("feedback file {} is not there", f.display()))
                }
            };
            sheet = parse_grade_sheet(&text, path, &there)
                .map_err(|err| Failure::file(format!("{}: {err}", path.display())))?;
            staff::sheet_inputs(&sheet)
        }
        None => {
            let who = g
                .student
                .as_deref()
                .ok_or_else(|| Failure::usage("give --student and --score, or --csv"))?;
            vec![GradeInput {
                student: student(who)?,
                score: g
                    .score
                    .clone()
                    .ok_or_else(|| Failure::usage("give --score with --student"))?,
                comment: g.comment.clone(),
                feedback: g.feedback.as_deref(),
            }]
        }
    };
    let said = staff::grade(bb, profile, &g.course, &g.assignment, &inputs).map_err(e)?;
    for s in said {
        println!("{s}");
    }
    Ok(())
}

pub(crate) fn release(bb: &Remote, profile: &Profile, course: &str, assignment: &str) -> Result {
    println!(
        "{}",
        staff::release(bb, profile, course, assignment).map_err(e)?
    );
    Ok(())
}

pub(crate) fn log(bb: &Remote, profile: &Profile, course: &str, json: bool) -> Result {
    show::log(&staff::log(bb, profile, course).map_err(e)?, json);
    Ok(())
}

pub(crate) fn audit_log(
    bb: &Remote,
    cuhk: &Remote,
    profile: &Profile,
    log: &str,
    vkey: Option<&str>,
    as_json: bool,
) -> Result {
    let log = Log::parse(log).ok_or_else(|| Failure::usage(format!("--log {log:?}")))?;
    let audited = staff::audit_log(bb, cuhk, profile, log, vkey).map_err(e)?;
    show::audited_log(&audited, profile, as_json);
    if audited.passed() {
        Ok(())
    } else {
        Err(Failure::new(
            handin::cli::ErrorKind::Auth,
            format!(
                "{}'s log holds entries that are not what it should hold, listed above; the \
                 checkpoint was not saved",
                log.what()
            ),
        ))
    }
}
