//! Making uploads submissions, in the durability order: check and fdatasync each upload
//! ([`Board::prepare`]), then for a batch in one transaction: check each again against its
//! assignment and the quota, give it its version and late flag, rename it into place and
//! record it; fsync `files/` once; commit ([`Board::commit_batch`]).

use super::{io_err, io_refusal, refused, Board, BoardError};
use crate::store::{BoardTx, StoredSubmission, Upload};
use crate::translog::LogBatch;
use handin_core::logs::LogProof;
use handin_core::msg::UploadOffer;
use handin_core::names::check_file_name;
use handin_core::pki::{unix_secs, StudentId};
use handin_core::rules::submission;
use handin_core::RefusalCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A finished upload, checked and fdatasync'd by [`Board::prepare`], waiting for
/// [`Board::commit_batch`]. Dropped without being committed, it deletes its file.
#[derive(Debug)]
pub struct Ready {
    pub(super) upload: Upload,
    student: StudentId,
    offer: UploadOffer,
    received_at: SystemTime,
}

impl Ready {
    /// Who submitted it.
    pub fn student(&self) -> &StudentId {
        &self.student
    }

    /// What was offered.
    pub fn offer(&self) -> &UploadOffer {
        &self.offer
    }
}

/// A submission [`Board::commit_batch`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Its record.
    pub record: StoredSubmission,
    /// The due time in force for it when it was committed.
    pub due: SystemTime,
    /// The proof that the log holds its receipt's body, against the batch's checkpoint.
    pub proof: Option<LogProof>,
}

type Outcome = Option<Result<Committed, BoardError>>;

impl Board {
    /// Makes the upload a submission of `student`, or refuses it and deletes its bytes:
    /// [`Board::prepare`], then [`Board::commit_batch`] of this one submission.
    pub fn commit(
        &self,
        upload: Upload,
        student: &StudentId,
        offer: &UploadOffer,
        received_at: SystemTime,
    ) -> Result<StoredSubmission, BoardError> {
        let ready = self.prepare(upload, student, offer, received_at)?;
        match self.commit_batch(vec![ready]).pop() {
            Some(Ok(c)) => Ok(c.record),
            // Alone in its batch: the batch's failure is this submission's.
            Some(Err(BoardError::Batch { cause, .. })) => Err(Arc::try_unwrap(cause)
                .unwrap_or_else(|shared| BoardError::Invalid(shared.to_string()))),
            Some(Err(e)) => Err(e),
            None => Err(BoardError::Invalid("a batch of one came back empty".into())),
        }
    }

    /// Checks a finished upload and makes its bytes durable, ready for
    /// [`Board::commit_batch`]; or refuses it and deletes its bytes.
    ///
    /// In this order: the size and SHA-256 of the bytes written must match the offer
    /// (`SizeMismatch`, `HashMismatch`; the SHA-256 only for an upload that hashed its bytes:
    /// one from [`Board::begin_checked_upload`] was checked by its caller) and the file name must be acceptable (`BadFileName`);
    /// then the file's data is fdatasync'd. The assignment is checked by
    /// [`Board::commit_batch`], as it is when the record is written. Several uploads can be
    /// prepared at once on several threads.
    pub fn prepare(
        &self,
        upload: Upload,
        student: &StudentId,
        offer: &UploadOffer,
        received_at: SystemTime,
    ) -> Result<Ready, BoardError> {
        if upload.failed() {
            return Err(refused(
                RefusalCode::Storage,
                "the server could not write your whole file; send it again",
            ));
        }
        if upload.written() != offer.size {
            return Err(refused(
                RefusalCode::SizeMismatch,
                format!(
                    "received {} bytes but the offer declared {}; send the file again",
                    upload.written(),
                    offer.size
                ),
            ));
        }
        // An upload without its own hash was checked against the offer as it arrived.
        if upload.sha256().is_some_and(|sha| sha != offer.sha256) {
            return Err(refused(
                RefusalCode::HashMismatch,
                "the bytes received do not match the declared SHA-256; send the file again",
            ));
        }
        check_file_name(&offer.file_name).map_err(|e| {
            refused(
                RefusalCode::BadFileName,
                format!("{e}; rename the file and submit again"),
            )
        })?;
        upload.sync_data().map_err(io_refusal)?;
        Ok(Ready {
            upload,
            student: student.clone(),
            offer: offer.clone(),
            received_at,
        })
    }

