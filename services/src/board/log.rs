//! Blackboard's transparency log: its key, the receipts it proves, and commitments.
//!
//! Every receipt's body is an entry of the log, appended in the transaction that records the
//! submission ([`Board::commit_batch`]: one checkpoint per batch); every commitment is one too,
//! in a transaction of its own ([`Board::commit_to`]). The key lives beside the files
//! (`DATA/log.key`, or the shared blob directory's for several nodes, which then share it).

use super::{refused, Board, BoardError};
use crate::store::{CommitmentRecord, LogRecords};
use crate::translog::{proof_at, LogWriter, ServeError, Served};
use handin_core::logs::{receipts_origin, CommitmentBody, LogProof};
use handin_core::msg::UploadOffer;
use handin_core::names::check_file_name;
use handin_core::pki::{unix_secs, StudentId};
use handin_core::rules::course::check_may_submit;
use handin_core::{Receipt, ReceiptSigner, RefusalCode};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The log key's file name, beside `files/`.
pub const LOG_KEY: &str = "log.key";

/// The origin a new Blackboard log gets: this machine's host name, `/receipts`.
pub fn default_origin() -> String {
    receipts_origin(&crate::translog::host_name())
}

impl Board {
    /// Uses the log key kept beside the store's files (made on first use).
    pub(super) fn with_log_key(mut self) -> Result<Self, BoardError> {
        let root = self.blobs.files().parent().unwrap_or(Path::new("."));
        let path = root.join(LOG_KEY);
        let writer = LogWriter::open_for(&path, &default_origin(), self.records.as_ref())
            .map_err(BoardError::Invalid)?;
        self.log = std::sync::Arc::new(writer);
        Ok(self)
    }

    /// The log's writer (its key, origin and verifier key).
    pub fn log_writer(&self) -> &LogWriter {
        &self.log
    }

    /// The object of the log at `path` (C2SP tlog-tiles), for any client.
    pub fn serve_log(&self, path: &str) -> Result<Served, ServeError> {
        crate::translog::serve(self.records.as_ref(), &self.log, path)
    }

    /// The signed receipt of a stored submission: its body (with the log's key when it was
    /// logged), signed by `signer`, with `proof` or, when none is given and the submission was
    /// logged, a proof made now against the log's latest checkpoint.
    pub fn receipt(
        &self,
        signer: &ReceiptSigner,
        record: &crate::store::StoredSubmission,
        proof: Option<LogProof>,
    ) -> Result<Receipt, BoardError> {
        let mut body = record.receipt_body();
        let proof = match (record.log_index, proof) {
            (None, _) => None,
            (Some(_), Some(p)) => Some(p),
            (Some(index), None) => Some(self.proof_now(index)?),
        };
        if proof.is_some() {
            body.log = self.log.vkey().to_owned();
        }
        let receipt = signer
            .sign(&body)
            .map_err(|e| BoardError::Invalid(format!("signing the receipt: {e}")))?;
        Ok(match proof {
            Some(p) => receipt.with_log(p),
            None => receipt,
        })
    }

    /// The proof of entry `index` against the latest checkpoint.
    fn proof_now(&self, index: u64) -> Result<LogProof, BoardError> {
        let records: &dyn LogRecords = self.records.as_ref();
        let head = records
            .log_head()?
            .ok_or_else(|| BoardError::BadDatabase(format!("log entry {index} but no log")))?;
        let hashes = proof_at(records, index, head.size).map_err(|e| match e {
            ServeError::Store(s) => BoardError::from(s),
            ServeError::NotFound(m) => BoardError::BadDatabase(format!("the log's proof: {m}")),
        })?;
        Ok(LogProof {
            index,
            hashes,
            checkpoint: head.checkpoint,
        })
    }

    /// Records and logs `student`'s commitment to the bytes `offer` describes, at `now`: the
    /// assignment must exist, take the student, be open and not yet due for them (an
    /// extension counts), and the name and size be acceptable. Answers the body and its proof.
    pub fn commit_to(
        &self,
        student: &StudentId,
        offer: &UploadOffer,
        now: SystemTime,
    ) -> Result<(CommitmentBody, LogProof), BoardError> {
        let facts = self
            .records
            .offer_facts(student, &offer.course, &offer.assignment)?;
        handin_core::rules::submission::admit(offer, facts.assignment.as_ref().map(|a| a.max_size))
            .map_err(BoardError::Refused)?;
        let Some(assignment) = facts.assignment else {
            return Err(refused(RefusalCode::Internal, "no assignment"));
        };
        check_may_submit(student, &offer.course, facts.membership).map_err(BoardError::Refused)?;
        check_file_name(&offer.file_name)
            .map_err(|e| refused(RefusalCode::BadFileName, e.to_string()))?;
        let made = self
            .records
            .student_commitments(student)?
            .iter()
            .filter(|c| c.course == offer.course && c.assignment == offer.assignment)
            .count();
        self.quota
            .check_commitments(made as u64)
            .map_err(BoardError::Refused)?;
        let window = assignment.window();
        let extension = facts.extension.map(unix_secs);
        let now = unix_secs(now);
        window.admit(now, extension).map_err(BoardError::Refused)?;
        window
            .deadline(extension)
            .may_commit(now)
            .map_err(BoardError::Refused)?;
        let body = CommitmentBody {
            student_id: student.as_str().to_owned(),
            course: offer.course.clone(),
            assignment: offer.assignment.clone(),
            file_name: offer.file_name.clone(),
            size: offer.size,
            sha256: offer.sha256,
            committed_at: now,
            log: self.log.vkey().to_owned(),
        };
        let mut tx = self.records.begin()?;
        let mut batch = self.log.start(tx.log())?;
        let index = batch.push(body.encode());
        tx.insert_commitment(&CommitmentRecord {
            student: student.clone(),
            course: offer.course.clone(),
            assignment: offer.assignment.clone(),
            file_name: offer.file_name.clone(),
            size: offer.size,
            sha256: offer.sha256,
            committed_at: SystemTime::UNIX_EPOCH + Duration::from_secs(now),
            log_index: index,
        })?;
        let sequenced = batch.finish(tx.log())?;
        tx.commit()?;
        let proof = sequenced
            .proof(index)
            .ok_or_else(|| BoardError::Invalid("the commitment's proof went missing".into()))?;
        Ok((body, proof))
    }
}
