//! Blackboard's group commit: every submission ready at the same moment is stored in one
//! batch ([`Board::commit_batch`](crate::board::Board::commit_batch)) on the group-commit
//! engine; each receipt is signed only after its batch committed.

use super::{refusal, Shared};
use crate::board::{BoardError, Committed, Ready};
use crate::runtime::Batcher;
use handin_core::units::size_exact;
use handin_core::{Receipt, Refusal, RefusalCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Most submissions committed in one transaction.
const MAX_BATCH: usize = 512;

/// How a submission's outcome reaches its connection (whichever protocol it came by): called
/// once with the signed receipt or the refusal. It holds the connection's promise, so one
/// dropped uncalled (a panicking job) still answers, with the promise's broken answer.
pub(super) type Reply = Box<dyn FnOnce(Result<Receipt, Refusal>) + Send>;

/// A submission waiting for the group commit, and the way its answer goes back.
pub(super) struct Pending {
    pub(super) ready: Ready,
    pub(super) answer: Reply,
}

/// The committer of submissions: a [`Batcher`] whose batches are stored by [`commit_batch`].
pub(super) fn committer(shared: Arc<Shared>) -> Batcher<Pending> {
    let batches = AtomicU64::new(0);
    Batcher::new("bb-commit", MAX_BATCH, move |batch: Vec<Pending>| {
        let n = batches.fetch_add(1, Ordering::Relaxed) + 1;
        commit_batch(&shared, n, batch);
    })
}

/// One group commit: stores the batch, logs it, and hands each submission its outcome.
fn commit_batch(shared: &Arc<Shared>, batch_no: u64, batch: Vec<Pending>) {
    let size = batch.len();
    let (ready, answers): (Vec<Ready>, Vec<_>) =
        batch.into_iter().map(|p| (p.ready, p.answer)).unzip();
    let who: Vec<(String, String)> = ready
        .iter()
        .map(|r| (r.student().to_string(), r.offer().file_name.clone()))
        .collect();
    let results = shared.board.commit_batch(ready);
    let stored = results.iter().filter(|r| r.is_ok()).count();
    if let Some(Err(e @ BoardError::Batch { .. })) = results
        .iter()
        .find(|r| matches!(r, Err(BoardError::Batch { .. })))
    {
        tracing::error!(batch = batch_no, size, error = %e, "group commit failed: its submissions are refused and their files removed");
    }
    tracing::info!(
        batch = batch_no,
        size,
        stored,
        refused = size - stored,
        "group commit"
    );
    for ((result, answer), (student, file)) in results.into_iter().zip(answers).zip(who) {
        if let Err(BoardError::Refused(r)) = &result {
            tracing::info!(batch = batch_no, %student, %file, code = ?r.code, reason = %r.reason, "refused at commit");
        }
        reply(shared, result, answer);
    }
}

/// Answers one submission of a committed batch: its refusal at once, or its receipt, signed
/// on some worker so that the committer goes on to the next batch at once.
fn reply(shared: &Arc<Shared>, result: Result<Committed, BoardError>, answer: Reply) {
    let committed = match result {
        Ok(c) => c,
        Err(e) => return answer(Err(refusal(e))),
    };
    let signer = shared.clone();
    shared.pool.spawn(move || {
        let Committed { record, proof, .. } = committed;
        tracing::info!(id = %record.id, student = %record.student, course = %record.course,
            assignment = %record.assignment, size = %size_exact(record.size), late = record.late,
            version = record.version, log_index = ?record.log_index, "stored");
        let signed = signer
            .board
            .receipt(&signer.signer, &record, proof)
            .map_err(|e| {
                tracing::error!(error = %e, "cannot sign a receipt");
                Refusal::new(
                    RefusalCode::Internal,
                    "stored, but the receipt could not be signed: list your submissions to confirm",
                )
            });
        answer(signed);
    });
}
