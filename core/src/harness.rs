//! A deterministic in-memory harness: a client and a server pumped through byte buffers on a
//! virtual clock, with a small reference application on each server side (a registrar for CUHK,
//! a board for Blackboard) that keeps everything in memory.
//!
//! Used by this crate's tests, the fuzz targets and the benchmarks; no sockets, no threads, no
//! clock: time moves only when [`Pair::advance`] says so. The virtual clock is a [`Now`]: its
//! wall time starts at a fixed date ([`t0`]), and its monotonic origin is whatever `Instant` the
//! caller passes (an `Instant` cannot be made without reading the clock; only the distances from
//! it matter).

use crate::config::{server_name, ClientConfig, Identity, Role, ServerConfig, Timeouts};
use crate::connection::{Connection, Protocol};
use crate::enroll::{EnrollClient, EnrollClientEvent, EnrollServer};
use crate::error::{Error, Refusal, RefusalCode};
use crate::msg::{SubmissionEntry, UploadOffer};
use crate::pki::{unix_secs, Ca, IssuedServer, Revocations, RevokedSerial, ServerName};
use crate::receipt::{Receipt, ReceiptBody, ReceiptSigner};
use crate::submit::{sha256, SubmitClient, SubmitClientEvent, SubmitServer};
use crate::time::Now;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

mod apps;
mod staff;
mod staff_campus;
mod web;

pub use apps::{Board, BoardSession, Course, Registrar};
pub use staff::StaffSession;
pub use web::WebPair;

/// A fixed starting wall time for tests: 2026-09-01T00:00:00Z.
pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_788_220_800)
}

/// How the pump cuts the byte streams before delivering them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    /// Everything available in one call.
    Whole,
    /// Pieces of this size cycling through the list (zeros are skipped).
    Pattern(Vec<usize>),
}

impl Split {
    /// One byte at a time.
    pub fn bytes() -> Self {
        Self::Pattern(vec![1])
    }
}

fn deliver<P: Protocol>(
    to: &mut Connection<P>,
    now: Now,
    data: &[u8],
    split: &Split,
    turn: &mut usize,
) {
    match split {
        Split::Whole => {
            let _ = to.receive(now, data);
        }
        Split::Pattern(sizes) => {
            let mut rest = data;
            let sizes: Vec<usize> = sizes.iter().copied().filter(|s| *s > 0).collect();
            let sizes = if sizes.is_empty() { vec![1] } else { sizes };
            while !rest.is_empty() {
                let n = sizes[*turn % sizes.len()].min(rest.len());
                *turn += 1;
                let (piece, tail) = rest.split_at(n);
                if to.receive(now, piece).is_err() {
                    return;
                }
                rest = tail;
            }
        }
    }
}

/// A client and a server joined by in-memory byte streams.
#[derive(Debug)]
pub struct Pair<C, S> {
    /// The client connection.
    pub client: C,
    /// The server connection.
    pub server: S,
    /// The virtual clock.
    pub now: Now,
    /// How streams are cut.
    pub split: Split,
    turn: usize,
    /// Every byte the client sent, in order (for replay and fuzz seeds).
    pub client_wire: Vec<u8>,
    /// Every byte the server sent, in order.
    pub server_wire: Vec<u8>,
}

impl<P: Protocol, Q: Protocol> Pair<Connection<P>, Connection<Q>> {
    /// A pair at `now`.
    pub fn new(client: Connection<P>, server: Connection<Q>, now: Now) -> Self {
        Self {
            client,
            server,
            now,
            split: Split::Whole,
            turn: 0,
            client_wire: Vec::new(),
            server_wire: Vec::new(),
        }
    }

    /// Moves bytes once in each direction; returns whether any moved.
    pub fn step(&mut self) -> bool {
        let mut buf = Vec::new();
        let c = self.client.poll_transmit(&mut buf);
        if c > 0 {
            self.client_wire.extend_from_slice(&buf);
            deliver(
                &mut self.server,
                self.now,
                &buf,
                &self.split,
                &mut self.turn,
            );
        }
        buf.clear();
        let s = self.server.poll_transmit(&mut buf);
        if s > 0 {
            self.server_wire.extend_from_slice(&buf);
            deliver(
                &mut self.client,
                self.now,
                &buf,
                &self.split,
                &mut self.turn,
            );
        }
        c + s > 0
    }

    /// Steps until no bytes move.
    pub fn drive(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// Moves both clocks forward and fires both sides' deadlines.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.fire();
    }

