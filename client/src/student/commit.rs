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

/// The name a commitment is saved under: `COURSE-ASSIGNMENT-TIME-SHA.commitment`, or, if
/// that is taken (two commitments to the same file in the same second),
/// `COURSE-ASSIGNMENT-TIME-SHA-N.commitment` with `N` from 2 (the course and assignment are
/// plain names Blackboard checked against ours).
fn file_name(body: &CommitmentBody, n: u32) -> String {
    let time =
        crate::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(body.committed_at))
            .replace([':', '-'], "");
    let suffix = if n > 1 {
        format!("-{n}")
    } else {
        String::new()
    };
    format!(
        "{}-{}-{time}-{}{suffix}.commitment",
        body.course,
        body.assignment,
        &hex(&body.sha256)[..16]
    )
}

/// Saves `pem` in `dir` under a name of its own (created new: an earlier commitment is never
/// overwritten); answers the path.
fn save_new(dir: &Path, body: &CommitmentBody, pem: &[u8]) -> Result<PathBuf, StudentError> {
    let mut last = None;
    for n in 1..=1000 {
        let path = dir.join(file_name(body, n));
        match fsio::write_new(&path, pem, PUBLIC) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(path),
            Err(e) => {
                return Err(StudentError::file(format!(
                    "cannot write {}: {e}",
                    path.display()
                )))
            }
        }
    }
    Err(StudentError::file(format!(
        "cannot save the commitment: {} and a thousand others like it exist",
        last.map_or_else(|| dir.display().to_string(), |p| p.display().to_string())
    )))
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
    let mut pem = commitment.to_pem();
    if let Some(cert) = &signer {
        pem.push_str(&handin_core::pki::to_pem("CERTIFICATE", cert));
    }
    let path = save_new(&dir, &body, pem.as_bytes()).map_err(|e| {
        e.context(format!(
            "Blackboard logged the commitment (entry {index} of its log), but it could not be \
             saved; commit again to get another copy"
        ))
    })?;
    crate::logs::observe_blackboard_vkey(profile, &body.log).map_err(|e| {
        e.context(format!(
            "Blackboard answered with a commitment its pinned log does not hold (saved to {} \
             as evidence): run `student audit`, and report it to the course staff",
            path.display()
        ))
    })?;
    Ok(Committed {
        body,
        path,
        index,
        checkpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitments_in_the_same_second_to_the_same_file_are_all_kept() {
        let dir = std::env::temp_dir().join(format!("handin-commit-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let body = CommitmentBody {
            student_id: "1155000001".into(),
            course: "CSCI3180".into(),
            assignment: "asg1".into(),
            file_name: "a.zip".into(),
            size: 3,
            sha256: [9; 32],
            committed_at: 1_700_000_000,
            log: String::new(),
        };
        let first = save_new(&dir, &body, b"first").expect("first");
        let second = save_new(&dir, &body, b"second").expect("second");
        let third = save_new(&dir, &body, b"third").expect("third");
        assert_ne!(first, second);
        assert_ne!(second, third);
        assert_eq!(std::fs::read(&first).expect("read"), b"first");
        assert_eq!(std::fs::read(&second).expect("read"), b"second");
        assert_eq!(std::fs::read(&third).expect("read"), b"third");
        assert!(
            second.to_string_lossy().ends_with("-2.commitment"),
            "{}",
            second.display()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
