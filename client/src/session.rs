//! What every command shares: the profile directory, how to reach a server, one connection
//! for one request ([`Session`], over either transport's link), and errors in words for the
//! person at the keyboard.

use crate::net::{self, Transport};
use crate::printable;
use handin_core::driver::{Link, Progress};
use handin_core::enroll::EnrollClientProtocol;
use handin_core::pki::from_pem_or_der;
use handin_core::rustls::pki_types::{CertificateDer, ServerName};
use handin_core::rustls::{AlertDescription, KeyLogFile};
use handin_core::staff::{StaffClient, StaffClientEvent, StaffClientProtocol};
use handin_core::submit::SubmitClientProtocol;
use handin_core::{
    ClientConfig, ConfigError, Connection, EnrollClient, EnrollClientEvent, Error, HandshakeInfo,
    Identity, Now, Protocol, RefusalCode, Role, SubmitClient, SubmitClientEvent, UsageError,
};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use crate::error::{ErrorKind, StudentError};

/// `Err` of a new [`StudentError`] of `kind`.
pub(crate) fn fail<T>(kind: ErrorKind, m: impl Into<String>) -> Result<T, StudentError> {
    Err(StudentError::new(kind, m))
}

/// How to reach a server.
#[derive(Debug, Clone)]
pub struct Remote {
    /// `host:port` (the host resolves by DNS, and is the name the server's certificate must
    /// carry); [`crate::config::remote`] makes one from a flag, the environment or the profile.
    pub addr: String,
    /// Other addresses of the same service (nodes behind no load balancer), tried in order
    /// when the ones before cannot be reached.
    pub also: Vec<String>,
    /// Which transport.
    pub transport: Transport,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

/// The student's profile directory: `key.pem` (0600), `cert.pem`, `ca.crt`, `blackboard.crt`
/// (Blackboard's pinned certificate), `blackboard-seen/` (others it presented since),
/// `receipts/`, `commitments/`, `logs/` (the logs' pinned keys and last checkpoints) and
/// `known-certificates` (see [`crate::logs`]).
#[derive(Debug, Clone)]
pub struct Profile {
    dir: PathBuf,
}

impl Profile {
    /// `--profile`, else `$HANDIN_HOME`, else `~/.handin`.
    pub fn locate(flag: Option<PathBuf>) -> Self {
        let dir = flag
            .or_else(|| std::env::var_os("HANDIN_HOME").map(PathBuf::from))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".handin")))
            .unwrap_or_else(|| PathBuf::from(".handin"));
        Self { dir }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The private key.
    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
    /// The certificate chain.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }
    /// The CUHK root.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    /// Blackboard's certificate as pinned: the first one seen, or the one `student
    /// pin-blackboard` pinned (it signs receipts).
    pub fn blackboard_cert(&self) -> PathBuf {
        self.dir.join("blackboard.crt")
    }
    /// Where receipts are kept.
    pub fn receipts(&self) -> PathBuf {
        self.dir.join("receipts")
    }

    pub(crate) fn read(&self, path: &Path, hint: &str) -> Result<Vec<u8>, StudentError> {
        std::fs::read(path)
            .map_err(|e| StudentError::file(format!("cannot read {}: {e}; {hint}", path.display())))
    }

    pub(crate) fn ca_der(&self) -> Result<CertificateDer<'static>, StudentError> {
        let pem = self.read(&self.ca(), "run `student enroll` first")?;
        first_cert(&pem, &self.ca())
    }

    pub(crate) fn identity(&self) -> Result<Identity, StudentError> {
        let hint = "run `student enroll` first";
        let chain = self.read(&self.cert(), hint)?;
        let key = self.read(&self.key(), hint)?;
        Identity::from_pem(&chain, &key).map_err(|e| {
            StudentError::file(format!(
                "your profile in {} is damaged ({e}): enroll again",
                self.dir.display()
            ))
        })
    }

    /// The student ID in the profile's certificate.
    pub fn student_id(&self) -> Result<String, StudentError> {
        let id = self.identity()?;
        let (sid, _) = handin_core::pki::student_id_of(&id.chain[0]).map_err(|e| {
            StudentError::auth(format!(
                "the certificate in your profile is not a student certificate: {e}"
            ))
        })?;
        Ok(sid.to_string())
    }
}

pub(crate) fn first_cert(pem: &[u8], path: &Path) -> Result<CertificateDer<'static>, StudentError> {
    from_pem_or_der(pem, "CERTIFICATE")
        .map(|mut v| CertificateDer::from(v.remove(0)))
        .map_err(|e| StudentError::file(format!("{} is not a certificate: {e}", path.display())))
}

