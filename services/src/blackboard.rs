//! Blackboard's service: each accepted connection is a [`SubmitServer`] whose events are
//! answered from the durable [`Board`], with every disk and database step on the worker pool.
//!
//! Uploaded bytes wait in memory until a worker writes them to the upload's temporary file.
//! Two limits stop reading from a student's socket (so TCP's window closes on them): 4 MiB of
//! their own upload waiting, and the server-wide upload buffer ([`Budget`]) being spent.
//!
//! A finished upload is checked and fdatasync'd on the connection's strand, then handed to the
//! group commit: every submission ready at that moment is renamed into place, the directory
//! fsync'd once and all records committed in one transaction ([`Board::commit_batch`]); only
//! then are their receipts signed and sent.

use crate::board::{Board, BoardError, Committed, Ready, Upload};
use crate::contain::Promise;
use crate::pool::{Batcher, Budget, Inbox, Pool, Strand, Waiter};
use crate::sessions::{Limits, Sessions};
use arc_swap::ArcSwap;
use handin_core::driver::{Accept, Driven, Notify};
use handin_core::msg::SubmissionEntry;
use handin_core::pki::{unix_secs, StudentId};
use handin_core::{
    Now, Receipt, ReceiptBody, ReceiptSigner, Refusal, RefusalCode, ServerConfig, SubmitServer,
    SubmitServerEvent,
};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Stop reading from a student while this many uploaded bytes wait for the disk.
const DISK_HIGH_WATER: usize = 4 * 1024 * 1024;
/// The default cap on uploaded bytes held in memory across all connections.
pub const DEFAULT_UPLOAD_BUFFER: usize = 256 * 1024 * 1024;
/// The smallest upload buffer accepted: one read from a socket must fit.
pub const MIN_UPLOAD_BUFFER: usize = 256 * 1024;
/// Most submissions committed in one transaction.
const MAX_BATCH: usize = 512;
/// Bytes read from disk per step of a fetch.
const FETCH_CHUNK: usize = 256 * 1024;
/// Keep at most this much of a fetch in memory ahead of the socket.
const FETCH_AHEAD: usize = 512 * 1024;

/// What the workers share.
#[derive(Debug)]
pub struct Shared {
    /// The store.
    pub board: Board,
    /// Signs receipts with Blackboard's key.
    pub signer: ReceiptSigner,
    /// Disk work.
    pub pool: Pool,
}

/// A submission waiting for the group commit, and where its outcome goes.
struct Pending {
    ready: Ready,
    reply: Box<dyn FnOnce(Result<Committed, BoardError>) + Send>,
}

/// The submission service: makes a [`BbConn`] for each accepted socket, with the TLS
/// configuration in force at that moment (it changes when the CRL is reloaded).
#[derive(Debug)]
pub struct Blackboard {
    config: Arc<ArcSwap<ServerConfig>>,
    shared: Arc<Shared>,
    committer: Batcher<Pending>,
    budget: Arc<Budget>,
    sessions: Arc<Sessions>,
}

/// One group commit: stores the batch, logs it, and hands each submission its outcome.
fn commit_batch(shared: &Shared, batch_no: u64, batch: Vec<Pending>) {
    let size = batch.len();
    let (ready, replies): (Vec<Ready>, Vec<_>) =
        batch.into_iter().map(|p| (p.ready, p.reply)).unzip();
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
    for ((result, reply), (student, file)) in results.into_iter().zip(replies).zip(who) {
        if let Err(BoardError::Refused(r)) = &result {
            tracing::info!(batch = batch_no, %student, %file, code = ?r.code, reason = %r.reason, "refused at commit");
        }
        reply(result);
    }
}

impl Blackboard {
    /// A service over `shared`, starting with `config`, with the default upload buffer
    /// ([`DEFAULT_UPLOAD_BUFFER`]).
    pub fn new(config: ServerConfig, shared: Shared) -> Self {
        let shared = Arc::new(shared);
        let batches = AtomicU64::new(0);
        let committer = {
            let in_batches = shared.clone();
            Batcher::new("bb-commit", MAX_BATCH, move |batch: Vec<Pending>| {
                let n = batches.fetch_add(1, Ordering::Relaxed) + 1;
                commit_batch(&in_batches, n, batch);
            })
        };
        Self {
            config: Arc::new(ArcSwap::from_pointee(config)),
            shared,
            committer,
            budget: Arc::new(Budget::new(DEFAULT_UPLOAD_BUFFER)),
            sessions: Arc::new(Sessions::new(Limits::default())),
        }
    }

