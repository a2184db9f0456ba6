//! CUHK: the PKI directory, the operator commands, and the enrollment service.

mod commit;
pub mod throttle;

pub use commit::CommitStats;

use crate::registrar::{Application, Registrar, Request};
use crate::runtime::{Inbox, Pool};
use arc_swap::ArcSwap;
use commit::{Answer, GroupCommit};
use handin_core::driver::{Accept, Driven, Notify};
use handin_core::pki::{to_pem, Ca, CheckedCsr, Revocations, ServerName, StudentId};
use handin_core::{
    EnrollServer, EnrollServerEvent, Identity, Refusal, RefusalCode, Role, ServerConfig,
};
use handin_files::dirlock::DirLock;
use handin_files::{self as fsio, PRIVATE, PUBLIC};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};
use throttle::AddressThrottle;

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

/// The files of a PKI directory.
#[derive(Debug, Clone)]
pub struct PkiDir {
    root: PathBuf,
}

impl PkiDir {
    /// The directory at `root`.
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// `ca.crt`: the root certificate, to hand to students and Blackboard.
    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca.crt")
    }
    /// `ca.key` (0600).
    pub fn ca_key(&self) -> PathBuf {
        self.root.join("ca.key")
    }
    /// `cuhk.crt`: the enrollment server's certificate.
    pub fn cuhk_cert(&self) -> PathBuf {
        self.root.join("cuhk.crt")
    }
    /// `cuhk.key` (0600).
    pub fn cuhk_key(&self) -> PathBuf {
        self.root.join("cuhk.key")
    }
    /// `crl.pem`: the current CRL.
    pub fn crl(&self) -> PathBuf {
        self.root.join("crl.pem")
    }
    /// `cuhk.db`: roster, codes, issued certificates.
    pub fn db(&self) -> PathBuf {
        self.root.join("cuhk.db")
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>, CuhkError> {
        std::fs::read(path).map_err(|e| {
            CuhkError(format!(
                "cannot read {}: {e}; run `cuhk init --dir {}` first",
                path.display(),
                self.root.display()
            ))
        })
    }

    /// Creates the directory (mode 0700, also if it already existed with a wider mode), the CA,
    /// CUHK's own server certificate for `sans`, an empty CRL and the database.
    pub fn init(&self, sans: &[String], now: SystemTime) -> Result<(), CuhkError> {
        if self.ca_key().exists() {
            return Err(CuhkError(format!(
                "{} already holds a CA; refusing to overwrite it (use another --dir)",
                self.root.display()
            )));
        }
        let before = fsio::create_private_dir(&self.root).map_err(io_err(format!(
            "creating {} (mode 0700)",
            self.root.display()
        )))?;
        if let Some(mode) = before.filter(|m| m & 0o077 != 0) {
            tracing::warn!(
                "{} was mode {mode:04o}; made it 0700, as it will hold the CA's private key",
                self.root.display()
            );
        }
        let ca = Ca::generate("CUHK Root CA", now, CA_LIFETIME).map_err(|e| CuhkError(e.0))?;
        fsio::write_new(&self.ca_key(), ca.key_pem().as_bytes(), PRIVATE)
            .map_err(io_err(format!("writing {}", self.ca_key().display())))?;
        fsio::write_atomic(&self.ca_cert(), ca.cert_pem().as_bytes(), PUBLIC)
            .map_err(io_err(format!("writing {}", self.ca_cert().display())))?;
        let names: Vec<ServerName> = sans.iter().map(|s| ServerName::parse(s)).collect();
        let cuhk = ca
            .issue_server("CUHK enrollment", &names, now, SERVER_LIFETIME)
            .map_err(|e| CuhkError(e.0))?;
        fsio::write_atomic(&self.cuhk_key(), cuhk.key_pem.as_bytes(), PRIVATE)
            .map_err(io_err(format!("writing {}", self.cuhk_key().display())))?;
        fsio::write_atomic(
            &self.cuhk_cert(),
            format!("{}{}", cuhk.cert_pem, ca.cert_pem()).as_bytes(),
            PUBLIC,
        )
        .map_err(io_err(format!("writing {}", self.cuhk_cert().display())))?;
        let mut registrar = self.registrar()?;
        self.publish_crl(&ca, &mut registrar, now)?;
        Ok(())
    }

    /// The CA, loaded from `ca.crt` and `ca.key`.
    pub fn ca(&self) -> Result<Ca, CuhkError> {
        let cert = self.read(&self.ca_cert())?;
        let key = self.read(&self.ca_key())?;
        let text = |b: Vec<u8>, what: &str| {
            String::from_utf8(b).map_err(|_| CuhkError(format!("{what} is not PEM text")))
        };
        Ca::from_pem(&text(cert, "ca.crt")?, &text(key, "ca.key")?)
            .map_err(|e| CuhkError(format!("loading the CA: {e}")))
    }

    /// Locks the directory for a server (`cuhk serve`) for as long as the lock lives; refuses,
    /// naming the holder, if another server holds it. The operator's commands (`roster add`,
    /// `revoke`, `crl`) do not take it: they work alongside the server.
    pub fn lock_for_serving(&self, now: SystemTime) -> Result<DirLock, CuhkError> {
        DirLock::acquire(&self.root, now).map_err(|e| CuhkError(e.to_string()))
    }

    /// The registrar database.
    pub fn registrar(&self) -> Result<Registrar, CuhkError> {
        Registrar::open(&self.db()).map_err(|e| CuhkError(e.to_string()))
    }

    /// Issues a server certificate and key for `names` into the given files.
    pub fn issue_server(
        &self,
        name: &str,
        sans: &[String],
        out_cert: &Path,
        out_key: &Path,
        now: SystemTime,
    ) -> Result<(), CuhkError> {
        if sans.is_empty() {
            return Err(CuhkError(
                "give at least one --san (a DNS name or an IP address)".into(),
            ));
        }
        let ca = self.ca()?;
        let names: Vec<ServerName> = sans.iter().map(|s| ServerName::parse(s)).collect();
        let issued = ca
            .issue_server(name, &names, now, SERVER_LIFETIME)
            .map_err(|e| CuhkError(e.0))?;
        fsio::write_atomic(out_key, issued.key_pem.as_bytes(), PRIVATE)
            .map_err(io_err(format!("writing {}", out_key.display())))?;
        fsio::write_atomic(
            out_cert,
            format!("{}{}", issued.cert_pem, ca.cert_pem()).as_bytes(),
            PUBLIC,
        )
        .map_err(io_err(format!("writing {}", out_cert.display())))?;
        Ok(())
    }

    /// Builds a CRL of every revoked certificate, signed by the CA, and writes it atomically
    /// to `crl.pem`. Returns the PEM.
    pub fn publish_crl(
        &self,
        ca: &Ca,
        registrar: &mut Registrar,
        now: SystemTime,
    ) -> Result<String, CuhkError> {
        let pem = self.current_crl(ca, registrar, now)?;
        fsio::write_atomic(&self.crl(), pem.as_bytes(), PUBLIC)
            .map_err(io_err(format!("writing {}", self.crl().display())))?;
        Ok(pem)
    }

    /// A freshly signed CRL of every revoked certificate (not written anywhere).
    pub fn current_crl(
        &self,
        ca: &Ca,
        registrar: &mut Registrar,
        now: SystemTime,
    ) -> Result<String, CuhkError> {
        let revoked = registrar.revoked().map_err(|e| CuhkError(e.to_string()))?;
        let number = registrar
            .next_crl_number()
            .map_err(|e| CuhkError(e.to_string()))?;
        let crl = ca
            .crl(&revoked, number, now, CRL_VALIDITY)
            .map_err(|e| CuhkError(e.0))?;
        Ok(to_pem("X509 CRL", &crl))
    }

    /// Revokes every certificate of `id` and republishes the CRL. Returns how many.
    pub fn revoke(&self, id: &StudentId, now: SystemTime) -> Result<usize, CuhkError> {
        let ca = self.ca()?;
        let mut registrar = self.registrar()?;
        let n = registrar
            .revoke_student(id, now)
            .map_err(|e| CuhkError(e.to_string()))?;
        self.publish_crl(&ca, &mut registrar, now)?;
        Ok(n)
    }

    /// The enrollment server's TLS configuration (CUHK's certificate, the current CRL).
    pub fn server_config(&self) -> Result<ServerConfig, CuhkError> {
        let ca = self.ca()?;
        let identity = Identity::from_pem(
            &self.read(&self.cuhk_cert())?,
            &self.read(&self.cuhk_key())?,
        )
        .map_err(|e| CuhkError(format!("loading CUHK's certificate: {e}")))?;
        let revocations = Revocations::from_crl(&self.read(&self.crl())?, ca.cert())
            .map_err(|e| CuhkError(format!("loading {}: {e}", self.crl().display())))?;
        ServerConfig::new(Role::Enroll, ca.cert().clone(), identity, revocations)
            .map_err(|e| CuhkError(format!("TLS configuration: {e}")))
    }
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
    /// Lifetime of issued student certificates.
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
    throttle: Arc<Mutex<AddressThrottle>>,
}

