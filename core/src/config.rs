//! TLS configuration for the roles, the injected clock, and the personal-certificate verifier
//! (CUHK root + personal certificate profile + revoked set).

use crate::pki::{person_of, Revocations};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, KeyLog, RootCertStore,
    SignatureScheme,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// ALPN protocol name of enrollment (port 9335).
pub const ENROLL_ALPN: &[u8] = b"handin-enroll/1";
/// ALPN protocol name of submission (port 3141).
pub const SUBMIT_ALPN: &[u8] = b"handin-submit/1";
/// ALPN protocol name of submission with streamed offers: `handin-submit/1` plus
/// `SubmitStreamed`/`DataDigest`, an upload whose SHA-256 follows its bytes. Offered and
/// preferred by this version's clients and servers; either end falls back to
/// `handin-submit/1` with a peer that does not know it.
pub const SUBMIT_STREAMED_ALPN: &[u8] = b"handin-submit/2";
/// ALPN protocol name of the staff protocol (Blackboard's port 3141, beside submission).
pub const STAFF_ALPN: &[u8] = b"handin-staff/1";
/// ALPN protocol name of Blackboard's web pages: HTTP/1.1, what a browser offers (with `h2`).
pub const WEB_ALPN: &[u8] = b"http/1.1";

/// The key exchange groups a handin endpoint offers, most preferred first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyExchange {
    /// Post-quantum first: the hybrid X25519MLKEM768 (X25519 with ML-KEM-768), then X25519,
    /// P-256 and P-384 for peers without it. A handin client sends key shares for both the
    /// hybrid and X25519 in its ClientHello, so an X25519-only server answers without a
    /// HelloRetryRequest; a handin server picks the hybrid whenever the client offers it.
    #[default]
    PostQuantum,
    /// Classical only: X25519, P-256, P-384 (to measure, or to talk to a peer that chokes on
    /// the hybrid's large key share).
    Classical,
}

impl KeyExchange {
    /// Parses `x25519mlkem768` or `x25519` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "x25519mlkem768" => Some(Self::PostQuantum),
            "x25519" => Some(Self::Classical),
            _ => None,
        }
    }

    /// The name of the group offered first, as rustls spells it (`X25519MLKEM768`, `X25519`).
    pub fn first_group(self) -> &'static str {
        match self {
            Self::PostQuantum => "X25519MLKEM768",
            Self::Classical => "X25519",
        }
    }
}

/// The crypto provider used everywhere in handin: aws-lc-rs, passed explicitly so that no
/// process-wide default is needed (and none can conflict), with the default
/// [`KeyExchange`] (post-quantum first).
pub fn provider() -> Arc<CryptoProvider> {
    provider_with(KeyExchange::default())
}

/// The crypto provider of [`provider`] with the key exchange groups of `kx`.
pub fn provider_with(kx: KeyExchange) -> Arc<CryptoProvider> {
    use rustls::crypto::aws_lc_rs::cipher_suite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    };
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    // AES-128-GCM with SHA-256 first: the key schedule and transcript hash are a large part of
    // a (resumed) handshake, and SHA-256 runs on the CPU's SHA extensions where SHA-384 does
    // not; AES-128 also moves bulk data faster. Both ends of a handin connection use this
    // order; other peers may still pick the other TLS 1.3 suites.
    provider.cipher_suites = vec![
        TLS13_AES_128_GCM_SHA256,
        TLS13_AES_256_GCM_SHA384,
        TLS13_CHACHA20_POLY1305_SHA256,
    ];
    // Set here rather than by rustls's `prefer-post-quantum` feature, so that the choice is
    // visible in one place and a measurement can turn it off per configuration.
    use rustls::crypto::aws_lc_rs::kx_group::{SECP256R1, SECP384R1, X25519, X25519MLKEM768};
    provider.kx_groups = match kx {
        KeyExchange::PostQuantum => vec![X25519MLKEM768, X25519, SECP256R1, SECP384R1],
        KeyExchange::Classical => vec![X25519, SECP256R1, SECP384R1],
    };
    Arc::new(provider)
}