    /// Limits how many connections a student may hold and for how long (see
    /// [`Limits`]). Call before serving.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.sessions = Arc::new(Sessions::new(limits));
        self
    }

    /// The open connections by student.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Caps the uploaded bytes held in memory across all connections at `bytes` (at least
    /// [`MIN_UPLOAD_BUFFER`]): at the cap, uploading connections stop reading from their
    /// sockets until the disk has taken some. Call before serving.
    pub fn with_upload_buffer(mut self, bytes: usize) -> Self {
        self.budget = Arc::new(Budget::new(bytes.max(MIN_UPLOAD_BUFFER)));
        self
    }

    /// The server-wide upload buffer: its cap, what it holds, its peak, how often it was full.
    pub fn upload_buffer(&self) -> &Budget {
        &self.budget
    }

    /// The store.
    pub fn board(&self) -> &Board {
        &self.shared.board
    }

    /// The configuration new connections get.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.load_full()
    }

    /// Replaces the configuration (a new CRL): connections accepted from now on get it, and
    /// every open connection is woken to check its student's certificate against it at once
    /// (a revoked one is closed with an `Error` frame saying so); requests are checked against
    /// it from now on.
    pub fn set_config(&self, config: ServerConfig) {
        self.config.store(Arc::new(config));
        let woken = self.sessions.wake_all();
        tracing::debug!(woken, "open connections told of the new configuration");
    }
}

impl Accept for Blackboard {
    type Conn = BbConn;

    fn accept(&self, now: Now, peer: SocketAddr, notify: Notify) -> Option<BbConn> {
        let config = self.config();
        let max_age = self.sessions.limits().max_age;
        match SubmitServer::new(config.clone(), now) {
            Ok(core) => Some(BbConn {
                core,
                configs: self.config.clone(),
                config,
                sessions: self.sessions.clone(),
                session: None,
                retire_at: now.mono.checked_add(max_age),
                shared: self.shared.clone(),
                committer: self.committer.clone(),
                budget: self.budget.clone(),
                waiter: Waiter::new(notify.clone()),
                inbox: Inbox::new(notify.clone()),
                notify,
                strand: Strand::default(),
                upload: Arc::new(Mutex::new(None)),
                offered: false,
                held: false,
                uploading: false,
                write_failed: false,
                unwritten: Vec::new(),
                disk_pending: Arc::new(AtomicUsize::new(0)),
                fetch: None,
                peer,
                busy: false,
                closing: false,
                logged_end: false,
            }),
            Err(e) => {
                tracing::error!(%peer, error = %e, "cannot start a TLS session");
                None
            }
        }
    }
}

enum Done {
    Offer(Result<(), Refusal>),
    WriteFailed(Refusal),
    Stored(Result<Receipt, Refusal>),
    Listed(Result<Vec<SubmissionEntry>, Refusal>),
    FetchOpened(Result<(SubmissionEntry, File), Refusal>),
    FetchChunk(Result<Vec<u8>, Refusal>),
}

struct Fetch {
    file: Arc<Mutex<File>>,
    unread: u64,
    ahead: VecDeque<Vec<u8>>,
    reading: bool,
}

/// One student's connection to Blackboard.
pub struct BbConn {
    core: SubmitServer,
    /// The configuration in force, replaced when the CRL changes.
    configs: Arc<ArcSwap<ServerConfig>>,
    /// The configuration the core enforces now.
    config: Arc<ServerConfig>,
    sessions: Arc<Sessions>,
    /// The key in `sessions`, once the student is authenticated and admitted.
    session: Option<u64>,
    /// When the connection has been open for `Limits::max_age` (monotonic clock).
    retire_at: Option<Instant>,
    shared: Arc<Shared>,
    committer: Batcher<Pending>,
    budget: Arc<Budget>,
    waiter: Waiter,
    notify: Notify,
    inbox: Inbox<Done>,
    strand: Strand,
    upload: Arc<Mutex<Option<Upload>>>,
    /// An offer was ever handed to a worker, so `upload` may hold a file to clean up.
    offered: bool,
    /// The core was told Blackboard holds the input (see `sync_hold`).
    held: bool,
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
    fetch: Option<Fetch>,
    peer: SocketAddr,
    busy: bool,
    closing: bool,
    logged_end: bool,
}

