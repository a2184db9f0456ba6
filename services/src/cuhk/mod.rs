//! CUHK: the enrollment service (this module: [`Cuhk`] and one [`CuhkConn`] per connection),
//! its group commit (`commit`), the throttling of wrong codes ([`throttle`]), and the PKI
//! directory with the operator's commands on it ([`PkiDir`]).

mod commit;
mod crl_follow;
mod pki_dir;
pub mod shared_throttle;
pub mod throttle;

pub use commit::CommitStats;
pub use crl_follow::follow_crl;
pub use pki_dir::PkiDir;
pub use shared_throttle::SharedThrottle;

use crate::registrar::{Application, Registrar, Request};
use crate::runtime::{Inbox, Pool};
use crate::store::LogRecords;
use crate::translog::{LogWriter, ServeError};
use arc_swap::ArcSwap;
use commit::{Answer, GroupCommit};
use handin_core::driver::{Accept, Driven, Notify};
use handin_core::pki::{Ca, CheckedCsr, PersonId};
use handin_core::{EnrollServer, EnrollServerEvent, Now, Refusal, RefusalCode, ServerConfig};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use throttle::{AddressThrottle, Throttle};

/// Lifetime of the root CA.
pub const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Lifetime of server certificates.
pub const SERVER_LIFETIME: Duration = Duration::from_secs(2 * 365 * 24 * 3600);
/// How long a published CRL is good for (relying parties should fetch a new one before).
pub const CRL_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

/// An operator-facing error: one line that says what went wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CuhkError(pub String);

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> CuhkError {
    move |e| CuhkError(format!("{what}: {e}"))
}

/// What enrollment workers share.
#[derive(Debug)]
pub struct CuhkShared {
    /// The CA that signs.
    pub ca: Ca,
    /// The records. Enrollments and renewals are decided in batches, one transaction each,
    /// by the committing thread while it holds this lock (group commit); holding it pauses
    /// them.
    pub registrar: Mutex<Registrar>,
    /// Disk and signing work.
    pub pool: Pool,
    /// Lifetime of issued personal certificates (students' and staff's).
    pub lifetime: Duration,
    /// The CRL served to clients (PEM), replaced whole when `crl.pem` changes.
    pub crl: ArcSwap<Vec<u8>>,
}

/// The enrollment service.
#[derive(Debug)]
pub struct Cuhk {
    config: ArcSwap<ServerConfig>,
    shared: Arc<CuhkShared>,
    commits: Arc<GroupCommit>,
    throttle: Arc<dyn Throttle>,
    log: Option<Arc<ServedLog>>,
}

/// CUHK's log as its connections serve it: a read handle and the log's writer (for the
/// checkpoint of an empty log and the verifier key).
struct ServedLog {
    reader: Arc<dyn LogRecords + Send + Sync>,
    writer: Arc<LogWriter>,
}

impl std::fmt::Debug for ServedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedLog")
            .field("origin", &self.writer.origin())
            .finish_non_exhaustive()
    }
}

impl Cuhk {
    /// A service over `shared` starting with `config`.
    pub fn new(config: ServerConfig, shared: CuhkShared) -> Self {
        let (views, log) = match shared.registrar.lock() {
            Ok(r) => {
                let log = match r.log_reader() {
                    Ok(reader) => Some(Arc::new(ServedLog {
                        reader,
                        writer: r.log().clone(),
                    })),
                    Err(e) => {
                        tracing::error!(error = %e, "CUHK's log cannot be read: it will not be served");
                        None
                    }
                };
                (r.views(), log)
            }
            Err(_) => (None, None),
        };
        let shared = Arc::new(shared);
        Self {
            config: ArcSwap::from_pointee(config),
            commits: Arc::new(GroupCommit::new(shared.clone(), views)),
            shared,
            throttle: Arc::new(Mutex::new(AddressThrottle::default())),
            log,
        }
    }

