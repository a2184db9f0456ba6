//! Group commit of enrollments and renewals, on the one group-commit engine
//! ([`Batcher`](crate::runtime::Batcher)).
//!
//! A connection's application goes to a worker, which checks it against the last committed
//! records on a read-only view and, if it would pass, signs the certificate there and then, in
//! parallel with everything else. It then joins the queue. The committing thread takes the
//! registrar first and the batch second, so that whatever arrives while an earlier transaction
//! (or an operator's command) holds the registrar joins the batch; it decides them all in ONE
//! transaction ([`Registrar::decide`]: one write to the disk for the batch), and answers each
//! connection. So the more arrive during a commit, the larger the next batch.
//!
//! A certificate leaves CUHK only after the transaction recording it committed. A refusal of
//! one application (a wrong or used code, a revoked certificate...) does not affect
//! the others of its batch; a database error refuses the whole batch and issues nothing; a
//! batch whose handling panics is refused (each application's [`Promise`] answers).

use super::throttle::Throttle;
use super::CuhkShared;
use crate::registrar::{Application, Registrar, RegistrarReader, Request};
use crate::runtime::{Batcher, Inbox, Promise, Take};
use crate::store::ViewOpener;
use handin_core::pki::{rfc3339, unix_secs, CheckedCsr, PkiError};
use handin_core::rustls::pki_types::CertificateDer;
use handin_core::{Refusal, RefusalCode};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

/// How long after a failure to open a view of the records another is tried.
const VIEW_RETRY_SECS: u64 = 5;

/// What a connection hears back about its application.
pub(super) type Outcome = Result<CertificateDer<'static>, Refusal>;

/// Where a connection waits for the answer to its application.
pub(super) type Answer = Inbox<Outcome>;

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

#[derive(Debug, Default)]
struct Stats {
    batches: AtomicU64,
    applications: AtomicU64,
    largest_batch: AtomicU64,
    failed_batches: AtomicU64,
}

/// An application waiting for the committer, and what it needs to answer it.
struct Item {
    application: Application,
    csr: CheckedCsr,
    answer: Promise<Outcome>,
    peer: SocketAddr,
    /// Where a wrong code is counted, before its refusal is sent.
    throttle: Arc<dyn Throttle>,
}

