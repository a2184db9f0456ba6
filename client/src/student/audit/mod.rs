//! `student audit`: the student's own check of both logs, over one connection to each server.
//!
//! For each log: its key is the pinned one (pinned now on first use) and its current
//! checkpoint continues the last one this profile saw. In Blackboard's log, every saved receipt
//! and commitment is still there, unchanged, and its checkpoint is consistent with the current
//! one. In CUHK's log (read in full, every bundle checked, the root recomputed), every
//! certificate issued for the student's ID is listed, and one this profile never held is an
//! alarm. Checkpoints someone else saw (`--checkpoint`) are checked against the current ones.
//! The new checkpoints are saved only if every check passed.
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | the run: both logs, CUHK's certificates, others' checkpoints, saving, export |
//! | `report.rs` | what it is given and what it answers |
//! | `statements.rs` | the saved receipts and commitments against Blackboard's log |

mod report;
mod statements;

pub use report::{
    Audit, AuditOptions, CheckpointReport, LogReport, StatementReport, StatementStatus,
};

use super::{Profile, Remote, StudentError};
use crate::error::ErrorKind;
use crate::logs::connect::cuhk_log;
use crate::logs::{
    certificates_of, check_head, compare_checkpoint, known_certificates, pin_vkey, pinned_vkey,
    remember_certificate, save_checkpoint, saved_checkpoint, Checked, Compared, Head, Log,
    LogReader, Since,
};
use crate::session::blackboard;
use handin_core::pki::{person_of, PersonId};
use statements::statements;
use std::path::{Path, PathBuf};

/// A checkpoint file given to the audit, waiting for its log.
struct Other {
    file: PathBuf,
    note: Vec<u8>,
    report: Option<CheckpointReport>,
}

/// Runs the audit (see the module's description) against Blackboard at `bb` and CUHK at
/// `cuhk`. Fails only if a server cannot be reached or refuses, or a file cannot be read or
/// written; a check that fails is an alarm in the answer, and then nothing is saved.
pub fn audit(
    bb: &Remote,
    cuhk: &Remote,
    profile: &Profile,
    options: &AuditOptions,
) -> Result<Audit, StudentError> {
    let identity = profile.identity()?;
    let (person, _) = person_of(&identity.chain[0])
        .map_err(|e| StudentError::file(format!("the certificate in your profile: {e}")))?;
    // The certificate held now is one this profile held.
    remember_certificate(profile, &identity.chain[0])?;
    let mut others = Vec::new();
    for file in &options.checkpoints {
        let note = std::fs::read(file)
            .map_err(|e| StudentError::file(format!("cannot read {}: {e}", file.display())))?;
        others.push(Other {
            file: file.clone(),
            note,
            report: None,
        });
    }
    let mut audit = Audit {
        person: person.as_str().to_owned(),
        ..Audit::default()
    };
    let mut heads = Vec::new();

    let mut session = blackboard(bb, profile)?;
    session.keep_open();
    let outcome = {
        let reader = LogReader::new("Blackboard", |path: &str| session.log_object(path));
        audit_log(
            &reader,
            Log::Blackboard,
            profile,
            &mut audit,
            &mut others,
            |reader, checked, audit| statements(reader, checked, profile, audit),
        )
    };
    session.check_pin(profile);
    session.finish();
    heads.extend(outcome?);

    let mut session = cuhk_log(cuhk, profile)?;
    let outcome = {
        let reader = LogReader::new("CUHK", |path: &str| session.log_object(path));
        audit_log(
            &reader,
            Log::Cuhk,
            profile,
            &mut audit,
            &mut others,
            |reader, checked, audit| certificates(reader, checked, profile, &person, audit),
        )
    };
    session.finish();
    heads.extend(outcome?);

    for other in others {
        let report = other.report.unwrap_or_else(|| CheckpointReport {
            file: other.file.clone(),
            log: None,
            size: None,
            outcome: "unknown_key",
            problem: Some(
                "not a checkpoint signed by the key your profile pinned for either log".into(),
            ),
        });
        if let (Some(p), "unknown_key" | "split_view") = (&report.problem, report.outcome) {
            audit.alarms.push(format!("{}: {p}", other.file.display()));
        }
        audit.checkpoints.push(report);
    }

    if audit.passed() {
        for (log, head) in &heads {
            save_checkpoint(profile, *log, head)?;
        }
        audit.saved = true;
    }
    if let Some(dir) = &options.export {
        audit.exported = export(profile, dir)?;
    }
    Ok(audit)
}

/// Whether `e` is a failed check (an alarm) rather than a failure to read the log.
pub(super) fn is_alarm(e: &StudentError) -> bool {
    e.kind() == ErrorKind::Auth
}