    /// Keeps the wrong-code counts in `throttle` instead of this process's memory (several
    /// nodes share a [`SharedThrottle`]). Call before serving.
    pub fn with_throttle(mut self, throttle: Arc<dyn Throttle>) -> Self {
        self.throttle = throttle;
        self
    }

    /// What the group committer did so far: transactions, applications decided, the largest
    /// batch, batches refused because the database failed.
    pub fn commit_stats(&self) -> CommitStats {
        self.commits.stats()
    }

    /// Applications queued for the next transaction.
    pub fn waiting(&self) -> usize {
        self.commits.waiting()
    }

    /// The shared state (for the CRL watcher).
    pub fn shared(&self) -> &Arc<CuhkShared> {
        &self.shared
    }

    /// The configuration new connections get.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.load_full()
    }

    /// Replaces the configuration for new connections (a new CRL).
    pub fn set_config(&self, config: ServerConfig) {
        self.config.store(Arc::new(config));
    }
}

impl Accept for Cuhk {
    type Conn = CuhkConn;

    fn accept(&self, now: Now, peer: SocketAddr, notify: Notify) -> Option<CuhkConn> {
        match EnrollServer::new(self.config(), now) {
            Ok(core) => Some(CuhkConn {
                core,
                shared: self.shared.clone(),
                commits: self.commits.clone(),
                throttle: self.throttle.clone(),
                log: self.log.clone(),
                objects: Inbox::new(notify.clone()),
                inbox: Inbox::new(notify),
                peer,
                failed: 0,
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

/// One connection to the enrollment server.
#[derive(Debug)]
pub struct CuhkConn {
    core: EnrollServer,
    shared: Arc<CuhkShared>,
    commits: Arc<GroupCommit>,
    throttle: Arc<dyn Throttle>,
    log: Option<Arc<ServedLog>>,
    /// Where log objects read by a worker come back.
    objects: Inbox<Result<Vec<u8>, Refusal>>,
    inbox: Answer,
    peer: SocketAddr,
    /// Enrollments refused on this connection as a wrong code or throttled.
    failed: u32,
    busy: bool,
    closing: bool,
    logged_end: bool,
}

impl CuhkConn {
    /// Hands the application to a worker: an enrollment is refused there at once if the peer's
    /// address sent too many wrong codes lately (the count may be in a shared database, never
    /// read on the connection's thread); else checked against the last committed records,
    /// signed there if it would pass, then decided and recorded with others in one
    /// transaction. The answer comes back through the inbox once that transaction committed.
    fn apply(&mut self, person: PersonId, request: Request, csr: CheckedCsr) {
        self.busy = true;
        let (shared, commits) = (self.shared.clone(), self.commits.clone());
        let (answer, peer, throttle) = (self.inbox.clone(), self.peer, self.throttle.clone());
        self.shared.pool.spawn(move || {
            let now = SystemTime::now();
            if matches!(request, Request::Enroll { .. }) {
                if let Err(wait) = throttle.check(peer.ip(), now) {
                    return answer.post(Err(throttled(wait)));
                }
            }
            let mut application = Application {
                person,
                request,
                now,
                signed: None,
            };
            if commits.would_accept(&application) {
                // A failure here is tried again, and reported, by the committer.
                application.signed = shared.ca.issue_person(&csr, now, shared.lifetime).ok();
            }
            commits.submit(application, csr, answer, peer, throttle);
        });
    }

    /// Reads the log object at `path` on a worker; it is sent when it comes back.
    fn serve_log(&mut self, path: String) {
        let Some(log) = self.log.clone() else {
            let _ = self.core.refuse(Refusal::new(
                RefusalCode::NotFound,
                "this CUHK server does not serve its log",
            ));
            return;
        };
        self.busy = true;
        let objects = self.objects.clone();
        self.shared.pool.spawn(move || {
            let served = crate::translog::serve(log.reader.as_ref(), &log.writer, &path)
                .map(|s| s.bytes)
                .map_err(|e| match e {
                    ServeError::NotFound(m) => Refusal::new(RefusalCode::NotFound, m),
                    ServeError::Store(e) => {
                        tracing::error!(error = %e, "reading CUHK's log");
                        Refusal::new(
                            RefusalCode::Storage,
                            "CUHK's log cannot be read now: try again",
                        )
                    }
                });
            objects.post(served);
        });
    }

    /// Counts a failed enrollment; closes the connection (once answered) at its limit.
    fn failed_attempt(&mut self) {
        self.failed = self.failed.saturating_add(1);
        if throttle::closes_after(self.failed) && !self.closing {
            tracing::info!(peer = %self.peer, failed = self.failed,
                "closing a connection after too many failed enrollments");
            self.closing = true;
        }
    }

    fn process(&mut self) {
        while let Some(ev) = self.core.poll_event() {
            match ev {
                EnrollServerEvent::Connected { person, handshake } => {
                    tracing::info!(peer = %self.peer, person = ?person.map(|s| s.to_string()),
                        version = %handshake.version, suite = %handshake.cipher_suite,
                        group = %handshake.key_exchange, resumed = handshake.resumed, "enrollment connection");
                }
                EnrollServerEvent::EnrollRequested { person, code, csr } => {
                    self.apply(person, Request::Enroll { code }, csr)
                }
                EnrollServerEvent::RenewRequested {
                    person,
                    current,
                    csr,
                } => {
                    let request = Request::Renew {
                        serial: current.serial,
                    };
                    self.apply(person, request, csr);
                }
                EnrollServerEvent::CrlRequested => {
                    let _ = self.core.send_crl(&self.shared.crl.load());
                }
                EnrollServerEvent::LogRequested { path } => self.serve_log(path),
                EnrollServerEvent::Rejected { person, refusal } => {
                    tracing::info!(peer = %self.peer, person = ?person.map(|s| s.to_string()),
                        code = ?refusal.code, reason = %refusal.reason, "enrollment refused");
                }
                _ => {}
            }
        }
        if self.closing && !self.busy && !self.core.is_closed() {
            self.core.close();
        }
        if self.core.is_closed() && !self.logged_end {
            self.logged_end = true;
            if let Some(e) = self.core.error() {
                tracing::info!(peer = %self.peer, "connection ended: {e}");
            }
        }
    }
}

/// The core's inputs fail only by ending the connection; the error stays in `core.error()`,
/// which `process` logs once and `error` hands to the transport.
impl Driven for CuhkConn {
    fn receive(&mut self, now: Now, data: &[u8]) {
        let _ = self.core.receive(now, data);
        self.process();
    }

    fn handle_eof(&mut self, now: Now) {
        let _ = self.core.handle_eof(now);
        self.process();
    }

    fn handle_timeout(&mut self, now: Now) {
        let _ = self.core.handle_timeout(now);
        self.process();
    }

    fn wake(&mut self, _now: Now) {
        for object in self.objects.take() {
            self.busy = false;
            let _ = match object {
                Ok(bytes) => self.core.send_log(&bytes),
                Err(r) => self.core.refuse(r),
            };
        }
        for result in self.inbox.take() {
            self.busy = false;
            let _ = match result {
                Ok(cert) => self.core.issue(&[cert, self.shared.ca.cert().clone()]),
                Err(r) => {
                    // A committed wrong code (or unknown ID) counts against the connection here
                    // (the committer counted it against the address before answering), never
                    // against the student ID.
                    if r.code == RefusalCode::BadCode {
                        self.failed_attempt();
                    } else if r.code == RefusalCode::Throttled {
                        tracing::info!(peer = %self.peer, code = ?r.code, reason = %r.reason,
                            "enrollment refused");
                        self.failed_attempt();
                    }
                    self.core.refuse(r)
                }
            };
        }
        self.process();
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        self.core.poll_transmit(out)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
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

/// The refusal of an enrollment from an address that must wait `wait`.
fn throttled(wait: Duration) -> Refusal {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Refusal::new(
        RefusalCode::Throttled,
        format!(
            "too many wrong enrollment codes from your network address: try again in {secs} \
             seconds"
        ),
    )
}
