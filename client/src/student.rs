//! The student's side: the profile directory and the commands enroll, renew, commit, submit,
//! list, fetch, verify-receipt, audit and export-p12, each written once against any transport's
//! [`Link`].

mod audit;
mod commit;
mod enroll;
mod grades;
mod output;
mod p12;
mod pin;
mod verify;

pub use audit::{
    audit, Audit, AuditOptions, CheckpointReport, LogReport, StatementReport, StatementStatus,
};
pub use commit::{commit, Committed};
pub(crate) use enroll::enroll_person;
pub use enroll::{enroll, refuse_enrolled, renew, student_enroll_id, Enrolled, ExternalKey, Trust};
pub use grades::{feedback, feedback_to, grades};
pub use output::Destination;
pub use p12::{export_p12, ExportedP12, PasswordSource};
pub use pin::{describe_server, pin_blackboard, Pinned, Standing};
pub use verify::{verify_receipt, LogKey, LoggedAt, Verified};

pub use crate::session::{explain, kind_of, ErrorKind, Profile, Remote, StudentError};

use crate::printable;
use crate::session::{blackboard, fail, nothing_more, progress_bar, Session};
use crate::upload::FileUpload;
use handin_core::msg::{StreamedOffer, SubmissionEntry, UploadOffer};
use handin_core::submit::{Sha256, SubmitClientProtocol};
use handin_core::{ReceiptBody, SubmitClient, SubmitClientEvent, UsageError};
use handin_files::{self as fsio, PUBLIC};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

impl Session<SubmitClientProtocol> {
    /// After an exchange: checks the certificate Blackboard presented against the profile's
    /// pinned one (pinning it if there is none).
    pub(crate) fn check_pin(&self, profile: &Profile) {
        if self.welcomed {
            if let Some(cert) = self.conn.peer_certificate() {
                pin::observe(profile, cert);
            }
        }
    }
}

/// Checks a submission id Blackboard sent, before it is used (as a file name, say).
fn check_id_from_server(id: &str, then: &str) -> Result<(), StudentError> {
    handin_core::names::check_submission_id(id).map_err(|_| {
        StudentError::other(format!(
            "Blackboard sent a malformed submission id {id:?} (an id is 1 to 64 letters, digits, '_' or '-'); {then}"
        ))
    })
}

/// What a submission produced.
#[derive(Debug)]
pub struct Submitted {
    /// What the receipt attests.
    pub body: ReceiptBody,
    /// Where the receipt was saved.
    pub receipt_path: PathBuf,
    /// Its index in Blackboard's log (`None`: Blackboard does not log receipts).
    pub log_index: Option<u64>,
}

/// Refuses a directory where a file is wanted, before its name is looked at.
pub(crate) fn refuse_directory(path: &Path) -> Result<(), StudentError> {
    if path.is_dir() {
        return fail(
            ErrorKind::File,
            format!(
                "{} is a directory, not a file: give a file (pack a folder into one .zip or \
                 .tar.gz first)",
                path.display()
            ),
        );
    }
    Ok(())
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

/// What `file` is offered to `course`/`assignment` as (to submit, or to commit to): its name,
/// size and SHA-256 (hashed as it is read), once the names are checked.
pub(crate) fn offer_of(
    file: &Path,
    course: &str,
    assignment: &str,
) -> Result<UploadOffer, StudentError> {
    let named = named_offer(file, course, assignment)?;
    let (size, sha256) = hash_file(file)?;
    Ok(StreamedOffer { size, ..named }.with_sha256(sha256))
}

/// What `file` is offered to `course`/`assignment` as, before its SHA-256 is known: its name
/// and its size now, once the names are checked.
fn named_offer(file: &Path, course: &str, assignment: &str) -> Result<StreamedOffer, StudentError> {
    refuse_directory(file)?;
    let file_name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| StudentError::file(format!("{} has no usable file name", file.display())))?
        .to_owned();
    handin_core::names::check_file_name(&file_name)
        .map_err(|e| StudentError::file(format!("{e}: rename the file")))?;
    handin_core::names::check_label("course", course)
        .map_err(|e| StudentError::usage(e.to_string()))?;
    handin_core::names::check_label("assignment", assignment)
        .map_err(|e| StudentError::usage(e.to_string()))?;
    let size = std::fs::metadata(file)
        .map_err(|e| StudentError::file(format!("cannot read {}: {e}", file.display())))?
        .len();
    Ok(StreamedOffer {
        course: course.into(),
        assignment: assignment.into(),
        file_name,
        size,
    })
}