impl std::fmt::Debug for BbConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BbConn").field("peer", &self.peer).finish()
    }
}

fn refusal(e: BoardError) -> Refusal {
    match e {
        BoardError::Refused(r) => r,
        // Logged once for the whole batch.
        BoardError::Batch { .. } => Refusal::new(
            RefusalCode::Storage,
            "Blackboard's storage failed while committing your submission, and nothing was \
             kept: submit again shortly",
        ),
        other => {
            tracing::error!(error = %other, "storage failure");
            Refusal::new(
                RefusalCode::Storage,
                "Blackboard could not store or read this: try again shortly",
            )
        }
    }
}

impl BbConn {
    fn student(&self) -> Option<StudentId> {
        self.core.student().cloned()
    }

    /// Answers every event the core raised.
    fn process(&mut self) {
        while let Some(ev) = self.core.poll_event() {
            if let SubmitServerEvent::UploadData(bytes) = ev {
                self.budget.charge(bytes.len());
                self.unwritten.extend_from_slice(&bytes);
                continue;
            }
            // Whatever came before this event is written before it is handled.
            self.flush_unwritten();
            self.on_event(ev);
        }
        self.flush_unwritten();
        if self.closing && !self.busy && !self.core.is_closed() {
            self.core.close();
        }
        if self.core.is_closed() && !self.logged_end {
            self.logged_end = true;
            match self.core.error() {
                Some(e) => {
                    tracing::info!(peer = %self.peer, student = ?self.student().map(|s| s.to_string()), "connection ended: {e}")
                }
                None => tracing::debug!(peer = %self.peer, "connection closed"),
            }
            // Whatever was half uploaded goes (a worker's job: it removes a file). Most
            // connections never offered anything and need no job, nor a worker woken.
            self.uploading = false;
            if self.offered {
                let slot = self.upload.clone();
                self.strand.spawn(&self.shared.pool, move || {
                    if let Some(u) = lock_upload(&slot).take() {
                        u.abort();
                    }
                });
            }
        }
    }