    /// Fires both sides' deadlines that have passed by the monotonic time of [`Pair::now`] (set
    /// it first, to move the two clocks independently).
    pub fn fire(&mut self) {
        if self
            .client
            .poll_timeout()
            .is_some_and(|t| t <= self.now.mono)
        {
            let _ = self.client.handle_timeout(self.now);
        }
        if self
            .server
            .poll_timeout()
            .is_some_and(|t| t <= self.now.mono)
        {
            let _ = self.server.handle_timeout(self.now);
        }
    }
}

/// A student's key and CSR.
#[derive(Debug)]
pub struct StudentKey {
    /// PKCS#8 private key, DER.
    pub key_der: Vec<u8>,
    /// PKCS#8 private key, PEM.
    pub key_pem: String,
    /// The CSR, DER.
    pub csr_der: Vec<u8>,
}

impl StudentKey {
    /// A P-256 key and a CSR whose CN is `cn`.
    pub fn new(cn: &str) -> Self {
        Self::with_alg(cn, &rcgen::PKCS_ECDSA_P256_SHA256)
    }

    /// A key of the given algorithm and a CSR whose CN is `cn`.
    pub fn with_alg(cn: &str, alg: &'static rcgen::SignatureAlgorithm) -> Self {
        let key = KeyPair::generate_for(alg).expect("key generation");
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        let csr = params.serialize_request(&key).expect("CSR");
        Self {
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
            csr_der: csr.der().to_vec(),
        }
    }

    /// This key with an issued chain, as a TLS identity.
    pub fn identity(&self, chain: Vec<CertificateDer<'static>>) -> Identity {
        Identity {
            chain,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
        }
    }
}

pub(crate) fn server_identity(s: &IssuedServer, ca: &CertificateDer<'static>) -> Identity {
    Identity::from_pem(
        format!("{}{}", s.cert_pem, crate::pki::to_pem("CERTIFICATE", ca)).as_bytes(),
        s.key_pem.as_bytes(),
    )
    .expect("freshly issued server identity")
}

/// A whole campus in memory: the CA, CUHK's and Blackboard's certificates, the registrar and
/// the board.
#[derive(Debug)]
pub struct Campus {
    /// The CA.
    pub ca: Arc<Ca>,
    /// CUHK's enrollment server config.
    pub cuhk: Arc<ServerConfig>,
    /// Blackboard's config.
    pub blackboard: Arc<ServerConfig>,
    /// Blackboard's config for the staff protocol (same certificate, CA and revoked set).
    pub staff: Arc<ServerConfig>,
    /// Serials of the staff-login certificates issued by [`Campus::new_staff`], by login.
    pub staff_certificates: Vec<(String, Vec<u8>)>,
    staff_revoked: Vec<RevokedSerial>,
    /// Blackboard's certificate and key.
    pub blackboard_cert: IssuedServer,
    /// The registrar (roster, codes, issued and revoked certificates).
    pub registrar: Registrar,
    /// The board (assignments, submissions).
    pub board: Board,
    /// The virtual clock for new pairs.
    pub now: Now,
    /// Timeouts for new connections.
    pub timeouts: Timeouts,
}

impl Campus {
    /// A campus at `now`, with the assignment CSCI3180/hw1 due in a week (of wall time).
    pub fn new(now: Now) -> Self {
        let year = Duration::from_secs(365 * 24 * 3600);
        let ca = Ca::generate("CUHK Root CA", now.wall, 10 * year).expect("CA");
        let names = [
            ServerName::Dns("localhost".into()),
            ServerName::parse("127.0.0.1"),
        ];
        let cuhk = ca
            .issue_server("CUHK", &names, now.wall, year)
            .expect("cuhk cert");
        let bb = ca
            .issue_server("Blackboard", &names, now.wall, year)
            .expect("bb cert");
        let cuhk_cfg = ServerConfig::new(
            Role::Enroll,
            ca.cert().clone(),
            server_identity(&cuhk, ca.cert()),
            Revocations::empty(),
        )
        .expect("cuhk config");
        let bb_identity = server_identity(&bb, ca.cert());
        let signer =
            ReceiptSigner::new(&bb_identity.key, bb_identity.chain[0].clone()).expect("signer");
        let bb_cfg = ServerConfig::new(
            Role::Submit,
            ca.cert().clone(),
            bb_identity,
            Revocations::empty(),
        )
        .expect("bb config");
        let staff_cfg = bb_cfg.with_role(Role::Staff).expect("staff config");
        let ca = Arc::new(ca);
        let mut board = Board::new(signer);
        board.add_assignment(
            "CSCI3180",
            "hw1",
            unix_secs(now.wall) + 7 * 24 * 3600,
            1 << 30,
        );
        Self {
            registrar: Registrar::new(ca.clone()),
            ca,
            cuhk: Arc::new(cuhk_cfg),
            blackboard: Arc::new(bb_cfg),
            staff: Arc::new(staff_cfg),
            staff_certificates: Vec::new(),
            staff_revoked: Vec::new(),
            blackboard_cert: bb,
            board,
            now,
            timeouts: Timeouts::default(),
        }
    }