/// The request that offers `named`: streamed (hashed as it is sent, the file read once) if the
/// server takes it, else with its SHA-256 up front (the file read twice). A failure to hash
/// the file is kept in `failed`.
fn offer_request<'a>(
    file: &'a Path,
    named: StreamedOffer,
    failed: &'a mut Option<StudentError>,
) -> impl FnOnce(&mut SubmitClient) -> Result<(), UsageError> + 'a {
    move |c| {
        if c.streams_digests() {
            return c.submit_streamed(named);
        }
        let hashed = hash_file(file).and_then(|(size, sha256)| {
            if size == named.size {
                Ok(sha256)
            } else {
                Err(StudentError::file(format!(
                    "{} changed size while it was being read: send it again",
                    file.display()
                )))
            }
        });
        match hashed {
            Ok(sha256) => c.submit(named.with_sha256(sha256)),
            Err(e) => {
                *failed = Some(e);
                Err(UsageError("the file could not be hashed"))
            }
        }
    }
}

/// Submits `file` to `course`/`assignment`; saves and returns the verified receipt.
pub fn submit(
    remote: &Remote,
    profile: &Profile,
    file: &Path,
    course: &str,
    assignment: &str,
) -> Result<Submitted, StudentError> {
    let named = named_offer(file, course, assignment)?;
    let size = named.size;
    let mut bb = blackboard(remote, profile)?;
    let mut upload = FileUpload::open(file, size, "uploading")?;
    let mut hash_failed = None;
    let result = bb.exchange(
        offer_request(file, named, &mut hash_failed),
        |ev| match ev {
            SubmitClientEvent::Receipt { receipt, body } => Some(Ok((receipt, body))),
            SubmitClientEvent::Refused(r) => Some(fail(ErrorKind::Refused, submit_refusal(&r))),
            _ => None,
        },
        // Stream the file while the transport keeps up.
        |c, progress| upload.pump(c, progress),
    );
    drop(upload);
    bb.check_pin(profile);
    let signer = bb.conn.peer_certificate().map(<[u8]>::to_vec);
    if let Some(e) = hash_failed {
        return Err(e);
    }
    let (receipt, body) = result?;
    // The id names the receipt's file: it must be a plain name.
    check_id_from_server(
        &body.id,
        "the receipt was not saved. Blackboard may be compromised: tell the course staff",
    )?;
    let receipts = profile.receipts();
    fsio::create_dir(&receipts, 0o700)
        .map_err(|e| StudentError::file(format!("cannot create {}: {e}", receipts.display())))?;
    let receipt_path = receipts.join(format!("{}.receipt", body.id));
    // The receipt, then the certificate whose key signed it: `verify-receipt` then tells a
    // receipt signed by another key from one altered since.
    let mut pem = receipt.to_pem();
    if let Some(cert) = signer.filter(|c| receipt.verify(c).is_ok()) {
        pem.push_str(&handin_core::pki::to_pem("CERTIFICATE", &cert));
    }
    fsio::write_atomic(&receipt_path, pem.as_bytes(), PUBLIC).map_err(|e| {
        StudentError::file(format!(
            "stored on Blackboard as {}, but the receipt could not be saved to {}: {e}",
            body.id,
            receipt_path.display()
        ))
    })?;
    crate::logs::observe_blackboard_vkey(profile, &body.log).map_err(|e| {
        e.context(format!(
            "Blackboard answered with a receipt its pinned log does not hold; the file may have \
             been stored as {}: the receipt was saved to {} as evidence: run `student list` \
             and `student audit`, and report it to the course staff",
            body.id,
            receipt_path.display()
        ))
    })?;
    Ok(Submitted {
        log_index: receipt.log_proof().map(|p| p.index),
        body,
        receipt_path,
    })
}

fn submit_refusal(r: &handin_core::Refusal) -> String {
    format!(
        "Blackboard refused the submission: {}",
        printable::text(&r.reason)
    )
}