/// The time rustls sees: whatever the caller last passed as `now`. The core never reads the
/// system clock.
#[derive(Debug, Default)]
pub struct Clock(AtomicU64);

impl Clock {
    /// A clock set to `now`.
    pub fn new(now: SystemTime) -> Self {
        let c = Self::default();
        c.set(now);
        c
    }

    /// Sets the time.
    pub fn set(&self, now: SystemTime) {
        self.0.store(crate::pki::unix_secs(now), Ordering::Relaxed);
    }
}

impl rustls::time_provider::TimeProvider for Clock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(
            self.0.load(Ordering::Relaxed),
        )))
    }
}

/// Deadlines a connection enforces through `poll_timeout()` / `handle_timeout(now)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From creation until the application protocol starts (TLS handshake and Welcome).
    pub handshake: Duration,
    /// Longest silence from the peer while the connection waits on it.
    pub idle: Duration,
}

impl Default for Timeouts {
    /// A server's deadlines: 10 s for the handshake (counted from admission, see
    /// `driver::ServeOptions::max_handshakes`), 60 s of silence.
    fn default() -> Self {
        Self {
            handshake: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }
}

impl Timeouts {
    /// A client's deadlines: 60 s for the handshake, 60 s of silence. A client waits longer
    /// than a server: at a deadline a busy server keeps accepted students in line for a
    /// handshake slot, and giving up after 10 s only to reconnect would put the student at
    /// the back of that line.
    pub fn client() -> Self {
        Self {
            handshake: Duration::from_secs(60),
            idle: Duration::from_secs(60),
        }
    }
}

/// A configuration could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn cfg_err(context: &str) -> impl Fn(rustls::Error) -> ConfigError + '_ {
    move |e| ConfigError(format!("{context}: {e}"))
}

/// A certificate chain and its private key.
#[derive(Debug)]
pub struct Identity {
    /// End-entity first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Reads a chain and key from PEM text (or DER). The key may be PKCS#8 (`PRIVATE KEY`),
    /// PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, ConfigError> {
        let chain = crate::pki::from_pem_or_der(chain_pem, "CERTIFICATE")
            .map_err(|e| ConfigError(format!("certificate: {e}")))?
            .into_iter()
            .map(CertificateDer::from)
            .collect();
        let key = if key_pem.first() == Some(&0x30) {
            PrivateKeyDer::try_from(key_pem.to_vec())
                .map_err(|e| ConfigError(format!("private key: {e}")))?
        } else {
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
                ConfigError(format!(
                    "private key (a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY PEM block \
                     expected): {}",
                    crate::pki::pem_error(&e)
                ))
            })?
        };
        Ok(Self { chain, key })
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

pub(crate) fn roots(ca: &CertificateDer<'static>) -> Result<Arc<RootCertStore>, ConfigError> {
    let mut store = RootCertStore::empty();
    store.add(ca.clone()).map_err(cfg_err(
        "the CA certificate is not usable as a trust anchor",
    ))?;
    Ok(Arc::new(store))
}

/// Verifies client certificates as personal identities: chains to the CUHK root
/// (rustls/webpki, clientAuth purpose, validity at the injected time), then the personal
/// certificate profile (a student ID or a staff login as CN), then the revoked set. Which
/// kind of person a protocol admits is judged after the handshake (`peer.rs`), where the
/// refusal can say why.
#[derive(Debug)]
struct PersonVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    revocations: Arc<Revocations>,
    mandatory: bool,
}

impl ClientCertVerifier for PersonVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let (_, info) = person_of(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
        })?;
        if self.revocations.is_revoked(&info.serial) {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Which protocol a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Enrollment: client certificates optional (needed only to renew).
    Enroll,
    /// Submission: a student certificate is mandatory.
    Submit,
    /// The staff protocol: a personal certificate (a staff login, or a TA's student ID) is
    /// mandatory; what the person may do is the application's decision per request.
    Staff,
    /// Blackboard's web pages over HTTP/1.1: the certificate is optional at the handshake (a
    /// browser without one is shown how to import it) and required by every other page.
    Web,
}

impl Role {
    /// Every role, in the order of their protocols' introduction.
    pub const ALL: [Role; 4] = [Role::Enroll, Role::Submit, Role::Staff, Role::Web];