    /// Stores prepared submissions together: one result per submission, in the same order.
    ///
    /// In one transaction, each submission in turn is checked again against its assignment
    /// as it is now (`NoSuchAssignment`, `TooLarge`) and the quota (`Quota`, counting those
    /// earlier in the batch): that one alone is refused. It is given its version
    /// ([`submission::next_version`], counting those earlier in the batch) and late flag
    /// (against the due time in force for its student: the assignment's, or the student's
    /// extension), renamed to `files/<id>` (if that fails, that one alone is
    /// refused) and recorded; then `files/` is fsync'd once and the transaction committed. If
    /// the database or the fsync fails, the whole batch fails with [`BoardError::Batch`] and
    /// the renamed files are removed again: no file without a record, no record without a
    /// file.
    pub fn commit_batch(&self, batch: Vec<Ready>) -> Vec<Result<Committed, BoardError>> {
        let size = batch.len();
        let mut batch = batch;
        let mut results: Vec<Outcome> = batch.iter().map(|_| None).collect();
        // (index in the batch, id) of every file renamed into place.
        let mut placed: Vec<(usize, String)> = Vec::new();
        let outcome = self.record_batch(&mut batch, &mut results, &mut placed);
        if let Err(cause) = outcome {
            let kept = self.undo_placed(&placed, &cause);
            let cause = Arc::new(cause);
            for (i, r) in results.iter_mut().enumerate() {
                // A submission refused on its own stays refused for its own reason.
                let own_refusal = matches!(r, Some(Err(_)));
                if !own_refusal && !kept.contains(&i) {
                    *r = Some(Err(BoardError::Batch {
                        size,
                        cause: cause.clone(),
                    }));
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(BoardError::Invalid(
                        "a submission of the batch was skipped".into(),
                    ))
                })
            })
            .collect()
    }

    /// The transaction of [`Board::commit_batch`]. Fills `results` for every submission (a
    /// refusal, or the record it will have once committed) and `placed`; an error is a
    /// failure of the whole batch.
    fn record_batch(
        &self,
        batch: &mut [Ready],
        results: &mut [Outcome],
        placed: &mut Vec<(usize, String)>,
    ) -> Result<(), BoardError> {
        let mut tx = self.records.begin()?;
        let mut log = self.log.start(tx.log())?;
        for (i, item) in batch.iter_mut().enumerate() {
            results[i] = self.record_one(tx.as_mut(), &mut log, item, i, placed)?;
        }
        // Every receipt of the batch in the log, under one checkpoint, in this transaction.
        let sequenced = log.finish(tx.log())?;
        for c in results.iter_mut().flatten().flatten() {
            c.proof = c.record.log_index.and_then(|i| sequenced.proof(i));
        }
        if !placed.is_empty() {
            self.blobs.sync().map_err(io_err(format!(
                "making the new files in {} durable (fsync)",
                self.blobs.files().display()
            )))?;
        }
        tx.commit()?;
        Ok(())
    }

    /// One submission of a batch: its own refusal, or its record (written in `tx`). An error
    /// is a failure of the whole batch.
    fn record_one(
        &self,
        tx: &mut dyn BoardTx,
        log: &mut LogBatch<'_>,
        item: &mut Ready,
        i: usize,
        placed: &mut Vec<(usize, String)>,
    ) -> Result<Outcome, BoardError> {
        let offer = &item.offer;
        // Read inside the transaction: those recorded earlier in this batch count too.
        let facts = tx.record_facts(
            &item.student,
            &offer.course,
            &offer.assignment,
            &offer.file_name,
            offer.size,
            &offer.sha256,
        )?;
        if let Err(r) = submission::admit(offer, facts.assignment.as_ref().map(|a| a.max_size)) {
            return Ok(Some(Err(BoardError::Refused(r))));
        }
        let Some(assignment) = facts.assignment else {
            return Ok(Some(Err(refused(RefusalCode::Internal, "no assignment"))));
        };
        if let Err(r) = self.quota.check(facts.usage, offer.size) {
            return Ok(Some(Err(BoardError::Refused(r))));
        }
        if i64::try_from(offer.size).is_err() {
            return Ok(Some(Err(refused(
                RefusalCode::TooLarge,
                "the file is too large",
            ))));
        }
        let earlier = facts.versions;
        let id = match self.blobs.fresh_id() {
            Ok(id) => id,
            Err(e) => return Ok(Some(Err(io_refusal(e)))),
        };
        if let Err(e) = self.blobs.place(&mut item.upload, &id) {
            return Ok(Some(Err(io_refusal(e))));
        }
        placed.push((i, id.clone()));
        let received = unix_secs(item.received_at);
        let deadline = assignment.window().deadline(facts.extension.map(unix_secs));
        let due = SystemTime::UNIX_EPOCH + Duration::from_secs(deadline.due());
        let committed = facts.committed_at.map(unix_secs);
        let grace = assignment.grace.as_secs();
        // The commitment that made it on time, if one did.
        let committed_at = deadline
            .saved_by(received, committed, grace)
            .then(|| committed.map(|c| SystemTime::UNIX_EPOCH + Duration::from_secs(c)))
            .flatten();
        let mut record = StoredSubmission {
            id,
            student: item.student.clone(),
            course: offer.course.clone(),
            assignment: offer.assignment.clone(),
            file_name: offer.file_name.clone(),
            size: offer.size,
            sha256: offer.sha256,
            received_at: SystemTime::UNIX_EPOCH + Duration::from_secs(received),
            late: deadline.is_late_committed(received, committed, grace),
            version: submission::next_version(earlier),
            due,
            committed_at,
            log_index: None,
        };
        // Its receipt's body (naming the log) is the log's next entry.
        let mut body = record.receipt_body();
        body.log = self.log.vkey().to_owned();
        record.log_index = Some(log.push(body.encode()));
        tx.insert(&record)?;
        Ok(Some(Ok(Committed {
            record,
            due,
            proof: None,
        })))
    }

    /// After a failed batch: removes the placed files whose records are not in the database,
    /// and returns the batch indexes of those that are (a commit that reported an error but
    /// took effect). If the database cannot say, every file stays (a file without a record is
    /// never served; a record without its file would be a lost submission).
    fn undo_placed(&self, placed: &[(usize, String)], cause: &BoardError) -> Vec<usize> {
        let mut kept = Vec::new();
        let mut removed = 0;
        for (i, id) in placed {
            match self.records.is_recorded(id) {
                Ok(true) => kept.push(*i),
                Ok(false) => match self.blobs.remove(id) {
                    Ok(()) => removed += 1,
                    Err(e) => tracing::error!(path = %self.blobs.path(id).display(), error = %e,
                        "cannot remove the file of a submission that was not recorded"),
                },
                Err(e) => tracing::error!(%id, error = %e, %cause,
                    "after a failed commit, cannot tell whether this submission was recorded: its file stays"),
            }
        }
        if removed > 0 {
            if let Err(e) = self.blobs.sync() {
                tracing::warn!(error = %e, "fsync of files/ after removing unrecorded files");
            }
        }
        kept
    }
}
