//! Blackboard's service: each accepted connection is a [`SubmitServer`] whose events are
//! answered from the durable [`Board`], with every disk and database step on the worker pool.
//!
//! - `upload`: uploaded bytes wait in memory until a worker writes them to the upload's
//!   temporary file, owned by the connection's strand. Two limits stop reading from a
//!   student's socket (so TCP's window closes on them): 4 MiB of their own upload waiting, and
//!   the server-wide upload buffer ([`Budget`]) being spent.
//! - `commit`: a finished upload is checked and fdatasync'd on the connection's strand, then
//!   handed to the group commit: every submission ready at that moment is renamed into place,
//!   the directory fsync'd once and all records committed in one transaction
//!   ([`Board::commit_batch`]); only then are their receipts signed and sent.
//! - `fetch`: a stored submission streams back with one disk read in flight ahead of the
//!   socket.
//! - [`sessions`]: the connections each person holds, and their limits.
//! - `staff`: the staff service (`handin-staff/1`) on the same port; `dispatch` picks the
//!   protocol from the client's ALPN offer at its ClientHello.
//!
//! Every job answers its connection through a [`Promise`], so a job that panics costs its own
//! request only.

mod commit;
mod dispatch;
mod fetch;
mod grades;
mod logs;
mod served;
pub mod sessions;
mod staff;
mod upload;
pub mod web;

pub use dispatch::Conn;
pub use staff::StaffConn;
pub use web::WebConn;

use crate::board::{Board, BoardError};
use crate::runtime::{Batcher, Budget, Inbox, Pool, Promise};
use arc_swap::ArcSwap;
use commit::Pending;
use fetch::{Chunk, Fetch, Step};
use handin_core::driver::{Accept, Notify};
use handin_core::http::{HttpLimits, HttpServer};
use handin_core::msg::SubmissionEntry;
use handin_core::pki::{rfc3339, PersonId, StudentId};
use handin_core::staff::StaffServer;
use handin_core::{
    Now, Receipt, ReceiptSigner, Refusal, RefusalCode, ServerConfig, SubmitServer,
    SubmitServerEvent,
};
use sessions::{Limits, Sessions};
use std::fs::File;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use upload::{Finished, UploadDone, Uploads};

/// The default cap on uploaded bytes held in memory across all connections.
pub const DEFAULT_UPLOAD_BUFFER: usize = 256 * 1024 * 1024;
/// The smallest upload buffer accepted: one read from a socket must fit.
pub const MIN_UPLOAD_BUFFER: usize = 256 * 1024;

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

/// The submission and staff service: makes a [`Conn`] for each accepted socket, which becomes a
/// [`BbConn`] or a [`StaffConn`] once the client's ClientHello says which protocol it speaks,
/// with the TLS configuration in force at that moment (it changes when the CRL is reloaded).
/// Cloning it is cheap: every part is shared.
#[derive(Debug, Clone)]
pub struct Blackboard {
    config: Arc<ArcSwap<ServerConfig>>,
    /// The same server's configuration for `handin-staff/1`.
    staff_config: Arc<ArcSwap<ServerConfig>>,
    /// The same server's configuration for its web pages (`http/1.1`).
    web_config: Arc<ArcSwap<ServerConfig>>,
    web: Arc<web::WebShared>,
    http_limits: HttpLimits,
    /// The browsers' connections by person, apart from the protocols' (a browser opens up to
    /// six connections to one site at once).
    web_sessions: Arc<Sessions>,
    shared: Arc<Shared>,
    committer: Batcher<Pending>,
    budget: Arc<Budget>,
    sessions: Arc<Sessions>,
}

impl Blackboard {
    /// A service over `shared`, starting with `config`, with the default upload buffer
    /// ([`DEFAULT_UPLOAD_BUFFER`]).
    ///
    /// `config` is the submission protocol's; the staff protocol's is made from it.
    pub fn new(config: ServerConfig, shared: Shared) -> Result<Self, handin_core::ConfigError> {
        let shared = Arc::new(shared);
        let committer = commit::committer(shared.clone());
        let staff = config.with_role(handin_core::Role::Staff)?;
        let web = config.with_role(handin_core::Role::Web)?;
        let key = web::FormKey::generate().map_err(handin_core::ConfigError)?;
        Ok(Self {
            staff_config: Arc::new(ArcSwap::from_pointee(staff)),
            web_config: Arc::new(ArcSwap::from_pointee(web)),
            web: Arc::new(web::WebShared { key }),
            http_limits: HttpLimits::default(),
            web_sessions: Arc::new(Sessions::new(web::browser_limits(Limits::default()))),
            config: Arc::new(ArcSwap::from_pointee(config)),
            shared,
            committer,
            budget: Arc::new(Budget::new(DEFAULT_UPLOAD_BUFFER)),
            sessions: Arc::new(Sessions::new(Limits::default())),
        })
    }