pub(crate) fn key_log<C>(
    config: C,
    with: impl FnOnce(C, Arc<KeyLogFile>) -> Result<C, ConfigError>,
) -> Result<C, StudentError> {
    if std::env::var_os("SSLKEYLOGFILE").is_some() {
        with(config, Arc::new(KeyLogFile::new())).map_err(|e| StudentError::other(e.to_string()))
    } else {
        Ok(config)
    }
}

pub(crate) fn client_config(
    role: Role,
    ca: CertificateDer<'static>,
    identity: Option<Identity>,
) -> Result<ClientConfig, StudentError> {
    let config = ClientConfig::new(role, ca, identity)
        .map_err(|e| StudentError::other(format!("TLS setup: {e}")))?;
    key_log(config, |c, k| Ok(c.with_key_log(k)))
}

/// Connects to the first of `remote`'s addresses that answers; returns the link and the
/// address it reached. Fails with the last address's error.
fn connect_any<'r>(
    remote: &'r Remote,
    what: &str,
) -> Result<(net::AnyLink, &'r str), StudentError> {
    let mut failure = None;
    for addr in std::iter::once(&remote.addr).chain(&remote.also) {
        if let Some(e) = &failure {
            tracing::info!("{e}; trying {addr}");
        }
        if let Err(e) = net::resolve(addr) {
            failure = Some(StudentError::unreachable(format!(
                "cannot resolve {what} address {addr}: {e}"
            )));
            continue;
        }
        match net::connect_host(remote.transport, addr, remote.connect_timeout) {
            Ok(link) => return Ok((link, addr)),
            Err(e) => {
                failure = Some(StudentError::unreachable(format!(
                    "cannot reach {what} at {addr}: {e}; is it running, and is the address right?"
                )))
            }
        }
    }
    Err(failure.unwrap_or_else(|| StudentError::unreachable(format!("no {what} address given"))))
}

fn server_name(addr: &str) -> Result<ServerName<'static>, StudentError> {
    handin_core::config::server_name(net::host_of(addr))
        .map_err(|e| StudentError::usage(e.to_string()))
}

/// The kind of failure a connection error is: the server turned us away for our certificate,
/// or ours did not verify its (authentication), it refused the request, or it could not be
/// reached or went away.
pub fn kind_of(e: &Error) -> ErrorKind {
    match e {
        Error::Tls(handin_core::rustls::Error::AlertReceived(
            AlertDescription::NoApplicationProtocol,
        )) => ErrorKind::Unreachable,
        Error::Tls(_) => ErrorKind::Auth,
        Error::Remote(r) | Error::Refused(r) => match r.code {
            RefusalCode::Revoked | RefusalCode::Expired => ErrorKind::Auth,
            _ => ErrorKind::Refused,
        },
        Error::Timeout(_) | Error::Closed => ErrorKind::Unreachable,
        _ => ErrorKind::Other,
    }
}

/// Turns a connection error into a sentence for the student.
pub fn explain(e: &Error, what: &str) -> String {
    match e {
        Error::Tls(handin_core::rustls::Error::AlertReceived(alert)) => match alert {
            AlertDescription::CertificateRevoked => {
                "your certificate was revoked: ask CUHK to re-enroll you".into()
            }
            AlertDescription::CertificateExpired => "your certificate has expired: ask CUHK for a new enrollment code and run `student enroll` again (renew before expiry with `student renew`)".into(),
            AlertDescription::CertificateRequired => {
                format!("{what} requires a student certificate: run `student enroll` first")
            }
            AlertDescription::UnknownCA | AlertDescription::BadCertificate | AlertDescription::AccessDenied => {
                format!("{what} did not accept your certificate (is it from CUHK?): run `student enroll` again")
            }
            AlertDescription::NoApplicationProtocol => {
                format!("{what} does not speak this protocol version: check the address and port")
            }
            other => format!("{what} ended the TLS session: {other:?}"),
        },
        Error::Tls(handin_core::rustls::Error::InvalidCertificate(c)) => format!(
            "{what}'s certificate did not verify against your CUHK root ({c:?}): check the address, or your ca.crt"
        ),
        Error::Tls(other) => format!("TLS with {what} failed: {other}"),
        Error::Remote(r) | Error::Refused(r) => match r.code {
            RefusalCode::Revoked => printable::text(&r.reason).into_owned(),
            RefusalCode::Expired => format!(
                "{}: ask CUHK for a new enrollment code",
                printable::text(&r.reason)
            ),
            _ => format!(
                "{what} closed the connection: {}",
                printable::text(&r.reason)
            ),
        },
        Error::Timeout(m) => format!("timed out talking to {what} ({m}): try again in a moment"),
        Error::Closed => format!("{what} closed the connection unexpectedly: try again"),
        Error::Protocol(m) => format!("{what} broke the protocol: {m}"),
        other => format!("{what}: {other}"),
    }
}