    /// A client config for `role` trusting this campus's CA.
    pub fn client_config(&self, role: Role, identity: Option<Identity>) -> ClientConfig {
        ClientConfig::new(role, self.ca.cert().clone(), identity)
            .expect("client config")
            .with_timeouts(self.timeouts)
    }

    /// A client config for `role` offering the key exchange groups of `kx`.
    pub fn client_config_with_key_exchange(
        &self,
        role: Role,
        identity: Option<Identity>,
        kx: crate::config::KeyExchange,
    ) -> ClientConfig {
        ClientConfig::new_with_key_exchange(role, self.ca.cert().clone(), identity, kx)
            .expect("client config")
            .with_timeouts(self.timeouts)
    }

    /// A connected-to-be enrollment pair (not yet driven).
    pub fn enroll_pair(&self, identity: Option<Identity>) -> Pair<EnrollClient, EnrollServer> {
        let cfg = self.client_config(Role::Enroll, identity);
        self.enroll_pair_with(&cfg)
    }

    /// An enrollment pair from a given client config.
    pub fn enroll_pair_with(&self, cfg: &ClientConfig) -> Pair<EnrollClient, EnrollServer> {
        let name = server_name("localhost").expect("name");
        let client = EnrollClient::new(cfg, name, self.now).expect("client");
        let server_cfg = Arc::new((*self.cuhk).clone().with_timeouts(self.timeouts));
        let server = EnrollServer::new(server_cfg, self.now).expect("server");
        Pair::new(client, server, self.now)
    }

    /// A submission pair (not yet driven).
    pub fn submit_pair(&self, identity: Option<Identity>) -> Pair<SubmitClient, SubmitServer> {
        let cfg = self.client_config(Role::Submit, identity);
        self.submit_pair_with(&cfg)
    }

    /// A submission pair from a given client config.
    pub fn submit_pair_with(&self, cfg: &ClientConfig) -> Pair<SubmitClient, SubmitServer> {
        let name = server_name("localhost").expect("name");
        let client = SubmitClient::new(cfg, name, self.now).expect("client");
        let server_cfg = Arc::new((*self.blackboard).clone().with_timeouts(self.timeouts));
        let server = SubmitServer::new(server_cfg, self.now).expect("server");
        Pair::new(client, server, self.now)
    }

    /// Puts a student on the roster and returns the one-time code.
    pub fn add_student(&mut self, id: &str) -> String {
        self.registrar.add(id)
    }

    /// Enrolls a student from scratch (roster, key, CSR, enrollment); returns the identity.
    pub fn new_student(&mut self, id: &str) -> Identity {
        let code = self.add_student(id);
        let key = StudentKey::new(id);
        let mut pair = self.enroll_pair(None);
        let out = self.enroll(&mut pair, id, &code, &key.csr_der);
        let chain = match out {
            Ok(chain) => chain,
            Err(e) => panic!("enrolling {id}: {e}"),
        };
        key.identity(chain)
    }

