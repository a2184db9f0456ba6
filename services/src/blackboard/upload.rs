//! One connection's uploads: the bytes received and not yet written, their way to the disk,
//! and the backpressure that stops reading from a student whose bytes wait.
//!
//! The upload in progress (its temporary file) is owned by the connection's [`Strand`]: the
//! jobs that start it, write to it, finish it or abort it each get it in turn, in the order
//! the connection queued them, and no job keeps it past its end. A job that panics loses it
//! (the strand drops it, removing its file): that upload is refused anyway, as the job's
//! promise broke.
//!
//! Two limits stop reading from a student's socket (so TCP's window closes on them):
//! [`DISK_HIGH_WATER`] of their own upload waiting for the disk, and the server-wide upload
//! buffer ([`Budget`]) being spent.

use super::commit::Pending;
use super::{failed, refusal, Shared};
use crate::board::io_refusal;
use crate::runtime::{Batcher, Budget, Inbox, Pool, Promise, Strand, Waiter};
use crate::store::Upload;
use arc_swap::ArcSwap;
use handin_core::driver::Notify;
use handin_core::msg::UploadOffer;
use handin_core::pki::StudentId;
use handin_core::{Receipt, Refusal, RefusalCode, ServerConfig};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// Stop reading from a student while this many uploaded bytes wait for the disk.
const DISK_HIGH_WATER: usize = 4 * 1024 * 1024;

/// The room a new batch of upload bytes starts with: what one socket read usually brings.
const FLUSH_ROOM: usize = 256 * 1024;

/// The answers a connection's upload jobs send it, whichever protocol it speaks.
pub(super) trait UploadDone: Send + 'static {
    /// The verdict on an offer (a temporary file is ready if it is `Ok`).
    fn offer(verdict: Result<(), Refusal>) -> Self;
    /// A write to the upload's file failed.
    fn write_failed(refusal: Refusal) -> Self;
    /// The upload was stored (its signed receipt) or refused.
    fn stored(outcome: Result<Receipt, Refusal>) -> Self;
}

/// An upload whose last byte arrived, as the core reported it.
pub(super) struct Finished {
    /// Who uploaded it (from their certificate).
    pub(super) student: StudentId,
    /// The serial of that certificate, checked against the CRL in force before the commit.
    pub(super) serial: Vec<u8>,
    /// What was offered.
    pub(super) offer: UploadOffer,
    /// When the last byte arrived.
    pub(super) received_at: SystemTime,
    /// The offer was made before the bytes were known (a browser's form): its size and
    /// SHA-256 are taken from what was received, and it is admitted again with them.
    pub(super) measured: bool,
}

/// A connection's upload state; its jobs answer with `D`.
pub(super) struct Uploads<D> {
    /// Runs the connection's upload jobs in order, and owns the upload in progress.
    strand: Strand<Option<Upload>>,
    /// The group commit the finished uploads go to.
    committer: Batcher<Pending>,
    budget: Arc<Budget>,
    waiter: Waiter,
    notify: Notify,
    /// An offer was ever handed to a worker, so the strand may hold a file to clean up.
    offered: bool,
    /// Between accepting an offer and the end of its data: reads are upload bytes, and wait
    /// for room in the upload buffer.
    uploading: bool,
    /// A write of the current upload failed and was reported: the writes queued behind it fail
    /// the same way, and are not reported again.
    write_failed: bool,
    /// Upload bytes received but not yet handed to a worker (charged to the budget).
    unwritten: Vec<u8>,
    /// Upload bytes handed to workers and not yet written.
    disk_pending: Arc<AtomicUsize>,
    answers: std::marker::PhantomData<fn() -> D>,
}

impl<D: UploadDone> Uploads<D> {
    pub(super) fn new(committer: Batcher<Pending>, budget: Arc<Budget>, notify: Notify) -> Self {
        Self {
            strand: Strand::default(),
            committer,
            waiter: Waiter::new(notify.clone()),
            budget,
            notify,
            offered: false,
            uploading: false,
            write_failed: false,
            unwritten: Vec::new(),
            disk_pending: Arc::new(AtomicUsize::new(0)),
            answers: std::marker::PhantomData,
        }
    }

