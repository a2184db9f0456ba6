//! The saved receipts and commitments of a profile, each checked against Blackboard's log: still
//! there, unchanged, and consistent with the log's current checkpoint.

use super::{is_alarm, Audit, StatementReport, StatementStatus};
use crate::logs::{check_statement, Checked, LogReader};
use crate::session::{Profile, StudentError};
use handin_core::logs::{Commitment, LogProof};
use handin_core::Receipt;
use std::path::{Path, PathBuf};

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
    })
}

/// Every saved receipt and commitment against Blackboard's log.
pub(super) fn statements(
    reader: &LogReader<'_>,
    checked: &Checked,
    profile: &Profile,
    audit: &mut Audit,
) -> Result<(), StudentError> {
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
            let report = statement(reader, checked, &file, read(&file))?;
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

fn statement(
    reader: &LogReader<'_>,
    checked: &Checked,
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
        report.status = StatementStatus::NotLogged;
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