pub(crate) fn ended<C>(conn: &C, error: Option<&Error>, what: &str) -> StudentError {
    let _ = conn;
    match error {
        Some(e) => StudentError::new(kind_of(e), explain(e, what)),
        None => StudentError::unreachable(format!(
            "{what} closed the connection before answering: try again"
        )),
    }
}

pub(crate) fn log_connected(what: &str, handshake: &HandshakeInfo, peer: Option<&[u8]>) {
    let (subject, expires) = peer
        .and_then(|c| handin_core::pki::certificate_info(c).ok())
        .map(|i| (i.subject, crate::rfc3339(i.not_after)))
        .unwrap_or_default();
    tracing::info!(
        server = what,
        version = %handshake.version,
        suite = %handshake.cipher_suite,
        group = %handshake.key_exchange,
        resumed = handshake.resumed,
        %subject,
        %expires,
        "connected"
    );
}

/// What a student command needs of a client protocol beyond the surface every [`Connection`]
/// shares (events, transmit, errors, close, and [`Driven`] for the transport): how to start
/// one, which event is the server's Welcome, and when the request may go out.
pub(crate) trait ClientSide: Protocol {
    /// A connection to `server`, starting `now`.
    fn start(
        config: &ClientConfig,
        server: ServerName<'static>,
        now: Now,
    ) -> Result<Connection<Self>, ConfigError>;
    /// The TLS facts of a `Connected` event (the server's Welcome); `None` for other events.
    fn welcome(event: &Self::Event) -> Option<&HandshakeInfo>;
    /// Whether the request goes out, now that the Welcome is in.
    fn may_request(conn: &Connection<Self>) -> bool;
}

impl ClientSide for SubmitClientProtocol {
    fn start(
        config: &ClientConfig,
        server: ServerName<'static>,
        now: Now,
    ) -> Result<SubmitClient, ConfigError> {
        SubmitClient::new(config, server, now)
    }

    fn welcome(event: &SubmitClientEvent) -> Option<&HandshakeInfo> {
        match event {
            SubmitClientEvent::Connected { handshake, .. } => Some(handshake),
            _ => None,
        }
    }

    /// Blackboard is asked only while the connection is still up.
    fn may_request(conn: &SubmitClient) -> bool {
        conn.is_connected()
    }
}

impl ClientSide for StaffClientProtocol {
    fn start(
        config: &ClientConfig,
        server: ServerName<'static>,
        now: Now,
    ) -> Result<StaffClient, ConfigError> {
        StaffClient::new(config, server, now)
    }

    fn welcome(event: &StaffClientEvent) -> Option<&HandshakeInfo> {
        match event {
            StaffClientEvent::Connected { handshake, .. } => Some(handshake),
            _ => None,
        }
    }

    fn may_request(conn: &StaffClient) -> bool {
        conn.is_connected()
    }
}

impl ClientSide for EnrollClientProtocol {
    fn start(
        config: &ClientConfig,
        server: ServerName<'static>,
        now: Now,
    ) -> Result<EnrollClient, ConfigError> {
        EnrollClient::new(config, server, now)
    }

    fn welcome(event: &EnrollClientEvent) -> Option<&HandshakeInfo> {
        match event {
            EnrollClientEvent::Connected { handshake, .. } => Some(handshake),
            _ => None,
        }
    }

    /// CUHK is asked as soon as its Welcome is in: if the connection failed meanwhile, the
    /// request itself says so.
    fn may_request(_: &EnrollClient) -> bool {
        true
    }
}

/// A connection to one server, for one request.
pub(crate) struct Session<P: Protocol> {
    pub(crate) link: net::AnyLink,
    pub(crate) conn: Connection<P>,
    /// The server, as messages name it.
    pub(crate) what: &'static str,
    /// Whether the server's Welcome came in: it accepted us, and TLS verified its certificate.
    pub(crate) welcomed: bool,
    /// Leave the connection open after each exchange, for the next request.
    keep_open: bool,
}