    /// Signs and checks the web pages' forms with `key` instead of this process's own random
    /// one: nodes behind one load balancer share a key ([`web::FormKey::shared`]), so that a
    /// form from one node is taken by another. Call before serving.
    pub fn with_form_key(mut self, key: web::FormKey) -> Self {
        self.web = Arc::new(web::WebShared { key });
        self
    }

    /// Limits how many connections a student may hold and for how long (see
    /// [`Limits`]). Call before serving.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.sessions = Arc::new(Sessions::new(limits));
        self.web_sessions = Arc::new(Sessions::new(web::browser_limits(limits)));
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
        match config.with_role(handin_core::Role::Staff) {
            Ok(staff) => self.staff_config.store(Arc::new(staff)),
            Err(e) => {
                tracing::error!(error = %e, "the staff configuration could not follow the new one")
            }
        }
        match config.with_role(handin_core::Role::Web) {
            Ok(web) => self.web_config.store(Arc::new(web)),
            Err(e) => {
                tracing::error!(error = %e, "the web configuration could not follow the new one")
            }
        }
        self.config.store(Arc::new(config));
        let woken = self.sessions.wake_all() + self.web_sessions.wake_all();
        tracing::debug!(woken, "open connections told of the new configuration");
    }
}

impl Accept for Blackboard {
    type Conn = Conn;

    fn accept(&self, now: Now, peer: SocketAddr, notify: Notify) -> Option<Conn> {
        Some(Conn::new(self, now, peer, notify))
    }
}

impl Blackboard {
    /// A student's connection over a submission server continued from its ClientHello.
    fn submit_conn(
        &self,
        core: SubmitServer,
        now: Now,
        peer: SocketAddr,
        notify: Notify,
    ) -> BbConn {
        let max_age = self.sessions.limits().max_age;
        BbConn {
            config: self.config(),
            core,
            configs: self.config.clone(),
            sessions: self.sessions.clone(),
            session: None,
            retire_at: now.mono.checked_add(max_age),
            shared: self.shared.clone(),
            uploads: Uploads::new(self.committer.clone(), self.budget.clone(), notify.clone()),
            inbox: Inbox::new(notify.clone()),
            notify,
            held: false,
            fetch: None,
            peer,
            busy: false,
            closing: false,
            logged_end: false,
        }
    }

    /// A staff member's connection over a staff server continued from its ClientHello.
    fn staff_conn(
        &self,
        core: StaffServer,
        now: Now,
        peer: SocketAddr,
        notify: Notify,
    ) -> StaffConn {
        StaffConn::new(
            core,
            staff::StaffParts {
                configs: self.staff_config.clone(),
                sessions: self.sessions.clone(),
                shared: self.shared.clone(),
                notify,
                peer,
                retire_at: now.mono.checked_add(self.sessions.limits().max_age),
            },
        )
    }

    /// The staff configuration new connections get.
    pub fn staff_config(&self) -> Arc<ServerConfig> {
        self.staff_config.load_full()
    }

    /// The web pages' configuration new connections get.
    pub fn web_config(&self) -> Arc<ServerConfig> {
        self.web_config.load_full()
    }

    /// What a browser's request may be (head and body sizes).
    pub fn http_limits(&self) -> HttpLimits {
        self.http_limits
    }

    /// A browser's connection over an HTTP server continued from its ClientHello.
    fn web_conn(&self, core: HttpServer, now: Now, peer: SocketAddr, notify: Notify) -> WebConn {
        WebConn::new(
            core,
            web::WebParts {
                sessions: self.web_sessions.clone(),
                retire_at: now.mono.checked_add(self.web_sessions.limits().max_age),
                configs: self.web_config.clone(),
                shared: self.shared.clone(),
                web: self.web.clone(),
                committer: self.committer.clone(),
                budget: self.budget.clone(),
                notify,
                peer,
            },
        )
    }
}

/// What a job tells its connection.
enum Done {
    Offer(Result<(), Refusal>),
    WriteFailed(Refusal),
    Stored(Result<Receipt, Refusal>),
    Listed(Result<Vec<SubmissionEntry>, Refusal>),
    FetchOpened(Result<(SubmissionEntry, File), Refusal>),
    FetchChunk(Chunk),
    Grades(Result<Vec<handin_core::msg::GradeEntry>, Refusal>),
    FeedbackOpened(Result<(handin_core::msg::FeedbackFile, File), Refusal>),
    Committed(Result<Box<handin_core::logs::Commitment>, Refusal>),
    LogObject(Result<Vec<u8>, Refusal>),
}

