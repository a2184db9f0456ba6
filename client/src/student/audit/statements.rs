//! The saved receipts and commitments of a profile, each checked against Blackboard's log: still
//! there, unchanged, and consistent with the log's current checkpoint. One naming no log is a
//! receipt of before the logs if Blackboard received it before the profile pinned the log's
//! key, and an alarm if after; one naming another key than the pinned one is an alarm.

use super::{is_alarm, Audit, StatementReport, StatementStatus};
use crate::logs::{check_statement, pinned_at, Checked, Log, LogReader};
use crate::rfc3339;
use crate::session::{Profile, StudentError};
use handin_core::logs::{Commitment, LogProof};
use handin_core::Receipt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// The files in `dir` ending in `.ext`, sorted; none if there is no such directory.
fn files_in(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, StudentError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(StudentError::file(format!(
                "cannot read {}: {e}",
                dir.display()
            )))
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    Ok(files)
}

/// A statement read from a file: what it is, its logged bytes, the log it names and its proof.
struct Logged {
    what: String,
    body: Vec<u8>,
    log: String,
    proof: Option<LogProof>,
    /// When Blackboard received or signed it (seconds since the Unix epoch), as it says.
    at: u64,
}

fn read_receipt(file: &Path) -> Result<Logged, String> {
    let text = std::fs::read(file).map_err(|e| e.to_string())?;
    let receipt = Receipt::from_pem(&text).map_err(|e| e.to_string())?;
    let body = receipt.body_unverified().map_err(|e| e.to_string())?;
    Ok(Logged {
        what: body.id,
        body: receipt.body_bytes().to_vec(),
        log: body.log,
        proof: receipt.log_proof().cloned(),
        at: body.received_at,
    })
}

fn read_commitment(file: &Path) -> Result<Logged, String> {
    let text = std::fs::read(file).map_err(|e| e.to_string())?;
    let c = Commitment::from_pem(&text)?;
    let body = c.body_unverified()?;
    Ok(Logged {
        what: format!("{}/{} {}", body.course, body.assignment, body.file_name),
        body: body.encode(),
        log: body.log,
        proof: c.log_proof().cloned(),
        at: body.committed_at,
    })
}

/// Every saved receipt and commitment against Blackboard's log.
pub(super) fn statements(
    reader: &LogReader<'_>,
    checked: &Checked,
    profile: &Profile,
    audit: &mut Audit,
) -> Result<(), StudentError> {
    // Pinned by this audit if not before: then every saved statement is older.
    let pinned_at = pinned_at(profile, Log::Blackboard)?.unwrap_or(u64::MAX);
    for (dir, ext, read, receipts) in [
        (
            profile.receipts(),
            "receipt",
            read_receipt as fn(&Path) -> _,
            true,
        ),
        (profile.commitments(), "commitment", read_commitment, false),
    ] {
        for file in files_in(&dir, ext)? {
            let report = statement(reader, checked, pinned_at, &file, read(&file))?;
            if let Some(p) = report
                .problem
                .as_ref()
                .filter(|_| report.status == StatementStatus::Alarm)
            {
                audit
                    .alarms
                    .push(format!("{} {} ({}): {p}", ext, report.what, file.display()));
            }
            if receipts {
                audit.receipts.push(report);
            } else {
                audit.commitments.push(report);
            }
        }
    }
    Ok(())
}

/// One saved statement: one naming no log is of before the logs if Blackboard received it
/// before the profile pinned its log's key (`pinned_at`), an alarm if after.
fn statement(
    reader: &LogReader<'_>,
    checked: &Checked,
    pinned_at: u64,
    file: &Path,
    read: Result<Logged, String>,
) -> Result<StatementReport, StudentError> {
    let mut report = StatementReport {
        file: file.to_path_buf(),
        what: String::new(),
        index: None,
        status: StatementStatus::Ok,
        problem: None,
    };
    let logged = match read {
        Ok(l) => l,
        Err(e) => {
            report.status = StatementStatus::Unreadable;
            report.problem = Some(e);
            return Ok(report);
        }
    };
    report.what = logged.what;
    if logged.log.is_empty() {
        if logged.at < pinned_at {
            report.status = StatementStatus::NotLogged;
        } else {
            report.status = StatementStatus::Alarm;
            report.problem = Some(format!(
                "it names no log, yet Blackboard signed it at {}, after your profile pinned \
                 Blackboard's log key ({}): Blackboard kept it out of its log; report it to the \
                 course staff",
                rfc3339(UNIX_EPOCH + Duration::from_secs(logged.at)),
                rfc3339(UNIX_EPOCH + Duration::from_secs(pinned_at))
            ));
        }
        return Ok(report);
    }
    let Some(proof) = logged.proof else {
        report.status = StatementStatus::Alarm;
        report.problem = Some("it names a log but carries no proof of inclusion".into());
        return Ok(report);
    };
    report.index = Some(proof.index);
    match check_statement(
        reader,
        &checked.pinned,
        &checked.head,
        &logged.body,
        &logged.log,
        &proof,
    ) {
        Ok(_) => {}
        Err(e) if is_alarm(&e) => {
            report.status = StatementStatus::Alarm;
            report.problem = Some(e.message().to_owned());
        }
        Err(e) => return Err(e),
    }
    Ok(report)
}