/// One log: its head against what the profile saw, then `more` (the log's own checks), then
/// the checkpoints of others signed by its key. Answers the head to save, if it passed.
fn audit_log(
    reader: &LogReader<'_>,
    log: Log,
    profile: &Profile,
    audit: &mut Audit,
    others: &mut [Other],
    more: impl FnOnce(&LogReader<'_>, &Checked, &mut Audit) -> Result<(), StudentError>,
) -> Result<Option<(Log, Head)>, StudentError> {
    let pinned = pinned_vkey(profile, log)?;
    let saved = match &pinned {
        Some(p) => saved_checkpoint(profile, log, p)?,
        None => None,
    };
    let mut report = LogReport {
        log,
        head: None,
        previous_size: saved.as_ref().map(Head::size),
        pinned_now: false,
        problem: None,
    };
    let checked = match check_head(reader, log, pinned.as_ref(), saved.as_ref()) {
        Ok(c) => c,
        Err(e) if is_alarm(&e) => {
            audit.alarms.push(e.message().to_owned());
            report.problem = Some(e.message().to_owned());
            audit.logs.push(report);
            if let Some(p) = &pinned {
                for other in others.iter_mut().filter(|o| o.report.is_none()) {
                    if let Ok(h) = Head::open(&other.note, &p.verifier) {
                        other.report = Some(CheckpointReport {
                            file: other.file.clone(),
                            log: Some(log),
                            size: Some(h.size()),
                            outcome: "unchecked",
                            problem: Some(format!("{}'s log failed its own checks", log.what())),
                        });
                    }
                }
            }
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if checked.pinned_now {
        pin_vkey(profile, log, &checked.pinned.vkey)?;
    }
    report.pinned_now = checked.pinned_now;
    report.head = Some(checked.head.clone());
    if let Since::Grew { from } = checked.since {
        tracing::info!(
            log = log.name(),
            from,
            to = checked.head.size(),
            "the log grew consistently"
        );
    }
    let alarms_before = audit.alarms.len();
    match more(reader, &checked, audit) {
        Ok(()) => {}
        Err(e) if is_alarm(&e) => {
            report.problem = Some(e.message().to_owned());
            audit.alarms.push(e.message().to_owned());
        }
        Err(e) => return Err(e),
    }
    for other in others.iter_mut().filter(|o| o.report.is_none()) {
        let Ok(h) = Head::open(&other.note, &checked.pinned.verifier) else {
            continue;
        };
        let (outcome, problem) = match compare_checkpoint(reader, &checked.head, &h) {
            Ok(Compared::Same) => ("same", None),
            Ok(Compared::Consistent) => ("consistent", None),
            Ok(Compared::NewerConsistent) => ("newer_consistent", None),
            Ok(Compared::Newer) => ("newer", None),
            Err(e) if is_alarm(&e) => ("split_view", Some(e.message().to_owned())),
            Err(e) => return Err(e),
        };
        other.report = Some(CheckpointReport {
            file: other.file.clone(),
            log: Some(log),
            size: Some(h.size()),
            outcome,
            problem,
        });
    }
    audit.logs.push(report);
    Ok((audit.alarms.len() == alarms_before).then_some((log, checked.head)))
}

/// Every certificate CUHK's log holds for `person`; one the profile never held is an alarm.
fn certificates(
    reader: &LogReader<'_>,
    checked: &Checked,
    profile: &Profile,
    person: &PersonId,
    audit: &mut Audit,
) -> Result<(), StudentError> {
    let known = known_certificates(profile)?.unwrap_or_default();
    audit.certificates = certificates_of(reader, &checked.head, person, &known)?;
    for c in audit.certificates.iter().filter(|c| !c.known) {
        audit.alarms.push(format!(
            "ROGUE CERTIFICATE: CUHK's log holds a certificate issued for your ID that this \
             profile never held (serial {}, valid {} to {}, SHA-256 {}, entry {} of the log{}): \
             report it to IT security",
            c.serial,
            crate::rfc3339(c.not_before),
            crate::rfc3339(c.not_after),
            c.sha256,
            c.index,
            match c.revoked_at {
                Some(at) => format!(
                    ", revoked at {}",
                    crate::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(at))
                ),
                None => ", not revoked".into(),
            }
        ));
    }
    Ok(())
}

/// Copies the profile's saved checkpoints into `dir` (`blackboard.checkpoint`,
/// `cuhk.checkpoint`); answers the files written.
fn export(profile: &Profile, dir: &Path) -> Result<Vec<PathBuf>, StudentError> {
    handin_files::create_dir(dir, 0o755)
        .map_err(|e| StudentError::file(format!("cannot create {}: {e}", dir.display())))?;
    let mut written = Vec::new();
    for log in Log::ALL {
        let from = profile.log_checkpoint(log);
        let Ok(note) = std::fs::read(&from) else {
            continue;
        };
        let to = dir.join(format!("{}.checkpoint", log.name()));
        handin_files::write_atomic(&to, &note, handin_files::PUBLIC)
            .map_err(|e| StudentError::file(format!("cannot write {}: {e}", to.display())))?;
        written.push(to);
    }
    Ok(written)
}