impl UploadDone for Done {
    fn offer(verdict: Result<(), Refusal>) -> Self {
        Self::Offer(verdict)
    }
    fn write_failed(refusal: Refusal) -> Self {
        Self::WriteFailed(refusal)
    }
    fn stored(outcome: Result<Receipt, Refusal>) -> Self {
        Self::Stored(outcome)
    }
}

impl fetch::ChunkDone for Done {
    fn chunk(chunk: Chunk) -> Self {
        Self::FetchChunk(chunk)
    }
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
    /// When the connection has been open for `Limits::max_age`.
    retire_at: Option<Instant>,
    shared: Arc<Shared>,
    /// The upload in progress and its way to the disk.
    uploads: Uploads<Done>,
    notify: Notify,
    inbox: Inbox<Done>,
    /// The core was told Blackboard holds the input (see `sync_hold`).
    held: bool,
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
                self.uploads.received(&bytes);
                continue;
            }
            // Whatever came before this event is written before it is handled.
            self.uploads.flush(&self.shared.pool, &self.inbox);
            self.on_event(ev);
        }
        self.uploads.flush(&self.shared.pool, &self.inbox);
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
            self.uploads.close(&self.shared.pool);
        }
    }

    fn on_event(&mut self, ev: SubmitServerEvent) {
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
                    expires = %rfc3339(certificate.not_after),
                    version = %handshake.version,
                    suite = %handshake.cipher_suite,
                    group = %handshake.key_exchange,
                    resumed = handshake.resumed,
                    "student authenticated"
                );
                match self
                    .sessions
                    .join(&PersonId::Student(student.clone()), self.notify.clone())
                {
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
                self.uploads
                    .offer(&self.shared, &self.inbox, student, offer, true);
            }
            SubmitServerEvent::UploadComplete { offer, received_at } => {
                let Some(student) = self.student() else {
                    return;
                };
                let serial = self
                    .core
                    .certificate()
                    .map(|c| c.serial.clone())
                    .unwrap_or_default();
                let finished = Finished {
                    student,
                    serial,
                    offer,
                    received_at,
                    measured: false,
                };
                self.uploads
                    .complete(&self.shared, &self.inbox, &self.configs, finished);
            }
            SubmitServerEvent::UploadAborted { reason } => {
                tracing::info!(peer = %self.peer, %reason, "upload aborted");
                self.busy = false;
                self.uploads.abort(&self.shared.pool);
            }
            SubmitServerEvent::ListRequested { course } => {
                let Some(student) = self.student() else {
                    return;
                };
                self.busy = true;
                let shared = self.shared.clone();
                let answer = Promise::new(self.inbox.clone(), || Done::Listed(Err(failed())));
                self.shared.pool.spawn(move || {
                    let listed = shared
                        .board
                        .list(&student, course.as_deref())
                        .map(|all| all.iter().map(SubmissionEntry::from).collect())
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
                self.shared.pool.spawn(move || {
                    let opened = (|| {
                        let found = shared
                            .board
                            .find(&student, &id)
                            .map_err(refusal)?
                            .ok_or_else(|| Refusal::new(RefusalCode::NotFound, format!("you have no submission {id}")))?;
                        let file = shared.board.open_blob(&found).map_err(|e| {
                            tracing::error!(path = %shared.board.blobs().path(&found.id).display(), error = %e, "stored submission unreadable");
                            Refusal::new(RefusalCode::Storage, "the stored file cannot be read: tell the course staff")
                        })?;
                        Ok((SubmissionEntry::from(&found), file))
                    })();
                    answer.keep(Done::FetchOpened(opened));
                });
            }
            SubmitServerEvent::GradesRequested { course } => {
                let Some(student) = self.student() else {
                    return;
                };
                self.busy = true;
                grades::list(&self.shared, &self.inbox, student, course);
            }
            SubmitServerEvent::FeedbackRequested { course, assignment } => {
                let Some(student) = self.student() else {
                    return;
                };
                self.busy = true;
                grades::open_feedback(&self.shared, &self.inbox, student, course, assignment);
            }
            SubmitServerEvent::CommitRequested(offer) => {
                let Some(student) = self.student() else {
                    return;
                };
                self.busy = true;
                let shared = self.shared.clone();
                let answer = Promise::new(self.inbox.clone(), || Done::Committed(Err(failed())));
                self.shared.pool.spawn(move || {
                    let made = logs::commit(&shared, &student, &offer).map(Box::new);
                    answer.keep(Done::Committed(made));
                });
            }
            SubmitServerEvent::LogRequested { path } => {
                self.busy = true;
                let shared = self.shared.clone();
                let answer = Promise::new(self.inbox.clone(), || Done::LogObject(Err(failed())));
                self.shared.pool.spawn(move || {
                    let object = logs::object(&shared, &path).map(|(bytes, _)| bytes);
                    answer.keep(Done::LogObject(object));
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
                let accepted = self.core.accept_upload().is_ok();
                self.uploads.started(accepted);
            }
            Done::Offer(Err(r))
            | Done::Stored(Err(r))
            | Done::Listed(Err(r))
            | Done::FetchOpened(Err(r))
            | Done::Grades(Err(r))
            | Done::FeedbackOpened(Err(r))
            | Done::Committed(Err(r))
            | Done::LogObject(Err(r)) => {
                self.busy = false;
                let _ = self.core.refuse(r);
            }
            Done::Committed(Ok(commitment)) => {
                self.busy = false;
                if let Err(e) = self.core.send_commitment(&commitment) {
                    tracing::error!(error = %e, "commitment not sent");
                }
            }
            Done::LogObject(Ok(bytes)) => {
                self.busy = false;
                let _ = self.core.send_log(&bytes);
            }
            Done::WriteFailed(r) => {
                // The first failure of an upload refuses it; the writes already queued behind
                // it fail too (hundreds on a full disk), and say nothing new.
                if self.uploads.first_failure() {
                    tracing::warn!(peer = %self.peer, student = ?self.student().map(|s| s.to_string()), reason = %r.reason, "upload write failed");
                    // Refusing mid-upload makes the core raise UploadAborted, which deletes
                    // the file.
                    let _ = self.core.refuse(r);
                }
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
                    self.fetch = Some(Fetch::new(file, entry.size));
                } else {
                    self.busy = false;
                }
            }
            Done::Grades(Ok(grades)) => {
                self.busy = false;
                for g in &grades {
                    let _ = self.core.send_grade(g);
                }
                let _ = self.core.finish_grades();
            }
            Done::FeedbackOpened(Ok((file_info, file))) => {
                if self.core.start_feedback(&file_info).is_ok() {
                    self.fetch = Some(Fetch::new(file, file_info.size));
                } else {
                    self.busy = false;
                }
            }
            Done::FetchChunk(Ok((file, bytes))) => {
                if let Some(f) = self.fetch.as_mut() {
                    f.read_done(file, bytes);
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
        if let Step::Ended = f.pump(&mut self.core, out_len, &self.shared.pool, &self.inbox) {
            self.fetch = None;
            self.busy = false;
        }
    }
}

/// The refusal for a request whose job failed unexpectedly (it panicked: see
/// [`crate::runtime::contain`]).
fn failed() -> Refusal {
    Refusal::new(
        RefusalCode::Internal,
        "Blackboard failed on this request: try again",
    )
}

impl Drop for BbConn {
    fn drop(&mut self) {
        if let (Some(key), Some(student)) = (self.session, self.core.student()) {
            self.sessions
                .leave(&PersonId::Student(student.clone()), key);
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
}

impl served::Served for BbConn {
    type Protocol = handin_core::submit::SubmitServerProtocol;
    type Done = Done;

    fn core(&self) -> &SubmitServer {
        &self.core
    }
    fn core_mut(&mut self) -> &mut SubmitServer {
        &mut self.core
    }
    fn inbox(&self) -> &Inbox<Done> {
        &self.inbox
    }
    fn refresh_config(&mut self, now: Now) {
        BbConn::refresh_config(self, now)
    }
    fn retire_at(&self) -> Option<Instant> {
        self.retire_at
    }
    fn retire(&mut self) {
        self.closing = true;
        self.retire_at = None;
    }
    fn process(&mut self) {
        BbConn::process(self)
    }
    fn on_done(&mut self, done: Done) {
        BbConn::on_done(self, done)
    }
    fn pump(&mut self, out_len: usize) {
        self.pump_fetch(out_len)
    }
    fn wants_read(&self) -> bool {
        self.uploads.wants_read()
    }
    fn held(&mut self) -> &mut bool {
        &mut self.held
    }
    fn close_when_idle(&mut self) {
        self.closing = true;
    }
}

served::served_driven!(BbConn);