    /// Upload bytes arrived: held (and charged to the budget) until [`Uploads::flush`].
    pub(super) fn received(&mut self, bytes: &[u8]) {
        self.budget.charge(bytes.len());
        if self.unwritten.is_empty() {
            // Room for one socket read's worth at once, not a doubling per frame.
            self.unwritten.reserve(bytes.len().max(FLUSH_ROOM));
        }
        self.unwritten.extend_from_slice(bytes);
    }

    /// Whether to read more from the student now.
    pub(super) fn wants_read(&self) -> bool {
        if self.disk_pending.load(Ordering::SeqCst) >= DISK_HIGH_WATER {
            return false;
        }
        // Only upload bytes wait for the shared buffer: handshakes and requests never do.
        !self.uploading || self.budget.has_room(&self.waiter)
    }

    /// An offer: checked against its assignment and the student's quota, and given a
    /// temporary file, on the strand; the verdict comes back as [`UploadDone::offer`].
    /// `checked`: the core checks the bytes against the offer's SHA-256 as they arrive, so
    /// the file does not hash them again; otherwise (a form's upload, [`Finished::measured`])
    /// the file measures them.
    pub(super) fn offer(
        &mut self,
        shared: &Arc<Shared>,
        inbox: &Inbox<D>,
        student: StudentId,
        offer: UploadOffer,
        checked: bool,
    ) {
        self.offered = true;
        let shared = shared.clone();
        let answer = Promise::new(inbox.clone(), || D::offer(Err(failed())));
        self.strand.run(&shared.pool.clone(), move |slot| {
            let verdict = (|| {
                shared
                    .board
                    .admit(&student, &offer, SystemTime::now())
                    .map_err(refusal)?;
                let upload = if checked {
                    shared.board.begin_checked_upload()
                } else {
                    shared.board.begin_upload()
                }
                .map_err(refusal)?;
                *slot = Some(upload);
                Ok(())
            })();
            answer.keep(D::offer(verdict));
        });
    }

    /// The core took the offer (`accepted`), or did not.
    pub(super) fn started(&mut self, accepted: bool) {
        self.uploading = accepted;
        self.write_failed = false;
    }

    /// A write failed: whether this is the first failure of the upload (to report).
    pub(super) fn first_failure(&mut self) -> bool {
        !std::mem::replace(&mut self.write_failed, true)
    }