/// Lists the student's submissions.
pub fn list(
    remote: &Remote,
    profile: &Profile,
    course: Option<&str>,
) -> Result<Vec<SubmissionEntry>, StudentError> {
    let mut bb = blackboard(remote, profile)?;
    let mut entries = Vec::new();
    let result = bb.exchange(
        |c| c.list(course),
        |ev| match ev {
            SubmitClientEvent::ListEntry(e) => {
                entries.push(e);
                None
            }
            SubmitClientEvent::ListEnd => Some(Ok(())),
            SubmitClientEvent::Refused(r) => Some(fail(
                ErrorKind::Refused,
                format!(
                    "Blackboard refused the listing: {}",
                    printable::text(&r.reason)
                ),
            )),
            _ => None,
        },
        nothing_more,
    );
    bb.check_pin(profile);
    result?;
    for e in &entries {
        check_id_from_server(
            &e.id,
            "Blackboard may be compromised: tell the course staff",
        )?;
    }
    Ok(entries)
}

/// Fetches submission `id` into `out` (written in full and verified before it appears),
/// replacing a file there.
pub fn fetch(
    remote: &Remote,
    profile: &Profile,
    id: &str,
    out: &Path,
) -> Result<SubmissionEntry, StudentError> {
    fetch_to(remote, profile, id, Destination::File(out), true).map(|f| f.entry)
}

/// What [`fetch_to`] fetched, and where it put it.
#[derive(Debug)]
pub struct Fetched {
    /// The submission.
    pub entry: SubmissionEntry,
    /// The file written.
    pub path: PathBuf,
}

/// Fetches submission `id` to `dest` (written in full and verified before it appears). An
/// existing file there is replaced only if `overwrite`; otherwise it is refused before
/// connecting when the path is known, and in any case when the file would land.
pub fn fetch_to(
    remote: &Remote,
    profile: &Profile,
    id: &str,
    dest: Destination<'_>,
    overwrite: bool,
) -> Result<Fetched, StudentError> {
    handin_core::names::check_submission_id(id).map_err(|e| {
        StudentError::usage(format!(
            "{e}: give an id as `student list` shows it (such as SABCDEFGHIJKLMNOPQRST)"
        ))
    })?;
    if let Destination::File(out) = dest {
        output::check_free(out, overwrite)?;
    }
    let mut bb = blackboard(remote, profile)?;
    let mut tmp = tempfile_in(dest.dir())?;
    let mut entry: Option<SubmissionEntry> = None;
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut got = 0u64;
    let result = bb.exchange(
        |c| c.fetch(id),
        |ev| match ev {
            SubmitClientEvent::FetchBegin(e) => {
                bar = progress_bar(e.size, "fetching");
                entry = Some(e);
                None
            }
            SubmitClientEvent::FetchData(d) => {
                got += d.len() as u64;
                if let Some(b) = &bar {
                    b.set_position(got);
                }
                if let Err(e) = std::io::Write::write_all(&mut tmp.1, &d) {
                    return Some(fail(
                        ErrorKind::File,
                        format!("cannot write {}: {e}", tmp.0.display()),
                    ));
                }
                None
            }
            SubmitClientEvent::FetchEnd => Some(Ok(())),
            SubmitClientEvent::Refused(r) => Some(fail(
                ErrorKind::Refused,
                format!(
                    "Blackboard refused the fetch: {}",
                    printable::text(&r.reason)
                ),
            )),
            _ => None,
        },
        nothing_more,
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    bb.check_pin(profile);
    let finish = result.and_then(|()| {
        let entry = entry.ok_or_else(|| StudentError::other("Blackboard sent no submission"))?;
        let path = dest.path(&entry.file_name)?;
        tmp.1
            .sync_all()
            .map_err(|e| StudentError::file(format!("cannot write {}: {e}", tmp.0.display())))?;
        output::place(&tmp.0, &path, overwrite)?;
        Ok(Fetched { entry, path })
    });
    if finish.is_err() {
        let _ = std::fs::remove_file(&tmp.0);
    }
    finish
}

pub(crate) fn tempfile_in(dir: &Path) -> Result<(PathBuf, File), StudentError> {
    for i in 0..100u32 {
        let p = dir.join(format!(".handin-fetch-{}-{i}.part", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return fail(
                    ErrorKind::File,
                    format!("cannot write in {}: {e}", dir.display()),
                )
            }
        }
    }
    fail(
        ErrorKind::File,
        format!("cannot create a temporary file in {}", dir.display()),
    )
}