/// The committer of applications. See the [module documentation](self).
pub(super) struct GroupCommit {
    batcher: Batcher<Item>,
    views: Option<ViewOpener>,
    readers: Mutex<Vec<RegistrarReader>>,
    /// When opening a view last failed (seconds since the epoch), 0 if it did not.
    readers_failed: AtomicU64,
    stats: Arc<Stats>,
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
    /// A committer for `shared`'s registrar; applications are checked beforehand on views from
    /// `views` (without them, they are signed by the committer).
    pub(super) fn new(shared: Arc<CuhkShared>, views: Option<ViewOpener>) -> Self {
        let stats = Arc::new(Stats::default());
        let in_batches = stats.clone();
        let batcher = Batcher::taking("cuhk-commit", usize::MAX, move |take: Take<'_, Item>| {
            commit_waiting(&shared, &in_batches, take);
        });
        Self {
            batcher,
            views,
            readers: Mutex::default(),
            readers_failed: AtomicU64::new(0),
            stats,
        }
    }

    /// Whether `application` would pass against the last committed records, so that signing
    /// it now is not wasted on a wrong code. Advice only: the committer decides.
    pub(super) fn would_accept(&self, application: &Application) -> bool {
        let Some(views) = &self.views else {
            return false;
        };
        // After a failure to open a view (a database restarting), try again a little later.
        let failed_at = self.readers_failed.load(Ordering::Relaxed);
        if failed_at != 0 && unix_secs(SystemTime::now()) < failed_at + VIEW_RETRY_SECS {
            return false;
        }
        let mut reader = match lock(&self.readers).pop() {
            Some(r) => r,
            None => match views() {
                Ok(view) => {
                    if self.readers_failed.swap(0, Ordering::Relaxed) != 0 {
                        tracing::info!("checking applications before signing again");
                    }
                    RegistrarReader::with_view(view)
                }
                Err(e) => {
                    let now = unix_secs(SystemTime::now()).max(1);
                    if self.readers_failed.swap(now, Ordering::Relaxed) == 0 {
                        tracing::warn!(
                            "{e}; applications are signed by the committer, one at a time, \
                             until the records can be read again"
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

    /// Queues an application for the next transaction; its answer is posted to `answer` once
    /// that transaction committed (or failed).
    pub(super) fn submit(
        &self,
        application: Application,
        csr: CheckedCsr,
        answer: Answer,
        peer: SocketAddr,
        throttle: Arc<dyn Throttle>,
    ) {
        self.batcher.submit(Item {
            application,
            csr,
            answer: Promise::new(answer, || Err(not_recorded())),
            peer,
            throttle,
        });
    }

    /// Applications waiting for the committer.
    pub(super) fn waiting(&self) -> usize {
        self.batcher.waiting()
    }

    /// What the committer did so far.
    pub(super) fn stats(&self) -> CommitStats {
        let s = &self.stats;
        CommitStats {
            batches: s.batches.load(Ordering::Relaxed),
            applications: s.applications.load(Ordering::Relaxed),
            largest_batch: s.largest_batch.load(Ordering::Relaxed),
            failed_batches: s.failed_batches.load(Ordering::Relaxed),
        }
    }
}

/// The batch handler: the registrar first, the batch second.
fn commit_waiting(shared: &CuhkShared, stats: &Stats, take: Take<'_, Item>) {
    let registrar = shared.registrar.lock();
    let batch = take.batch();
    if batch.is_empty() {
        return;
    }
    match registrar {
        Ok(mut registrar) => commit(shared, stats, &mut registrar, batch),
        Err(_) => {
            tracing::error!(
                "CUHK's records are unavailable after an earlier failure; refusing {} \
                 application(s)",
                batch.len()
            );
            refuse_all(
                batch,
                &Refusal::new(RefusalCode::Internal, "CUHK's records are unavailable"),
            );
        }
    }
}

fn commit(shared: &CuhkShared, stats: &Stats, registrar: &mut Registrar, batch: Vec<Item>) {
    let n = batch.len();
    let started = Instant::now();
    let applications: Vec<Application> = batch.iter().map(|i| i.application.clone()).collect();
    let decided = registrar.decide(&applications, |i| match batch.get(i) {
        Some(item) => shared
            .ca
            .issue_person(&item.csr, item.application.now, shared.lifetime),
        None => Err(PkiError("no request to sign".into())),
    });
    let n64 = u64::try_from(n).unwrap_or(u64::MAX);
    match decided {
        Ok(outcomes) => {
            stats.batches.fetch_add(1, Ordering::Relaxed);
            stats.applications.fetch_add(n64, Ordering::Relaxed);
            stats.largest_batch.fetch_max(n64, Ordering::Relaxed);
            tracing::debug!(
                applications = n,
                micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "committed one transaction"
            );
            for (item, outcome) in batch.into_iter().zip(outcomes) {
                let person = &item.application.person;
                let renewal = matches!(item.application.request, Request::Renew { .. });
                match outcome {
                    Ok(issued) => {
                        tracing::info!(peer = %item.peer, %person,
                            serial = %issued.record.serial_hex,
                            until = %rfc3339(issued.record.not_after), renewal,
                            "certificate issued");
                        item.answer.keep(Ok(issued.cert));
                    }
                    Err(refusal) => {
                        tracing::info!(peer = %item.peer, %person, code = ?refusal.code,
                            reason = %refusal.reason, "enrollment refused");
                        // A wrong code (or unknown ID) counts against the address, never the
                        // ID, and before the refusal leaves: the address's next attempt sees it.
                        if refusal.code == RefusalCode::BadCode {
                            item.throttle
                                .wrong_code(item.peer.ip(), item.application.now);
                        }
                        item.answer.keep(Err(refusal));
                    }
                }
            }
        }
        Err(e) => {
            stats.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("{e}; refused all {n} application(s) of the batch");
            refuse_all(batch, &e.refusal());
        }
    }
}

fn refuse_all(batch: Vec<Item>, refusal: &Refusal) {
    for item in batch {
        item.answer.keep(Err(refusal.clone()));
    }
}

/// The refusal for an application whose batch could not be decided.
fn not_recorded() -> Refusal {
    Refusal::new(
        RefusalCode::Internal,
        "CUHK could not update its records; try again later",
    )
}

/// Locks a mutex whose contents a panic cannot leave half-changed (a pool of readers).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