impl<P: ClientSide> Session<P> {
    /// Connects to `what` at `remote` and starts a client connection over the link.
    pub(crate) fn open(
        remote: &Remote,
        config: &ClientConfig,
        what: &'static str,
    ) -> Result<Self, StudentError> {
        let (link, addr) = connect_any(remote, what)?;
        let now = Now::new(Instant::now(), SystemTime::now());
        let conn = P::start(config, server_name(addr)?, now)
            .map_err(|e| StudentError::other(e.to_string()))?;
        Ok(Self {
            link,
            conn,
            what,
            welcomed: false,
            keep_open: false,
        })
    }

    /// Drives one request until it has an outcome, and returns that outcome.
    ///
    /// Once the server's Welcome is in, logs the connection and makes `request`. Every other
    /// event goes to `on_event`; then, each round, `on_round` may queue more (it is told how
    /// much the transport still holds). Either ends the exchange by returning an outcome,
    /// after which the connection is closed. A connection that ends first is explained with
    /// [`ended`].
    pub(crate) fn exchange<T>(
        &mut self,
        request: impl FnOnce(&mut Connection<P>) -> Result<(), UsageError>,
        mut on_event: impl FnMut(P::Event) -> Option<Result<T, StudentError>>,
        mut on_round: impl FnMut(&mut Connection<P>, Progress) -> Option<Result<T, StudentError>>,
    ) -> Result<T, StudentError> {
        let what = self.what;
        let mut request = Some(request);
        let welcomed = &mut self.welcomed;
        let close = !self.keep_open;
        let step = |c: &mut Connection<P>, progress| {
            let mut outcome: Option<Result<T, StudentError>> = None;
            while let Some(ev) = c.poll_event() {
                if let Some(handshake) = P::welcome(&ev) {
                    log_connected(what, handshake, c.peer_certificate());
                    *welcomed = true;
                } else if let Some(o) = on_event(ev) {
                    // The first outcome stands: a failure is not undone by a later event.
                    outcome.get_or_insert(o);
                }
            }
            if outcome.is_none() && *welcomed && P::may_request(c) {
                if let Some(req) = request.take() {
                    if let Err(e) = req(c) {
                        outcome = Some(fail(ErrorKind::Other, e.to_string()));
                    }
                }
            }
            outcome.or_else(|| on_round(c, progress))
        };
        let r = self.link.drive(&mut self.conn, step, close);
        match r {
            Ok(Some(o)) => o,
            // A connection that closed explains itself better than the socket error after it.
            Ok(None) => Err(ended(&self.conn, self.conn.error(), what)),
            Err(_) if self.conn.is_closed() => Err(ended(&self.conn, self.conn.error(), what)),
            Err(e) => fail(
                ErrorKind::Unreachable,
                format!("connection to {what} failed: {e}"),
            ),
        }
    }
}

impl<P: ClientSide> Session<P> {
    /// Keeps the connection open after each exchange, for several requests over one
    /// connection; [`Session::finish`] closes it.
    pub(crate) fn keep_open(&mut self) {
        self.keep_open = true;
    }

    /// Closes the connection, sending what is queued (the TLS close_notify).
    pub(crate) fn finish(&mut self) {
        self.conn.close();
        let _ = self
            .link
            .run(&mut self.conn, |_, _| handin_core::driver::Step::Done);
    }
}

/// Connects to Blackboard's staff protocol with the profile's identity.
pub(crate) fn staff_blackboard(
    remote: &Remote,
    profile: &Profile,
) -> Result<Session<StaffClientProtocol>, StudentError> {
    let config = client_config(Role::Staff, profile.ca_der()?, Some(profile.identity()?))?;
    Session::open(remote, &config, "Blackboard")
}

/// Connects to Blackboard with the profile's identity.
pub(crate) fn blackboard(
    remote: &Remote,
    profile: &Profile,
) -> Result<Session<SubmitClientProtocol>, StudentError> {
    let config = client_config(Role::Submit, profile.ca_der()?, Some(profile.identity()?))?;
    Session::open(remote, &config, "Blackboard")
}

/// An exchange that queues nothing between rounds.
pub(crate) fn nothing_more<C, T>(_: &mut C, _: Progress) -> Option<Result<T, StudentError>> {
    None
}

/// A progress bar on a terminal for transfers of 4 MiB or more.
pub(crate) fn progress_bar(size: u64, what: &str) -> Option<indicatif::ProgressBar> {
    if size < 4 * 1024 * 1024 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(size);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    Some(bar)
}