    /// The role's first ALPN protocol name (the one every version knows).
    pub fn alpn(self) -> &'static [u8] {
        match self {
            Self::Enroll => ENROLL_ALPN,
            Self::Submit => SUBMIT_ALPN,
            Self::Staff => STAFF_ALPN,
            Self::Web => WEB_ALPN,
        }
    }

    /// Every ALPN protocol name of the role, the preferred first: what clients offer and
    /// servers accept.
    pub fn alpns(self) -> &'static [&'static [u8]] {
        match self {
            Self::Enroll => &[ENROLL_ALPN],
            Self::Submit => &[SUBMIT_STREAMED_ALPN, SUBMIT_ALPN],
            Self::Staff => &[STAFF_ALPN],
            Self::Web => &[WEB_ALPN],
        }
    }

    /// Whether `alpn` is one of the role's protocol names.
    pub fn speaks(self, alpn: &[u8]) -> bool {
        self.alpns().contains(&alpn)
    }

    /// The role one of whose ALPN protocol names is `alpn`.
    pub fn from_alpn(alpn: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.speaks(alpn))
    }

    /// Whether a connection of this role must present a client certificate.
    pub fn requires_certificate(self) -> bool {
        matches!(self, Self::Submit | Self::Staff)
    }
}

/// Everything a server connection needs; share one across connections (`Arc`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub(crate) tls: Arc<rustls::ServerConfig>,
    pub(crate) clock: Arc<Clock>,
    pub(crate) revocations: Arc<Revocations>,
    pub(crate) timeouts: Timeouts,
    pub(crate) role: Role,
    ca: CertificateDer<'static>,
    identity: Arc<Identity>,
    key_log: Option<Arc<dyn KeyLog>>,
    sessions: Arc<dyn rustls::server::StoresServerSessions>,
}

impl ServerConfig {
    /// A server for `role` trusting students certified by `ca`, presenting `identity`, refusing
    /// the serials in `revocations`.
    pub fn new(
        role: Role,
        ca: CertificateDer<'static>,
        identity: Identity,
        revocations: Revocations,
    ) -> Result<Self, ConfigError> {
        let mut config = Self {
            tls: Arc::new(
                rustls::ServerConfig::builder_with_provider(provider())
                    .with_protocol_versions(&[&rustls::version::TLS13])
                    .map_err(cfg_err("TLS versions"))?
                    .with_no_client_auth()
                    .with_single_cert(identity.chain.clone(), identity.key.clone_key())
                    .map_err(cfg_err("server certificate and key"))?,
            ),
            clock: Arc::new(Clock::default()),
            revocations: Arc::new(revocations),
            timeouts: Timeouts::default(),
            role,
            ca,
            identity: Arc::new(identity),
            key_log: None,
            sessions: rustls::server::ServerSessionMemoryCache::new(4096),
        };
        config.rebuild()?;
        Ok(config)
    }

