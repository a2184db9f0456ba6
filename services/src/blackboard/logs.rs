//! What Blackboard's connections ask of its transparency log, answered once for every
//! protocol (a student's, a member of staff's, a browser's): a commitment, and the log's
//! objects (checkpoint, verifier key, tiles, bundles).

use super::{refusal, Shared};
use crate::translog::ServeError;
use handin_core::logs::Commitment;
use handin_core::msg::UploadOffer;
use handin_core::pki::StudentId;
use handin_core::{Refusal, RefusalCode};
use std::time::SystemTime;

/// Logs `student`'s commitment to the bytes `offer` describes, and signs it.
pub(super) fn commit(
    shared: &Shared,
    student: &StudentId,
    offer: &UploadOffer,
) -> Result<Commitment, Refusal> {
    let (body, proof) = shared
        .board
        .commit_to(student, offer, SystemTime::now())
        .map_err(refusal)?;
    tracing::info!(%student, course = %offer.course, assignment = %offer.assignment,
        file = %offer.file_name, index = proof.index, "commitment logged");
    let signed = shared.signer.sign_commitment(&body).map_err(|e| {
        tracing::error!(error = %e, "cannot sign a commitment");
        Refusal::new(
            RefusalCode::Internal,
            "the commitment was logged but could not be signed: commit again",
        )
    })?;
    Ok(signed.with_log(proof))
}

/// The log object at `path`, with whether it may be cached forever.
pub(crate) fn object(shared: &Shared, path: &str) -> Result<(Vec<u8>, bool), Refusal> {
    match shared.board.serve_log(path) {
        Ok(served) => Ok((served.bytes, served.immutable)),
        Err(ServeError::NotFound(m)) => Err(Refusal::new(RefusalCode::NotFound, m)),
        Err(ServeError::Store(e)) => Err(refusal(e.into())),
    }
}