    fn on_event(&mut self, ev: SubmitServerEvent) {
        let pool = self.shared.pool.clone();
        match ev {
            SubmitServerEvent::Connected {
                student,
                certificate,
                handshake,
            } => {
                tracing::info!(
                    peer = %self.peer,
                    %student,
                    subject = %certificate.subject,
                    expires = unix_secs(certificate.not_after),
                    version = %handshake.version,
                    suite = %handshake.cipher_suite,
                    group = %handshake.key_exchange,
                    resumed = handshake.resumed,
                    "student authenticated"
                );
                match self.sessions.join(&student, self.notify.clone()) {
                    Ok(key) => self.session = Some(key),
                    Err(r) => {
                        tracing::info!(peer = %self.peer, %student, reason = %r.reason, "connection turned away");
                        self.core.disconnect(r);
                    }
                }
            }
            SubmitServerEvent::UploadRequested(offer) => {
                let Some(student) = self.student() else {
                    return;
                };
                self.busy = true;
                self.offered = true;
                let (shared, slot) = (self.shared.clone(), self.upload.clone());
                let answer = Promise::new(self.inbox.clone(), || Done::Offer(Err(failed())));
                self.strand.spawn(&pool, move || {
                    let verdict = (|| {
                        let a = shared
                            .board
                            .assignment(&offer.course, &offer.assignment)
                            .map_err(refusal)?
                            .ok_or_else(|| {
                                Refusal::new(
                                    RefusalCode::NoSuchAssignment,
                                    format!(
                                        "no assignment {} in course {}",
                                        offer.assignment, offer.course
                                    ),
                                )
                            })?;
                        if offer.size > a.max_size {
                            return Err(Refusal::new(
                                RefusalCode::TooLarge,
                                format!(
                                    "{} bytes is over this assignment's limit of {}",
                                    offer.size, a.max_size
                                ),
                            ));
                        }
                        shared
                            .board
                            .check_quota(&student, &offer)
                            .map_err(refusal)?;
                        let upload = shared.board.begin_upload().map_err(refusal)?;
                        *lock_upload(&slot) = Some(upload);
                        Ok(())
                    })();
                    answer.keep(Done::Offer(verdict));
                });
            }
            SubmitServerEvent::UploadComplete { offer, received_at } => {
                self.uploading = false;
                let Some(student) = self.student() else {
                    return;
                };
                let serial = self
                    .core
                    .certificate()
                    .map(|c| c.serial.clone())
                    .unwrap_or_default();
                let (shared, slot, committer, configs) = (
                    self.shared.clone(),
                    self.upload.clone(),
                    self.committer.clone(),
                    self.configs.clone(),
                );
                let answer = Promise::new(self.inbox.clone(), || Done::Stored(Err(failed())));
                self.strand.spawn(&pool, move || {
                    let upload = lock_upload(&slot).take();
                    let ready = upload
                        .ok_or_else(|| {
                            Refusal::new(RefusalCode::Storage, "the upload was lost: send it again")
                        })
                        .and_then(|upload| {
                            shared
                                .board
                                .prepare(upload, &student, &offer, received_at)
                                .map_err(refusal)
                        });
                    let ready = match ready {
                        Ok(r) => r,
                        Err(r) => return answer.keep(Done::Stored(Err(r))),
                    };
                    // The CRL may have changed while the file was made durable: the revoked
                    // set in force now decides, before anything is committed.
                    if configs.load().revocations().is_revoked(&serial) {
                        return answer.keep(Done::Stored(Err(Refusal::new(
                            RefusalCode::Revoked,
                            format!("certificate of student {student} was revoked: nothing was stored"),
                        ))));
                    }
                    // The receipt is signed once the batch holding this submission committed,
                    // on some worker, so the committer goes on to the next batch at once.
                    let reply = Box::new(move |result: Result<Committed, BoardError>| {
                        let committed = match result {
                            Ok(c) => c,
                            Err(e) => return answer.keep(Done::Stored(Err(refusal(e)))),
                        };
                        let pool = shared.pool.clone();
                        pool.spawn(move || {
                            let Committed { entry, due } = committed;
                            let body = ReceiptBody::for_entry(&entry, unix_secs(due));
                            tracing::info!(id = %entry.id, student = %entry.student_id, course = %entry.course,
                                assignment = %entry.assignment, size = entry.size, late = entry.late,
                                version = entry.version, "stored");
                            let signed = shared.signer.sign(&body).map_err(|e| {
                                tracing::error!(error = %e, "cannot sign a receipt");
                                Refusal::new(RefusalCode::Internal, "stored, but the receipt could not be signed: list your submissions to confirm")
                            });
                            answer.keep(Done::Stored(signed));
                        });
                    });
                    committer.submit(Pending { ready, reply });
                });
            }
            SubmitServerEvent::UploadAborted { reason } => {
                tracing::info!(peer = %self.peer, %reason, "upload aborted");
                self.busy = false;
                self.uploading = false;
                let slot = self.upload.clone();
                self.strand.spawn(&pool, move || {
                    if let Some(u) = lock_upload(&slot).take() {
                        u.abort();
                    }
                });
            }
            SubmitServerEvent::ListRequested { course } => {
                let Some(student) = self.student() else {
                    return;
                };
                self.busy = true;
                let shared = self.shared.clone();
                let answer = Promise::new(self.inbox.clone(), || Done::Listed(Err(failed())));
                pool.spawn(move || {
                    let listed = shared
                        .board
                        .list(&student, course.as_deref())
                        .map_err(refusal);
                    answer.keep(Done::Listed(listed));
                });
            }
            SubmitServerEvent::FetchRequested { id } => {
                let Some(student) = self.student() else {
                    return;
                };
                self.busy = true;
                let shared = self.shared.clone();
                let answer = Promise::new(self.inbox.clone(), || Done::FetchOpened(Err(failed())));
                pool.spawn(move || {
                    let opened = (|| {
                        let (entry, path) = shared
                            .board
                            .find(&student, &id)
                            .map_err(refusal)?
                            .ok_or_else(|| Refusal::new(RefusalCode::NotFound, format!("you have no submission {id}")))?;
                        let file = File::open(&path).map_err(|e| {
                            tracing::error!(path = %path.display(), error = %e, "stored submission unreadable");
                            Refusal::new(RefusalCode::Storage, "the stored file cannot be read: tell the course staff")
                        })?;
                        Ok((entry, file))
                    })();
                    answer.keep(Done::FetchOpened(opened));
                });
            }
            SubmitServerEvent::Rejected(r) => {
                tracing::info!(peer = %self.peer, code = ?r.code, reason = %r.reason, "request refused");
            }
            _ => {}
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Offer(Ok(())) => {
                self.uploading = self.core.accept_upload().is_ok();
                self.write_failed = false;
            }
            Done::Offer(Err(r))
            | Done::Stored(Err(r))
            | Done::Listed(Err(r))
            | Done::FetchOpened(Err(r)) => {
                self.busy = false;
                let _ = self.core.refuse(r);
            }
            // The first failure of an upload refuses it; the writes already queued behind it
            // fail too (hundreds on a full disk), and say nothing new.
            Done::WriteFailed(_) if self.write_failed => {}
            Done::WriteFailed(r) => {
                self.write_failed = true;
                tracing::warn!(peer = %self.peer, student = ?self.student().map(|s| s.to_string()), reason = %r.reason, "upload write failed");
                // Refusing mid-upload makes the core raise UploadAborted, which deletes the file.
                let _ = self.core.refuse(r);
            }
            Done::Stored(Ok(receipt)) => {
                self.busy = false;
                if let Err(e) = self.core.send_receipt(&receipt) {
                    tracing::error!(error = %e, "receipt not sent");
                }
            }
            Done::Listed(Ok(entries)) => {
                self.busy = false;
                for e in &entries {
                    let _ = self.core.send_list_entry(e);
                }
                let _ = self.core.finish_list();
            }
            Done::FetchOpened(Ok((entry, file))) => {
                if self.core.start_fetch(&entry).is_ok() {
                    self.fetch = Some(Fetch {
                        file: Arc::new(Mutex::new(file)),
                        unread: entry.size,
                        ahead: VecDeque::new(),
                        reading: false,
                    });
                } else {
                    self.busy = false;
                }
            }
            Done::FetchChunk(Ok(bytes)) => {
                if let Some(f) = self.fetch.as_mut() {
                    f.reading = false;
                    f.unread = f.unread.saturating_sub(bytes.len() as u64);
                    if !bytes.is_empty() {
                        f.ahead.push_back(bytes);
                    }
                }
            }
            Done::FetchChunk(Err(r)) => {
                tracing::error!(reason = %r.reason, "fetch read failed");
                self.fetch = None;
                self.busy = false;
                // The stream is already under way: the only honest end is to close.
                self.core.close();
            }
        }
    }