    fn rebuild(&mut self) -> Result<(), ConfigError> {
        let verifier = verifier(self.role, &self.ca, &self.revocations)?;
        let mut tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(cfg_err("TLS versions"))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.identity.chain.clone(), self.identity.key.clone_key())
            .map_err(cfg_err("server certificate and key"))?;
        tls.alpn_protocols = self.role.alpns().iter().map(|a| a.to_vec()).collect();
        tls.time_provider = self.clock.clone();
        tls.session_storage = self.sessions.clone();
        if let Some(k) = &self.key_log {
            tls.key_log = k.clone();
        }
        self.tls = Arc::new(tls);
        Ok(())
    }

    /// The same server (certificate, CA, revoked set, timeouts, key log) speaking another
    /// protocol: Blackboard holds one configuration per protocol it serves on its port and
    /// picks one from the client's ALPN offer ([`crate::accept::Incoming`]). The returned
    /// configuration has its own session cache, so a session resumes only with the protocol
    /// it was made for.
    pub fn with_role(&self, role: Role) -> Result<Self, ConfigError> {
        let mut config = self.clone();
        config.role = role;
        config.sessions = rustls::server::ServerSessionMemoryCache::new(4096);
        config.rebuild()?;
        Ok(config)
    }

    /// The same server with a new revoked set: connections made from the returned config refuse
    /// the new serials at the handshake, and resumed sessions (the session cache is shared) are
    /// checked against it after the handshake.
    pub fn with_revocations(&self, revocations: Revocations) -> Result<Self, ConfigError> {
        let mut config = self.clone();
        config.revocations = Arc::new(revocations);
        config.rebuild()?;
        Ok(config)
    }

    /// Sets the handshake and idle deadlines.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Logs TLS secrets to `key_log` (for example `rustls::KeyLogFile`, which honours
    /// `SSLKEYLOGFILE`), so a packet capture can be decrypted.
    pub fn with_key_log(mut self, key_log: Arc<dyn KeyLog>) -> Result<Self, ConfigError> {
        self.key_log = Some(key_log);
        self.rebuild()?;
        Ok(self)
    }

    /// The revoked set in force.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// The trusted CA certificate.
    pub fn ca(&self) -> &CertificateDer<'static> {
        &self.ca
    }

    /// The server's own certificate.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.identity.chain[0]
    }

    /// The protocol this server speaks.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The deadlines its connections keep (an [`Incoming`](crate::accept::Incoming) of the
    /// same server keeps the same handshake deadline).
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }
}

fn verifier(
    role: Role,
    ca: &CertificateDer<'static>,
    revocations: &Arc<Revocations>,
) -> Result<Arc<dyn ClientCertVerifier>, ConfigError> {
    let inner = WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| ConfigError(format!("client verifier: {e}")))?;
    Ok(Arc::new(PersonVerifier {
        inner,
        revocations: revocations.clone(),
        mandatory: role.requires_certificate(),
    }))
}

/// Everything a client connection needs; share one across connections (`Arc`).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) clock: Arc<Clock>,
    pub(crate) timeouts: Timeouts,
    pub(crate) role: Role,
}

impl ClientConfig {
    /// A client for `role` that trusts only `ca`, presenting `identity` if given (mandatory for
    /// submission, the staff protocol and renewal).
    pub fn new(
        role: Role,
        ca: CertificateDer<'static>,
        identity: Option<Identity>,
    ) -> Result<Self, ConfigError> {
        Self::new_with_key_exchange(role, ca, identity, KeyExchange::default())
    }

    /// [`ClientConfig::new`] offering the key exchange groups of `kx`.
    pub fn new_with_key_exchange(
        role: Role,
        ca: CertificateDer<'static>,
        identity: Option<Identity>,
        kx: KeyExchange,
    ) -> Result<Self, ConfigError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider_with(kx))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(cfg_err("TLS versions"))?
            .with_root_certificates(roots(&ca)?);
        let tls = match identity {
            Some(id) => builder
                .with_client_auth_cert(id.chain, id.key)
                .map_err(cfg_err("client certificate and key"))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Self::from_tls(role, tls))
    }

    /// A client for `role` over a rustls configuration whose trust is set: the protocol's
    /// ALPN name, the injected clock and a client's deadlines are added here.
    pub(crate) fn from_tls(role: Role, mut tls: rustls::ClientConfig) -> Self {
        let clock = Arc::new(Clock::default());
        tls.alpn_protocols = role.alpns().iter().map(|a| a.to_vec()).collect();
        tls.time_provider = clock.clone();
        Self {
            tls: Arc::new(tls),
            clock,
            timeouts: Timeouts::client(),
            role,
        }
    }

    /// Sets the handshake and idle deadlines.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The protocol this client speaks.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Logs TLS secrets to `key_log` (see [`ServerConfig::with_key_log`]).
    pub fn with_key_log(mut self, key_log: Arc<dyn KeyLog>) -> Self {
        let mut tls = (*self.tls).clone();
        tls.key_log = key_log;
        self.tls = Arc::new(tls);
        self
    }
}

/// Parses a server name (DNS name or IP address) for a client connection.
pub fn server_name(s: &str) -> Result<ServerName<'static>, ConfigError> {
    ServerName::try_from(s.to_owned()).map_err(|e| ConfigError(format!("server name {s:?}: {e}")))
}
