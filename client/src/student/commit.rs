//! `student commit`: before an assignment's due time, Blackboard signs and logs a promise of
//! the bytes the student will hand in (file name, size, SHA-256), without the bytes. A
//! submission of exactly those bytes received after the due time but within the assignment's
//! grace period counts as on time. The commitment is saved in `commitments/`, with the
//! certificate whose key signed it, as a receipt is.

use super::{offer_of, Profile, Remote, StudentError};
use crate::error::ErrorKind;
use crate::printable;
use crate::session::{blackboard, fail, nothing_more};
use handin_core::logs::{Commitment, CommitmentBody};
use handin_core::submit::hex;
use handin_core::tlog::Checkpoint;
use handin_core::SubmitClientEvent;
use handin_files::{self as fsio, PUBLIC};
use std::path::{Path, PathBuf};

/// What a commitment produced.
#[derive(Debug)]
pub struct Committed {
    /// What Blackboard signed and logged.
    pub body: CommitmentBody,
    /// Where the commitment was saved.
    pub path: PathBuf,
    /// Its index in Blackboard's log.
    pub index: u64,
    /// The checkpoint of Blackboard's log its proof leads to (checked).
    pub checkpoint: Checkpoint,
}

/// The file a commitment is saved in: `COURSE-ASSIGNMENT-TIME-SHA.commitment` (the course and
/// assignment are plain names Blackboard checked against ours).
fn file_name(body: &CommitmentBody) -> String {
    let time =
        crate::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(body.committed_at))
            .replace([':', '-'], "");
    format!(
        "{}-{}-{time}-{}.commitment",
        body.course,
        body.assignment,
        &hex(&body.sha256)[..16]
    )
}

/// Commits to `file` for `course`/`assignment`: hashes it, asks Blackboard for a signed,
/// logged commitment (checked: signature, log proof, and that it describes the file), saves it
/// and returns it.
pub fn commit(
    remote: &Remote,
    profile: &Profile,
    file: &Path,
    course: &str,
    assignment: &str,
) -> Result<Committed, StudentError> {
    let offer = offer_of(file, course, assignment)?;
    let mut bb = blackboard(remote, profile)?;
    let result = bb.exchange(
        |c| c.commit(offer),
        |ev| match ev {
            SubmitClientEvent::Commitment { commitment, body } => Some(Ok((commitment, body))),
            SubmitClientEvent::Refused(r) => Some(fail(
                ErrorKind::Refused,
                format!(
                    "Blackboard refused the commitment: {}",
                    printable::text(&r.reason)
                ),
            )),
            _ => None,
        },
        nothing_more,
    );
    bb.check_pin(profile);
    let signer = bb.conn.peer_certificate().map(<[u8]>::to_vec);
    let (commitment, body): (Commitment, CommitmentBody) = result?;
    let checked = signer
        .as_deref()
        .ok_or_else(|| StudentError::auth("Blackboard presented no certificate"))
        .and_then(|cert| {
            commitment
                .verify(cert)
                .map_err(|e| StudentError::auth(format!("the commitment does not verify: {e}")))
        })?;
    let (_, checkpoint) = checked;
    let index = commitment.log_proof().map_or(0, |p| p.index);
    let dir = profile.commitments();
    fsio::create_dir(&dir, 0o700)
        .map_err(|e| StudentError::file(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(file_name(&body));
    let mut pem = commitment.to_pem();
    if let Some(cert) = &signer {
        pem.push_str(&handin_core::pki::to_pem("CERTIFICATE", cert));
    }
    fsio::write_atomic(&path, pem.as_bytes(), PUBLIC).map_err(|e| {
        StudentError::file(format!(
            "Blackboard logged the commitment (entry {index} of its log), but it could not be \
             saved to {}: {e}; commit again to get another copy",
            path.display()
        ))
    })?;
    crate::logs::observe_blackboard_vkey(profile, &body.log);
    Ok(Committed {
        body,
        path,
        index,
        checkpoint,
    })
}
