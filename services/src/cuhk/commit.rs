//! Group commit of enrollments and renewals.
//!
//! A connection's application goes to a worker, which checks it against the last committed
//! records on a read-only connection and, if it would pass, signs the certificate there and
//! then, in parallel with everything else. It then joins the queue. The first worker to find
//! nobody committing becomes the committer: it takes every application waiting, decides them
//! all in ONE SQLite transaction ([`Registrar::decide`]: one write to the disk for the batch),
//! answers each connection, and goes again while applications arrived during its commit. So the
//! more arrive during a commit, the larger the next batch.
//!
//! A certificate leaves CUHK only after the transaction recording it committed. A refusal of
//! one application (a wrong or used code, a revoked certificate...) does not affect
//! the others of its batch; a database error refuses the whole batch and issues nothing.

use super::CuhkShared;
use crate::pool::Inbox;
use crate::registrar::{Application, Registrar, RegistrarReader, Request};
use handin_core::pki::{unix_secs, CheckedCsr, PkiError};
use handin_core::rustls::pki_types::CertificateDer;
use handin_core::{Refusal, RefusalCode};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Where a connection waits for the answer to its application.
pub(super) type Answer = Inbox<Result<CertificateDer<'static>, Refusal>>;

/// Counts of what the committer did since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Transactions committed.
    pub batches: u64,
    /// Applications decided in them (issued or refused).
    pub applications: u64,
    /// The most applications one transaction decided.
    pub largest_batch: u64,
    /// Batches refused whole because the database failed.
    pub failed_batches: u64,
}

/// What the committer needs, besides the application, to answer it.
struct Reply {
    csr: CheckedCsr,
    answer: Answer,
    peer: SocketAddr,
}

#[derive(Default)]
struct Queue {
    applications: Vec<Application>,
    replies: Vec<Reply>,
    /// Whether a worker is committing (and will look at the queue again before it stops).
    committing: bool,
}

/// The queue of applications and the state of the committer. See the
/// [module documentation](self).
pub(super) struct GroupCommit {
    queue: Mutex<Queue>,
    db: Option<PathBuf>,
    readers: Mutex<Vec<RegistrarReader>>,
    readers_failed: AtomicBool,
    batches: AtomicU64,
    applications: AtomicU64,
    largest_batch: AtomicU64,
    failed_batches: AtomicU64,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("waiting", &self.waiting())
            .field("stats", &self.stats())
            .finish()
    }
}

impl GroupCommit {
    /// A committer for the registrar whose database file is `db` (checked beforehand on
    /// read-only connections to it; without a file, applications are signed by the committer).
    pub(super) fn new(db: Option<PathBuf>) -> Self {
        Self {
            queue: Mutex::default(),
            db,
            readers: Mutex::default(),
            readers_failed: AtomicBool::new(false),
            batches: AtomicU64::new(0),
            applications: AtomicU64::new(0),
            largest_batch: AtomicU64::new(0),
            failed_batches: AtomicU64::new(0),
        }
    }