    /// Hands the upload bytes received so far to a worker, which writes them to the upload's
    /// file and gives their room in the budget back.
    fn flush_unwritten(&mut self) {
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
        let slot = self.upload.clone();
        let answer = Promise::new(self.inbox.clone(), || Done::WriteFailed(failed()));
        self.strand.spawn(&self.shared.pool, move || {
            let written = match lock_upload(&slot).as_mut() {
                Some(u) => u.write(&bytes).map_err(refusal),
                // Aborted meanwhile: the bytes go nowhere.
                None => Ok(()),
            };
            drop(bytes);
            drop(handed);
            match written {
                Ok(()) => answer.release(),
                Err(r) => answer.keep(Done::WriteFailed(r)),
            }
        });
    }

    /// Feeds the fetch in progress into the core while the transport has room, and keeps one
    /// disk read in flight ahead of it.
    fn pump_fetch(&mut self, out_len: usize) {
        let Some(f) = self.fetch.as_mut() else { return };
        let mut room = out_len < FETCH_AHEAD;
        while room {
            let Some(chunk) = f.ahead.pop_front() else {
                break;
            };
            if self.core.send_fetch_data(&chunk).is_err() {
                self.fetch = None;
                self.busy = false;
                return;
            }
            room = false;
        }
        let ahead: usize = f.ahead.iter().map(Vec::len).sum();
        if f.unread == 0 && f.ahead.is_empty() && !f.reading {
            self.fetch = None;
            self.busy = false;
            let _ = self.core.finish_fetch();
            return;
        }
        if f.unread > 0 && !f.reading && ahead < FETCH_AHEAD {
            f.reading = true;
            let file = f.file.clone();
            let answer = Promise::new(self.inbox.clone(), || Done::FetchChunk(Err(failed())));
            let want = (f.unread as usize).min(FETCH_CHUNK);
            self.shared.pool.spawn(move || {
                let r = (|| {
                    let mut buf = vec![0; want];
                    let mut file = file
                        .lock()
                        .map_err(|_| Refusal::new(RefusalCode::Internal, "file lock"))?;
                    file.read_exact(&mut buf).map_err(|e| {
                        Refusal::new(
                            RefusalCode::Storage,
                            format!("reading the stored file: {e}"),
                        )
                    })?;
                    Ok(buf)
                })();
                answer.keep(Done::FetchChunk(r));
            });
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

/// The refusal for a request whose job failed unexpectedly (it panicked: see `contain`).
fn failed() -> Refusal {
    Refusal::new(
        RefusalCode::Internal,
        "Blackboard failed on this request: try again",
    )
}

/// Locks a connection's upload slot. A job that panicked while holding it may have left the
/// upload half written; that upload is refused anyway (the job's promise broke), so it is
/// dropped here (its file removed) and the slot serves the connection's next upload.
fn lock_upload(slot: &Mutex<Option<Upload>>) -> MutexGuard<'_, Option<Upload>> {
    slot.lock().unwrap_or_else(|poisoned| {
        let mut upload = poisoned.into_inner();
        upload.take();
        slot.clear_poison();
        upload
    })
}

impl Drop for BbConn {
    fn drop(&mut self) {
        if let (Some(key), Some(student)) = (self.session, self.core.student()) {
            self.sessions.leave(student, key);
        }
        // Bytes never handed to a worker give their room back here.
        if !self.unwritten.is_empty() {
            self.budget.release(self.unwritten.len());
        }
    }
}

impl BbConn {
    /// Tells the core when Blackboard itself stops reading from the student (upload buffer
    /// full, or the disk 4 MiB behind): the student's silence is then ours, and must not run
    /// out the idle deadline.
    /// Hands the core the configuration in force if it changed (a new CRL): a student whose
    /// certificate is now revoked is disconnected before any more input is handled.
    fn refresh_config(&mut self, now: Now) {
        let current = self.configs.load_full();
        if !Arc::ptr_eq(&current, &self.config) {
            self.config = current.clone();
            if self.core.student().is_some() {
                let _ = self.core.set_config(now, current);
            }
        }
    }

    /// Past `Limits::max_age`, the connection closes once its request in flight is answered.
    fn retire_if_old(&mut self, now: Now) {
        if self.retire_at.is_some_and(|at| now.mono >= at) && !self.closing {
            tracing::debug!(peer = %self.peer, "connection reached its maximum age: closing after its request");
            self.closing = true;
            self.retire_at = None;
        }
    }

    fn sync_hold(&mut self, now: Now) {
        let held = !self.wants_read();
        if held != self.held {
            self.held = held;
            self.core.hold_input(now, held);
        }
    }
}

/// The core's inputs fail only by ending the connection; the error stays in `core.error()`,
/// which `process` logs once and `error` hands to the transport.
impl Driven for BbConn {
    fn receive(&mut self, now: Now, data: &[u8]) {
        self.refresh_config(now);
        let _ = self.core.receive(now, data);
        self.process();
        self.sync_hold(now);
    }

    fn handle_eof(&mut self, now: Now) {
        let _ = self.core.handle_eof(now);
        self.process();
    }

    fn handle_timeout(&mut self, now: Now) {
        self.refresh_config(now);
        self.retire_if_old(now);
        let _ = self.core.handle_timeout(now);
        self.process();
        self.sync_hold(now);
    }

    fn wake(&mut self, now: Now) {
        self.refresh_config(now);
        for done in self.inbox.take() {
            self.on_done(done);
        }
        self.process();
        self.sync_hold(now);
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let before = out.len();
        self.pump_fetch(out.len());
        self.process();
        self.core.poll_transmit(out);
        out.len() - before
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let core = self.core.poll_timeout();
        match (core, self.retire_at) {
            (Some(a), Some(b)) if !self.core.is_closed() => Some(a.min(b)),
            (None, Some(b)) if !self.core.is_closed() && !self.core.is_handshaking() => Some(b),
            _ => core,
        }
    }

    fn wants_read(&self) -> bool {
        if self.disk_pending.load(Ordering::SeqCst) >= DISK_HIGH_WATER {
            return false;
        }
        // Only upload bytes wait for the shared buffer: handshakes and requests never do.
        !self.uploading || self.budget.has_room(&self.waiter)
    }

    fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    fn is_handshaking(&self) -> bool {
        self.core.is_handshaking()
    }

    fn error(&self) -> Option<&handin_core::Error> {
        self.core.error()
    }

    fn shutdown(&mut self, _now: Now) {
        self.closing = true;
        self.process();
    }
}