    /// Runs one enrollment on a pair: connect, send, let the registrar answer.
    pub fn enroll(
        &mut self,
        pair: &mut Pair<EnrollClient, EnrollServer>,
        id: &str,
        code: &str,
        csr: &[u8],
    ) -> Result<Vec<CertificateDer<'static>>, String> {
        if !pair.client.is_connected() {
            self.connect_enroll(pair)?;
        }
        let id = crate::pki::PersonId::parse(id).map_err(|e| e.to_string())?;
        pair.client
            .enroll(&id, code, csr)
            .map_err(|e| e.to_string())?;
        self.pump_enroll(pair);
        match pair.client.poll_event() {
            Some(EnrollClientEvent::Issued { chain }) => Ok(chain),
            Some(EnrollClientEvent::Refused(r)) => {
                Err(format!("refused ({:?}): {}", r.code, r.reason))
            }
            other => Err(format!(
                "unexpected {other:?}, error {:?}",
                pair.client.error()
            )),
        }
    }

    /// Drives an enrollment pair to the Welcome.
    pub fn connect_enroll(
        &mut self,
        pair: &mut Pair<EnrollClient, EnrollServer>,
    ) -> Result<(), String> {
        self.pump_enroll(pair);
        match pair.client.poll_event() {
            Some(EnrollClientEvent::Connected { .. }) => Ok(()),
            other => Err(format!(
                "not connected: {other:?}, client error {:?}, server error {:?}",
                pair.client.error(),
                pair.server.error()
            )),
        }
    }

    /// Drives an enrollment pair, letting the registrar answer, until quiet.
    pub fn pump_enroll(&mut self, pair: &mut Pair<EnrollClient, EnrollServer>) {
        loop {
            pair.drive();
            if !self.registrar.serve(&mut pair.server, pair.now.wall) {
                return;
            }
        }
    }

    /// Drives a submission pair to the Welcome.
    pub fn connect_submit(
        &mut self,
        pair: &mut Pair<SubmitClient, SubmitServer>,
    ) -> Result<(), String> {
        self.pump_submit(pair);
        match pair.client.poll_event() {
            Some(SubmitClientEvent::Connected { .. }) => Ok(()),
            other => Err(format!(
                "not connected: {other:?}, client error {:?}, server error {:?}",
                pair.client.error().map(|e| e.to_string()),
                pair.server.error().map(|e| e.to_string())
            )),
        }
    }

    /// Drives a submission pair, letting the board answer, until quiet.
    pub fn pump_submit(&mut self, pair: &mut Pair<SubmitClient, SubmitServer>) {
        let mut session = BoardSession::default();
        loop {
            pair.drive();
            if !self.board.serve(&mut pair.server, &mut session) {
                return;
            }
        }
    }

    /// Submits `data` on a connected pair; returns the receipt or the refusal.
    pub fn submit(
        &mut self,
        pair: &mut Pair<SubmitClient, SubmitServer>,
        course: &str,
        assignment: &str,
        file_name: &str,
        data: &[u8],
    ) -> Result<(Receipt, ReceiptBody), Refusal> {
        let offer = UploadOffer {
            course: course.into(),
            assignment: assignment.into(),
            file_name: file_name.into(),
            size: data.len() as u64,
            sha256: sha256(data),
        };
        self.submit_offer(pair, offer, data)
    }

    /// Submits `data` under an arbitrary (possibly lying) offer.
    pub fn submit_offer(
        &mut self,
        pair: &mut Pair<SubmitClient, SubmitServer>,
        offer: UploadOffer,
        data: &[u8],
    ) -> Result<(Receipt, ReceiptBody), Refusal> {
        self.upload(pair, |c| c.submit(offer), data)
    }

    /// Submits `data` under a streamed offer (its SHA-256 computed by the client as it sends
    /// and declared after the bytes; `handin-submit/2`).
    pub fn submit_streamed(
        &mut self,
        pair: &mut Pair<SubmitClient, SubmitServer>,
        offer: crate::msg::StreamedOffer,
        data: &[u8],
    ) -> Result<(Receipt, ReceiptBody), Refusal> {
        self.upload(pair, |c| c.submit_streamed(offer), data)
    }

    fn upload(
        &mut self,
        pair: &mut Pair<SubmitClient, SubmitServer>,
        offer: impl FnOnce(&mut SubmitClient) -> Result<(), crate::UsageError>,
        data: &[u8],
    ) -> Result<(Receipt, ReceiptBody), Refusal> {
        let mut session = BoardSession::default();
        offer(&mut pair.client).map_err(|e| Refusal::new(RefusalCode::Internal, e.0))?;
        loop {
            pair.drive();
            if !self.board.serve(&mut pair.server, &mut session) {
                break;
            }
        }
        match pair.client.poll_event() {
            Some(SubmitClientEvent::UploadReady) => {}
            Some(SubmitClientEvent::Refused(r)) => return Err(r),
            other => return Err(unexpected(other, pair.client.error())),
        }
        for piece in data.chunks(40_000) {
            if !pair.client.is_uploading() {
                break;
            }
            pair.client
                .send_data(piece)
                .map_err(|e| Refusal::new(RefusalCode::Internal, e.0))?;
            pair.drive();
            self.board.serve(&mut pair.server, &mut session);
        }
        // A refusal may have ended the upload early; then there is nothing to finish.
        if pair.client.is_uploading() {
            pair.client
                .finish_upload()
                .map_err(|e| Refusal::new(RefusalCode::Internal, e.0))?;
        }
        loop {
            pair.drive();
            if !self.board.serve(&mut pair.server, &mut session) {
                break;
            }
        }
        match pair.client.poll_event() {
            Some(SubmitClientEvent::Receipt { receipt, body }) => Ok((receipt, body)),
            Some(SubmitClientEvent::Refused(r)) => Err(r),
            other => Err(unexpected(other, pair.client.error())),
        }
    }

    /// Lists on a connected pair.
    pub fn list(
        &mut self,
        pair: &mut Pair<SubmitClient, SubmitServer>,
        course: Option<&str>,
    ) -> Result<Vec<SubmissionEntry>, Refusal> {
        pair.client
            .list(course)
            .map_err(|e| Refusal::new(RefusalCode::Internal, e.0))?;
        self.pump_submit(pair);
        let mut out = Vec::new();
        loop {
            match pair.client.poll_event() {
                Some(SubmitClientEvent::ListEntry(e)) => out.push(e),
                Some(SubmitClientEvent::ListEnd) => return Ok(out),
                Some(SubmitClientEvent::Refused(r)) => return Err(r),
                other => return Err(unexpected(other, pair.client.error())),
            }
        }
    }

    /// Fetches on a connected pair; returns the entry and the bytes.
    pub fn fetch(
        &mut self,
        pair: &mut Pair<SubmitClient, SubmitServer>,
        id: &str,
    ) -> Result<(SubmissionEntry, Vec<u8>), Refusal> {
        pair.client
            .fetch(id)
            .map_err(|e| Refusal::new(RefusalCode::Internal, e.0))?;
        self.pump_submit(pair);
        let entry = match pair.client.poll_event() {
            Some(SubmitClientEvent::FetchBegin(e)) => e,
            Some(SubmitClientEvent::Refused(r)) => return Err(r),
            other => return Err(unexpected(other, pair.client.error())),
        };
        let mut bytes = Vec::new();
        loop {
            match pair.client.poll_event() {
                Some(SubmitClientEvent::FetchData(d)) => bytes.extend_from_slice(&d),
                Some(SubmitClientEvent::FetchEnd) => return Ok((entry, bytes)),
                other => return Err(unexpected(other, pair.client.error())),
            }
        }
    }

    /// Revokes every certificate of `id` and installs the new revoked set on Blackboard (both
    /// protocols) and CUHK.
    pub fn revoke(&mut self, id: &str) {
        self.registrar.revoke(id, self.now.wall);
        self.install_revocations();
    }

    /// Revokes every certificate issued to staff `login` by [`Campus::new_staff`], as
    /// [`Campus::revoke`] does for students.
    pub fn revoke_staff(&mut self, login: &str) {
        for (who, serial) in &self.staff_certificates {
            if who == login {
                self.staff_revoked.push(RevokedSerial {
                    serial: serial.clone(),
                    revoked_at: self.now.wall,
                });
            }
        }
        self.install_revocations();
    }

    fn install_revocations(&mut self) {
        let mut revoked = self.registrar.revoked().to_vec();
        revoked.extend(self.staff_revoked.iter().cloned());
        let crl = self
            .ca
            .crl(
                &revoked,
                revoked.len() as u64 + 1,
                self.now.wall,
                Duration::from_secs(86_400),
            )
            .expect("CRL");
        let revs = Revocations::from_crl(&crl, self.ca.cert()).expect("own CRL");
        self.blackboard = Arc::new(self.blackboard.with_revocations(revs.clone()).expect("cfg"));
        self.staff = Arc::new(self.staff.with_revocations(revs.clone()).expect("cfg"));
        self.cuhk = Arc::new(self.cuhk.with_revocations(revs).expect("cfg"));
    }
}

fn unexpected(ev: Option<SubmitClientEvent>, err: Option<&Error>) -> Refusal {
    Refusal::new(
        RefusalCode::Internal,
        format!(
            "unexpected {ev:?}; connection error: {:?}",
            err.map(|e| e.to_string())
        ),
    )
}