    /// Whether `application` would pass against the last committed records, so that signing
    /// it now is not wasted on a wrong code. Advice only: the committer decides.
    pub(super) fn would_accept(&self, application: &Application) -> bool {
        let Some(db) = &self.db else { return false };
        if self.readers_failed.load(Ordering::Relaxed) {
            return false;
        }
        let reader = match lock(&self.readers).pop() {
            Some(r) => r,
            None => match RegistrarReader::open(db) {
                Ok(r) => r,
                Err(e) => {
                    if !self.readers_failed.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            "{e}; applications are now signed by the committer, one at a time"
                        );
                    }
                    return false;
                }
            },
        };
        let verdict = reader.would_accept(application);
        lock(&self.readers).push(reader);
        verdict.unwrap_or_else(|e| {
            tracing::debug!("checking an application before signing: {e}");
            false
        })
    }

    /// Queues an application; if nobody is committing, commits (on this thread) until the queue
    /// is empty.
    pub(super) fn submit(
        &self,
        shared: &CuhkShared,
        application: Application,
        csr: CheckedCsr,
        answer: Answer,
        peer: SocketAddr,
    ) {
        let lead = {
            let mut q = lock(&self.queue);
            q.applications.push(application);
            q.replies.push(Reply { csr, answer, peer });
            !std::mem::replace(&mut q.committing, true)
        };
        if lead {
            let _stop = Leading(self);
            self.commit_while_waiting(shared);
        }
    }

    /// Applications waiting for the committer.
    pub(super) fn waiting(&self) -> usize {
        lock(&self.queue).applications.len()
    }

    /// What the committer did so far.
    pub(super) fn stats(&self) -> CommitStats {
        CommitStats {
            batches: self.batches.load(Ordering::Relaxed),
            applications: self.applications.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
            failed_batches: self.failed_batches.load(Ordering::Relaxed),
        }
    }

    fn commit_while_waiting(&self, shared: &CuhkShared) {
        loop {
            // The registrar first, the batch second: whatever arrives while an earlier
            // transaction (or an operator's command) holds the registrar joins this batch.
            let registrar = shared.registrar.lock();
            let mut batch = {
                let mut q = lock(&self.queue);
                if q.applications.is_empty() {
                    q.committing = false;
                    return;
                }
                Batch {
                    applications: std::mem::take(&mut q.applications),
                    replies: std::mem::take(&mut q.replies),
                }
            };
            match registrar {
                Ok(mut registrar) => self.commit(shared, &mut registrar, &mut batch),
                Err(_) => {
                    tracing::error!(
                        "CUHK's records are unavailable after an earlier failure; refusing {} \
                         application(s)",
                        batch.applications.len()
                    );
                    batch.refuse_all(&Refusal::new(
                        RefusalCode::Internal,
                        "CUHK's records are unavailable",
                    ));
                }
            }
        }
    }

    fn commit(&self, shared: &CuhkShared, registrar: &mut Registrar, batch: &mut Batch) {
        let n = batch.applications.len();
        let started = Instant::now();
        let (applications, replies) = (&batch.applications, &batch.replies);
        let decided = registrar.decide(applications, |i| {
            match (applications.get(i), replies.get(i)) {
                (Some(a), Some(r)) => shared.ca.issue_student(&r.csr, a.now, shared.lifetime),
                _ => Err(PkiError("no request to sign".into())),
            }
        });
        let n64 = u64::try_from(n).unwrap_or(u64::MAX);
        match decided {
            Ok(outcomes) => {
                self.batches.fetch_add(1, Ordering::Relaxed);
                self.applications.fetch_add(n64, Ordering::Relaxed);
                self.largest_batch.fetch_max(n64, Ordering::Relaxed);
                tracing::debug!(
                    applications = n,
                    micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                    "committed one transaction"
                );
                let replies = std::mem::take(&mut batch.replies);
                let applications = std::mem::take(&mut batch.applications);
                for ((reply, application), outcome) in
                    replies.into_iter().zip(applications).zip(outcomes)
                {
                    let student = &application.student;
                    let renewal = matches!(application.request, Request::Renew { .. });
                    match outcome {
                        Ok(issued) => {
                            tracing::info!(peer = %reply.peer, %student,
                                serial = %issued.record.serial_hex,
                                until = unix_secs(issued.record.not_after), renewal,
                                "certificate issued");
                            reply.answer.post(Ok(issued.cert));
                        }
                        Err(refusal) => {
                            tracing::info!(peer = %reply.peer, %student, code = ?refusal.code,
                                reason = %refusal.reason, "enrollment refused");
                            reply.answer.post(Err(refusal));
                        }
                    }
                }
            }
            Err(e) => {
                self.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("{e}; refused all {n} application(s) of the batch");
                batch.refuse_all(&e.refusal());
            }
        }
    }
}

/// A batch being decided. Whatever is still in it when it is dropped (only if the committer
/// panicked) is refused, so that no connection waits forever.
struct Batch {
    applications: Vec<Application>,
    replies: Vec<Reply>,
}

impl Batch {
    fn refuse_all(&mut self, refusal: &Refusal) {
        self.applications.clear();
        for reply in self.replies.drain(..) {
            reply.answer.post(Err(refusal.clone()));
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if !self.replies.is_empty() {
            self.refuse_all(&not_recorded());
        }
    }
}

/// If the committing worker panics: refuses whatever is still queued and hands the committer's
/// role back, so that no connection waits forever and the next application takes the role up.
struct Leading<'a>(&'a GroupCommit);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut queued = {
                let mut q = lock(&self.0.queue);
                q.committing = false;
                Batch {
                    applications: std::mem::take(&mut q.applications),
                    replies: std::mem::take(&mut q.replies),
                }
            };
            queued.refuse_all(&not_recorded());
        }
    }
}

/// The refusal for an application whose batch could not be decided.
fn not_recorded() -> Refusal {
    Refusal::new(
        RefusalCode::Internal,
        "CUHK could not update its records; try again later",
    )
}

/// Locks a mutex whose contents a panic cannot leave half-changed (queues, a pool of readers).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