    /// Hands the upload bytes received so far to the strand, which writes them to the upload's
    /// file and gives their room in the budget back.
    pub(super) fn flush(&mut self, pool: &Pool, inbox: &Inbox<D>) {
        if self.unwritten.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.unwritten);
        let n = bytes.len();
        self.disk_pending.fetch_add(n, Ordering::SeqCst);
        let handed = Handed {
            n,
            budget: self.budget.clone(),
            pending: self.disk_pending.clone(),
            notify: self.notify.clone(),
        };
        let answer = Promise::new(inbox.clone(), || D::write_failed(failed()));
        self.strand.run(pool, move |slot| {
            let written = match slot.as_mut() {
                Some(u) => u.write(&bytes).map_err(|e| refusal(io_refusal(e))),
                // Aborted meanwhile: the bytes go nowhere.
                None => Ok(()),
            };
            drop(bytes);
            drop(handed);
            match written {
                Ok(()) => answer.release(),
                Err(r) => answer.keep(D::write_failed(r)),
            }
        });
    }

    /// The last byte arrived: on the strand, the upload is checked and made durable, then
    /// handed to the group commit; the receipt (or refusal) comes back as
    /// [`UploadDone::stored`]. A `measured` upload takes the size and SHA-256 of what was
    /// received, and is admitted again with them (the same rules as an offer made up front).
    pub(super) fn complete(
        &mut self,
        shared: &Arc<Shared>,
        inbox: &Inbox<D>,
        configs: &Arc<ArcSwap<ServerConfig>>,
        finished: Finished,
    ) {
        self.uploading = false;
        let Finished {
            student,
            serial,
            offer,
            received_at,
            measured,
        } = finished;
        let (shared, committer) = (shared.clone(), self.committer.clone());
        let configs = configs.clone();
        let answer = Promise::new(inbox.clone(), || D::stored(Err(failed())));
        self.strand.run(&shared.pool.clone(), move |slot| {
            let ready = slot
                .take()
                .ok_or_else(|| {
                    Refusal::new(RefusalCode::Storage, "the upload was lost: send it again")
                })
                .and_then(|upload| {
                    let offer = match measured.then(|| exactly(&offer, &upload)) {
                        Some(None) => {
                            upload.abort();
                            return Err(Refusal::new(
                                RefusalCode::Storage,
                                "the upload was not measured: send it again",
                            ));
                        }
                        Some(Some(exact)) => {
                            // Known only now: the same admission as an offer made up front.
                            if let Err(e) = shared.board.admit(&student, &exact, received_at) {
                                upload.abort();
                                return Err(refusal(e));
                            }
                            exact
                        }
                        None => offer,
                    };
                    shared
                        .board
                        .prepare(upload, &student, &offer, received_at)
                        .map_err(refusal)
                });
            let ready = match ready {
                Ok(r) => r,
                Err(r) => return answer.keep(D::stored(Err(r))),
            };
            // The CRL may have changed while the file was made durable: the revoked set in
            // force now decides, before anything is committed.
            if configs.load().revocations().is_revoked(&serial) {
                return answer.keep(D::stored(Err(Refusal::new(
                    RefusalCode::Revoked,
                    format!("certificate of student {student} was revoked: nothing was stored"),
                ))));
            }
            let answer: super::commit::Reply = Box::new(move |r| answer.keep(D::stored(r)));
            committer.submit(Pending { ready, answer });
        });
    }

    /// The upload will not complete: its file goes, on the strand.
    pub(super) fn abort(&mut self, pool: &Pool) {
        self.uploading = false;
        // Bytes received and not yet handed to a worker belong to the aborted upload: they go
        // (and give their room back), never into the next one.
        if !self.unwritten.is_empty() {
            self.budget.release(self.unwritten.len());
            self.unwritten.clear();
        }
        self.strand.run(pool, |slot| {
            if let Some(u) = slot.take() {
                u.abort();
            }
        });
    }

    /// The connection closed: whatever was half uploaded goes (a worker's job: it removes a
    /// file). Most connections never offered anything and need no job, nor a worker woken.
    pub(super) fn close(&mut self, pool: &Pool) {
        self.uploading = false;
        if self.offered {
            self.abort(pool);
        }
    }
}

/// An offer made before its bytes were known, with the size and SHA-256 of what `upload`
/// received (`None` if the upload did not hash them).
fn exactly(offer: &UploadOffer, upload: &Upload) -> Option<UploadOffer> {
    Some(UploadOffer {
        size: upload.written(),
        sha256: upload.sha256()?,
        ..offer.clone()
    })
}

impl<D> Drop for Uploads<D> {
    fn drop(&mut self) {
        // Bytes never handed to a worker give their room back here.
        if !self.unwritten.is_empty() {
            self.budget.release(self.unwritten.len());
        }
    }
}

/// Upload bytes handed to a worker: their room in the upload buffer and in the connection's
/// disk allowance comes back when the worker is done with them, however its job ends.
struct Handed {
    n: usize,
    budget: Arc<Budget>,
    pending: Arc<AtomicUsize>,
    notify: Notify,
}

impl Drop for Handed {
    fn drop(&mut self) {
        self.budget.release(self.n);
        let before = self.pending.fetch_sub(self.n, Ordering::SeqCst);
        if before >= DISK_HIGH_WATER && before - self.n < DISK_HIGH_WATER {
            // The connection stopped reading at the high-water mark: it may go on.
            (self.notify)();
        }
    }
}