impl Cuhk {
    /// A service over `shared` starting with `config`.
    pub fn new(config: ServerConfig, shared: CuhkShared) -> Self {
        let views = match shared.registrar.lock() {
            Ok(r) => r.views(),
            Err(_) => None,
        };
        let shared = Arc::new(shared);
        Self {
            config: ArcSwap::from_pointee(config),
            commits: Arc::new(GroupCommit::new(shared.clone(), views)),
            shared,
            throttle: Arc::default(),
        }
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

    fn accept(&self, now: SystemTime, peer: SocketAddr, notify: Notify) -> Option<CuhkConn> {
        match EnrollServer::new(self.config(), now) {
            Ok(core) => Some(CuhkConn {
                core,
                shared: self.shared.clone(),
                commits: self.commits.clone(),
                throttle: self.throttle.clone(),
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
    throttle: Arc<Mutex<AddressThrottle>>,
    inbox: Answer,
    peer: SocketAddr,
    /// Enrollments refused on this connection as a wrong code or throttled.
    failed: u32,
    busy: bool,
    closing: bool,
    logged_end: bool,
}

impl CuhkConn {
    /// Hands the application to a worker: checked against the last committed records, signed
    /// there if it would pass, then decided and recorded with others in one transaction; the
    /// answer comes back through the inbox once that transaction committed.
    fn apply(&mut self, student: StudentId, request: Request, csr: CheckedCsr) {
        self.busy = true;
        let (shared, commits) = (self.shared.clone(), self.commits.clone());
        let (answer, peer) = (self.inbox.clone(), self.peer);
        self.shared.pool.spawn(move || {
            let now = SystemTime::now();
            let mut application = Application {
                student,
                request,
                now,
                signed: None,
            };
            if commits.would_accept(&application) {
                // A failure here is tried again, and reported, by the committer.
                application.signed = shared.ca.issue_student(&csr, now, shared.lifetime).ok();
            }
            commits.submit(application, csr, answer, peer);
        });
    }

    /// An enrollment: refused at once if the peer's address sent too many wrong codes lately,
    /// else handed to a worker.
    fn enroll(&mut self, student: StudentId, code: String, csr: CheckedCsr, now: SystemTime) {
        let Err(wait) = lock(&self.throttle).check(self.peer.ip(), now) else {
            return self.apply(student, Request::Enroll { code }, csr);
        };
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let refusal = Refusal::new(
            RefusalCode::Throttled,
            format!(
                "too many wrong enrollment codes from your network address: try again in {secs} \
                 seconds"
            ),
        );
        tracing::info!(peer = %self.peer, %student, code = ?refusal.code,
            reason = %refusal.reason, "enrollment refused");
        let _ = self.core.refuse(refusal);
        self.failed_attempt();
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

    fn process(&mut self, now: SystemTime) {
        while let Some(ev) = self.core.poll_event() {
            match ev {
                EnrollServerEvent::Connected { student, handshake } => {
                    tracing::info!(peer = %self.peer, student = ?student.map(|s| s.to_string()),
                        version = %handshake.version, suite = %handshake.cipher_suite,
                        group = %handshake.key_exchange, resumed = handshake.resumed, "enrollment connection");
                }
                EnrollServerEvent::EnrollRequested {
                    student_id,
                    code,
                    csr,
                } => self.enroll(student_id, code, csr, now),
                EnrollServerEvent::RenewRequested {
                    student_id,
                    current,
                    csr,
                } => {
                    let request = Request::Renew {
                        serial: current.serial,
                    };
                    self.apply(student_id, request, csr);
                }
                EnrollServerEvent::CrlRequested => {
                    let _ = self.core.send_crl(&self.shared.crl.load());
                }
                EnrollServerEvent::Rejected {
                    student_id,
                    refusal,
                } => {
                    tracing::info!(peer = %self.peer, student = ?student_id.map(|s| s.to_string()),
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

impl Driven for CuhkConn {
    fn receive(&mut self, now: SystemTime, data: &[u8]) {
        let _ = self.core.receive(now, data);
        self.process(now);
    }

    fn handle_eof(&mut self, now: SystemTime) {
        let _ = self.core.handle_eof(now);
        self.process(now);
    }

    fn handle_timeout(&mut self, now: SystemTime) {
        let _ = self.core.handle_timeout(now);
        self.process(now);
    }

    fn wake(&mut self, now: SystemTime) {
        for result in self.inbox.take() {
            self.busy = false;
            let _ = match result {
                Ok(cert) => self.core.issue(&[cert, self.shared.ca.cert().clone()]),
                Err(r) => {
                    // A committed wrong code (or unknown ID) counts against the address and
                    // the connection, never against the student ID.
                    if r.code == RefusalCode::BadCode {
                        lock(&self.throttle).wrong_code(self.peer.ip(), now);
                        self.failed_attempt();
                    }
                    self.core.refuse(r)
                }
            };
        }
        self.process(now);
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        self.core.poll_transmit(out)
    }

    fn poll_timeout(&self) -> Option<SystemTime> {
        self.core.poll_timeout()
    }

    fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    fn is_handshaking(&self) -> bool {
        self.core.is_handshaking()
    }

    fn shutdown(&mut self, now: SystemTime) {
        self.closing = true;
        self.process(now);
    }
}

/// Locks a mutex whose contents a panic cannot leave half-changed (the throttle's table).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn init_makes_an_existing_directory_private_as_it_does_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("pki");
        std::fs::create_dir(&existing).unwrap();
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o755)).unwrap();
        PkiDir::new(&existing)
            .init(&["localhost".into()], SystemTime::now())
            .unwrap();
        assert_eq!(mode(&existing), 0o700);
        assert_eq!(mode(&existing.join("ca.key")), 0o600);

        let new = dir.path().join("new");
        PkiDir::new(&new)
            .init(&["localhost".into()], SystemTime::now())
            .unwrap();
        assert_eq!(mode(&new), 0o700);
    }
}
