//! Blackboard's service: each accepted connection is a [`SubmitServer`] whose events are
//! answered from the durable [`Board`], with every disk and database step on the worker pool.

use crate::board::{Board, BoardError, Upload};
use crate::pool::{Inbox, Pool, Strand};
use crate::swap::Swap;
use handin_core::driver::{Accept, Driven, Notify};
use handin_core::msg::SubmissionEntry;
use handin_core::pki::{unix_secs, StudentId};
use handin_core::{
    Receipt, ReceiptBody, ReceiptSigner, Refusal, RefusalCode, ServerConfig, SubmitServer,
    SubmitServerEvent,
};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Stop reading from a student while this many uploaded bytes wait for the disk.
const DISK_HIGH_WATER: usize = 4 * 1024 * 1024;
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

/// The submission service: makes a [`BbConn`] for each accepted socket, with the TLS
/// configuration in force at that moment (it changes when the CRL is reloaded).
#[derive(Debug)]
pub struct Blackboard {
    config: Swap<ServerConfig>,
    shared: Arc<Shared>,
}

impl Blackboard {
    /// A service over `shared`, starting with `config`.
    pub fn new(config: ServerConfig, shared: Shared) -> Self {
        Self {
            config: Swap::new(config),
            shared: Arc::new(shared),
        }
    }

    /// The configuration new connections get.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.get()
    }

    /// Replaces the configuration for connections accepted from now on.
    pub fn set_config(&self, config: ServerConfig) {
        self.config.set(config);
    }
}

impl Accept for Blackboard {
    type Conn = BbConn;

    fn accept(&self, now: SystemTime, peer: SocketAddr, notify: Notify) -> Option<BbConn> {
        match SubmitServer::new(self.config(), now) {
            Ok(core) => Some(BbConn {
                core,
                shared: self.shared.clone(),
                inbox: Inbox::new(notify),
                strand: Strand::default(),
                upload: Arc::new(Mutex::new(None)),
                disk_pending: 0,
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
    Written(usize),
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
    shared: Arc<Shared>,
    inbox: Inbox<Done>,
    strand: Strand,
    upload: Arc<Mutex<Option<Upload>>>,
    disk_pending: usize,
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
            self.on_event(ev);
        }
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
            // Whatever was half uploaded goes.
            let slot = self.upload.clone();
            self.strand.spawn(&self.shared.pool, move || {
                if let Some(u) = slot.lock().ok().and_then(|mut s| s.take()) {
                    u.abort();
                }
            });
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
            }
            SubmitServerEvent::UploadRequested(offer) => {
                self.busy = true;
                let (shared, inbox, slot) =
                    (self.shared.clone(), self.inbox.clone(), self.upload.clone());
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
                        let upload = shared.board.begin_upload().map_err(refusal)?;
                        if let Ok(mut s) = slot.lock() {
                            *s = Some(upload);
                        }
                        Ok(())
                    })();
                    inbox.post(Done::Offer(verdict));
                });
            }
            SubmitServerEvent::UploadData(bytes) => {
                self.disk_pending += bytes.len();
                let (inbox, slot) = (self.inbox.clone(), self.upload.clone());
                self.strand.spawn(&pool, move || {
                    let n = bytes.len();
                    let r = match slot.lock() {
                        Ok(mut s) => match s.as_mut() {
                            Some(u) => u.write(&bytes).map_err(refusal),
                            None => Ok(()),
                        },
                        Err(_) => Err(Refusal::new(RefusalCode::Internal, "upload state lost")),
                    };
                    inbox.post(Done::Written(n));
                    if let Err(r) = r {
                        inbox.post(Done::WriteFailed(r));
                    }
                });
            }
            SubmitServerEvent::UploadComplete { offer, received_at } => {
                let Some(student) = self.student() else {
                    return;
                };
                let (shared, inbox, slot) =
                    (self.shared.clone(), self.inbox.clone(), self.upload.clone());
                self.strand.spawn(&pool, move || {
                    let stored = (|| {
                        let upload = slot
                            .lock()
                            .ok()
                            .and_then(|mut s| s.take())
                            .ok_or_else(|| Refusal::new(RefusalCode::Storage, "the upload was lost: send it again"))?;
                        let entry = shared
                            .board
                            .commit(upload, &student, &offer, received_at)
                            .map_err(refusal)?;
                        let due = shared
                            .board
                            .assignment(&entry.course, &entry.assignment)
                            .map_err(refusal)?
                            .map_or(0, |a| unix_secs(a.due));
                        let body = ReceiptBody::for_entry(&entry, due);
                        tracing::info!(id = %entry.id, student = %entry.student_id, course = %entry.course,
                            assignment = %entry.assignment, size = entry.size, late = entry.late, "stored");
                        shared.signer.sign(&body).map_err(|e| {
                            tracing::error!(error = %e, "cannot sign a receipt");
                            Refusal::new(RefusalCode::Internal, "stored, but the receipt could not be signed: list your submissions to confirm")
                        })
                    })();
                    inbox.post(Done::Stored(stored));
                });
            }
            SubmitServerEvent::UploadAborted { reason } => {
                tracing::info!(peer = %self.peer, %reason, "upload aborted");
                self.busy = false;
                let slot = self.upload.clone();
                self.strand.spawn(&pool, move || {
                    if let Some(u) = slot.lock().ok().and_then(|mut s| s.take()) {
                        u.abort();
                    }
                });
            }
            SubmitServerEvent::ListRequested { course } => {
                let Some(student) = self.student() else {
                    return;
                };
                self.busy = true;
                let (shared, inbox) = (self.shared.clone(), self.inbox.clone());
                pool.spawn(move || {
                    let listed = shared
                        .board
                        .list(&student, course.as_deref())
                        .map_err(refusal);
                    inbox.post(Done::Listed(listed));
                });
            }
            SubmitServerEvent::FetchRequested { id } => {
                let Some(student) = self.student() else {
                    return;
                };
                self.busy = true;
                let (shared, inbox) = (self.shared.clone(), self.inbox.clone());
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
                    inbox.post(Done::FetchOpened(opened));
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
                let _ = self.core.accept_upload();
            }
            Done::Offer(Err(r))
            | Done::Stored(Err(r))
            | Done::Listed(Err(r))
            | Done::FetchOpened(Err(r)) => {
                self.busy = false;
                let _ = self.core.refuse(r);
            }
            Done::Written(n) => self.disk_pending = self.disk_pending.saturating_sub(n),
            Done::WriteFailed(r) => {
                tracing::warn!(peer = %self.peer, reason = %r.reason, "upload write failed");
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
            let (file, inbox) = (f.file.clone(), self.inbox.clone());
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
                inbox.post(Done::FetchChunk(r));
            });
        }
    }
}

impl Driven for BbConn {
    fn receive(&mut self, now: SystemTime, data: &[u8]) {
        let _ = self.core.receive(now, data);
        self.process();
    }

    fn handle_eof(&mut self, now: SystemTime) {
        let _ = self.core.handle_eof(now);
        self.process();
    }

    fn handle_timeout(&mut self, now: SystemTime) {
        let _ = self.core.handle_timeout(now);
        self.process();
    }

    fn wake(&mut self, _now: SystemTime) {
        for done in self.inbox.take() {
            self.on_done(done);
        }
        self.process();
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let before = out.len();
        self.pump_fetch(out.len());
        self.process();
        self.core.poll_transmit(out);
        out.len() - before
    }

    fn poll_timeout(&self) -> Option<SystemTime> {
        self.core.poll_timeout()
    }

    fn wants_read(&self) -> bool {
        self.disk_pending < DISK_HIGH_WATER
    }

    fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    fn is_handshaking(&self) -> bool {
        self.core.is_handshaking()
    }

    fn shutdown(&mut self, _now: SystemTime) {
        self.closing = true;
        self.process();
    }
}
