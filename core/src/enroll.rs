//! Enrollment (`handin-enroll/1`, CUHK's port 9335): a student or a member of staff proves who
//! they are with a one-time code and gets a certificate for their own key; renewal over mutual
//! TLS; CRL download.
//!
//! The ID is a 10-digit student ID or a staff login ([`PersonId`]); the CSR's common name must
//! be that ID, and the certificate CUHK issues carries it as its CN.
//!
//! ```text
//! client                                  server
//!   -- TLS 1.3 (server-authenticated; client cert optional, for renewal) --
//!                                   <---  Welcome { id?, server_time }
//!   Enroll { id, code, csr }        --->
//!                                   <---  Issued [cert, ca] | Refused { code, reason }
//!   Renew { csr }                   --->  (needs a client certificate)
//!                                   <---  Issued | Refused
//!   GetCrl                          --->
//!                                   <---  Crl { size }, Data*, DataEnd
//!   GetLog { path }                 --->  (CUHK's log of certificates and revocations)
//!                                   <---  Log { size }, Data*, DataEnd | Refused
//! ```

use crate::config::{ClientConfig, ConfigError, ServerConfig};
use crate::connection::{sealed::Machine, Connection, Protocol};
use crate::engine::{Engine, HandshakeInfo};
use crate::error::{Error, Refusal, RefusalCode, UsageError};
use crate::msg::Message;
use crate::peer::authenticate_person;
use crate::pki::{check_person_csr, CertificateInfo, CheckedCsr, PersonId, StudentId};
use crate::time::Now;
use bytes::Bytes;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;

/// Longest one-time code accepted on the wire.
pub const MAX_CODE_LEN: usize = 128;
/// Largest CRL a client accepts.
pub const MAX_CRL: u64 = 64 * 1024 * 1024;

/// What an [`EnrollServer`] tells the application.
#[non_exhaustive]
#[derive(Debug)]
pub enum EnrollServerEvent {
    /// The handshake is done and the Welcome sent.
    Connected {
        /// The student or member of staff, if a valid certificate was presented.
        person: Option<PersonId>,
        /// TLS facts for logs.
        handshake: HandshakeInfo,
    },
    /// A well-formed enrollment whose CSR passed the policy. Check the roster and the code, then
    /// call [`EnrollServer::issue`] or [`EnrollServer::refuse`].
    EnrollRequested {
        /// The student ID or staff login (also the CSR's common name).
        person: PersonId,
        /// The one-time code as typed.
        code: String,
        /// The checked CSR: sign it with [`crate::pki::Ca::issue_person`].
        csr: CheckedCsr,
    },
    /// A renewal by an authenticated student or member of staff whose CSR (for the same ID)
    /// passed the policy. Call `issue` or `refuse`.
    RenewRequested {
        /// The authenticated student or member of staff.
        person: PersonId,
        /// The certificate the student authenticated with.
        current: CertificateInfo,
        /// The checked CSR.
        csr: CheckedCsr,
    },
    /// The client asked for the CRL: call [`EnrollServer::send_crl`].
    CrlRequested,
    /// The client asked for an object of CUHK's log (`checkpoint` or a tile path, checked by
    /// [`crate::logs::check_log_path`]): call [`EnrollServer::send_log`] or `refuse`.
    LogRequested {
        /// The path.
        path: String,
    },
    /// The core refused a request by itself (bad ID, CSR policy); for logs and throttling.
    Rejected {
        /// The ID the request named, if it parsed.
        person: Option<PersonId>,
        /// What was sent back.
        refusal: Refusal,
    },
}

#[derive(Debug, PartialEq, Eq)]
enum ServerState {
    Handshaking,
    Idle,
    Pending,
    PendingCrl,
    PendingLog,
}

/// The server side of enrollment, one per connection: a [`Connection`] over
/// [`EnrollServerProtocol`].
pub type EnrollServer = Connection<EnrollServerProtocol>;

/// The server side of enrollment: the parameter of [`EnrollServer`].
///
/// Call protocol (besides [`Connection`]'s): `new`, then answer each request event with exactly
/// one of `issue`, `refuse` or `send_crl`.
#[derive(Debug)]
pub struct EnrollServerProtocol {
    config: Arc<ServerConfig>,
    state: ServerState,
    person: Option<(PersonId, CertificateInfo)>,
}

impl Protocol for EnrollServerProtocol {
    type Event = EnrollServerEvent;
}

impl Machine for EnrollServerProtocol {
    fn process(conn: &mut EnrollServer) -> Result<(), Error> {
        conn.on_input()
    }
}

impl Connection<EnrollServerProtocol> {
    /// A connection accepted at `now`.
    pub fn new(config: Arc<ServerConfig>, now: Now) -> Result<Self, ConfigError> {
        let tls = rustls::ServerConnection::new(config.tls.clone())
            .map_err(|e| ConfigError(format!("TLS server: {e}")))?;
        let engine = Engine::new(tls.into(), config.clock.clone(), config.timeouts, now);
        Ok(Self::from_parts(
            engine,
            EnrollServerProtocol {
                config,
                state: ServerState::Handshaking,
                person: None,
            },
        ))
    }

    /// Answers the pending enroll or renew request with the issued chain (the personal
    /// certificate first, then the CA).
    pub fn issue(&mut self, chain: &[CertificateDer<'_>]) -> Result<(), UsageError> {
        self.ready_for(ServerState::Pending)?;
        if chain.is_empty() {
            return Err(UsageError("issue needs at least the personal certificate"));
        }
        let chain = chain.iter().map(|c| Bytes::copy_from_slice(c)).collect();
        self.engine.send(&Message::Issued(chain))?;
        self.idle();
        Ok(())
    }

    /// Refuses the pending request; the connection stays open.
    pub fn refuse(&mut self, refusal: Refusal) -> Result<(), UsageError> {
        if !matches!(
            self.proto.state,
            ServerState::Pending | ServerState::PendingCrl | ServerState::PendingLog
        ) {
            return Err(UsageError("no request is waiting for an answer"));
        }
        self.engine
            .check()
            .map_err(|_| UsageError("the connection is closed"))?;
        self.engine.send_fixed(&Message::Refused(refusal));
        self.idle();
        Ok(())
    }

    /// Answers a CRL request with the CRL (DER or PEM, sent as is).
    pub fn send_crl(&mut self, crl: &[u8]) -> Result<(), UsageError> {
        self.ready_for(ServerState::PendingCrl)?;
        self.engine.send_fixed(&Message::Crl {
            size: crl.len() as u64,
        });
        self.engine.send_data(crl);
        self.engine.send_fixed(&Message::DataEnd);
        self.idle();
        Ok(())
    }

    /// Answers a log request with the object's bytes.
    pub fn send_log(&mut self, bytes: &[u8]) -> Result<(), UsageError> {
        self.ready_for(ServerState::PendingLog)?;
        crate::logs::send_object(&mut self.engine, bytes);
        self.idle();
        Ok(())
    }

    /// The authenticated student or member of staff, if a certificate was presented.
    pub fn person(&self) -> Option<&PersonId> {
        self.proto.person.as_ref().map(|(id, _)| id)
    }

    /// The authenticated student, if a student certificate was presented.
    pub fn student(&self) -> Option<&StudentId> {
        self.person().and_then(PersonId::student)
    }

    fn ready_for(&self, state: ServerState) -> Result<(), UsageError> {
        self.engine
            .check()
            .map_err(|_| UsageError("the connection is closed"))?;
        if self.proto.state != state {
            return Err(UsageError("no such request is waiting for an answer"));
        }
        Ok(())
    }

    fn idle(&mut self) {
        self.proto.state = ServerState::Idle;
        self.engine.pause_idle(false);
    }

    fn pending(&mut self, state: ServerState) {
        self.proto.state = state;
        self.engine.pause_idle(true);
    }

    fn reject(&mut self, person: Option<PersonId>, refusal: Refusal) {
        self.engine.send_fixed(&Message::Refused(refusal.clone()));
        self.events
            .push_back(EnrollServerEvent::Rejected { person, refusal });
    }

    fn on_input(&mut self) -> Result<(), Error> {
        if self.proto.state == ServerState::Handshaking {
            if self.engine.is_handshaking() {
                return Ok(());
            }
            self.proto.person = authenticate_person(&mut self.engine, &self.proto.config)?;
            self.engine.handshake_done();
            self.engine.send_fixed(&Message::Welcome {
                student_id: self.person().map(|s| s.to_string()),
                server_time: crate::pki::unix_secs(self.engine.wall()),
            });
            self.proto.state = ServerState::Idle;
            self.events.push_back(EnrollServerEvent::Connected {
                person: self.person().cloned(),
                handshake: self.engine.handshake_info(),
            });
        }
        while let Some(msg) = self.engine.next_message()? {
            if let Message::Error(r) = msg {
                return Err(self.engine.fail(Error::Remote(r)));
            }
            if self.proto.state != ServerState::Idle {
                return Err(self.engine.fail(Error::Protocol(format!(
                    "{} while a request is in flight",
                    msg.name()
                ))));
            }
            match msg {
                Message::Enroll {
                    student_id: id,
                    code,
                    csr,
                } => self.on_enroll(&id, code, &csr),
                Message::Renew { csr } => self.on_renew(&csr),
                Message::GetCrl => {
                    self.pending(ServerState::PendingCrl);
                    self.events.push_back(EnrollServerEvent::CrlRequested);
                }
                Message::GetLog { path } => match crate::logs::check_log_path(&path) {
                    Err(e) => self.reject(None, Refusal::new(RefusalCode::BadField, e)),
                    Ok(_) => {
                        self.pending(ServerState::PendingLog);
                        self.events
                            .push_back(EnrollServerEvent::LogRequested { path });
                    }
                },
                other => {
                    return Err(self.engine.fail(Error::Protocol(format!(
                        "{} is not an enrollment request",
                        other.name()
                    ))))
                }
            }
        }
        if self.engine.peer_closed() {
            self.engine.close();
        }
        Ok(())
    }

    fn on_enroll(&mut self, id: &str, code: String, csr: &[u8]) {
        let Ok(id) = PersonId::parse(id) else {
            return self.reject(
                None,
                Refusal::new(
                    RefusalCode::BadRequest,
                    "enroll with a student ID (exactly 10 digits) or a staff login (a \
                     lower-case letter, then 1 to 31 of a-z, 0-9, '.' and '-')",
                ),
            );
        };
        if code.is_empty() || code.len() > MAX_CODE_LEN {
            return self.reject(
                Some(id),
                Refusal::new(
                    RefusalCode::BadCode,
                    "the enrollment code is empty or too long",
                ),
            );
        }
        match check_person_csr(csr, Some(&id)) {
            Ok(csr) => {
                self.pending(ServerState::Pending);
                self.events.push_back(EnrollServerEvent::EnrollRequested {
                    person: id,
                    code,
                    csr,
                });
            }
            Err(e) => self.reject(Some(id), Refusal::new(e.code(), e.to_string())),
        }
    }

    fn on_renew(&mut self, csr: &[u8]) {
        let Some((id, current)) = self.proto.person.clone() else {
            return self.reject(
                None,
                Refusal::new(
                    RefusalCode::NotAuthenticated,
                    "renewal needs your current certificate: connect with it, or enroll again with a new code",
                ),
            );
        };
        match check_person_csr(csr, Some(&id)) {
            Ok(csr) => {
                self.pending(ServerState::Pending);
                self.events.push_back(EnrollServerEvent::RenewRequested {
                    person: id,
                    current,
                    csr,
                });
            }
            Err(e) => self.reject(Some(id), Refusal::new(e.code(), e.to_string())),
        }
    }
}

/// What an [`EnrollClient`] tells the application.
#[non_exhaustive]
#[derive(Debug)]
pub enum EnrollClientEvent {
    /// The server's Welcome arrived: requests may be made.
    Connected {
        /// The student ID or staff login the server authenticated, if a certificate was
        /// presented.
        student: Option<String>,
        /// The server's clock, seconds since the Unix epoch.
        server_time: u64,
        /// TLS facts for logs.
        handshake: HandshakeInfo,
    },
    /// The certificate was issued (checked: it is for the CSR's key and the requested ID).
    Issued {
        /// The personal certificate first, then the CA.
        chain: Vec<CertificateDer<'static>>,
    },
    /// The request was refused; the connection stays open.
    Refused(Refusal),
    /// The CRL, as the server sent it.
    Crl(Vec<u8>),
    /// The log object asked for, as served (check it against a checkpoint before trusting it).
    Log(Vec<u8>),
}

enum ClientState {
    Handshaking,
    Idle,
    AwaitIssued { spki: Vec<u8>, id: Option<String> },
    AwaitCrl,
    Crl { size: u64, buf: Vec<u8> },
    AwaitLog,
    LogIncoming(crate::logs::Incoming),
}

impl std::fmt::Debug for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never dump a CRL buffer into a log line.
        f.write_str(match self {
            Self::Handshaking => "waiting for the Welcome",
            Self::Idle => "idle",
            Self::AwaitIssued { .. } => "waiting for the certificate",
            Self::AwaitCrl => "waiting for the CRL",
            Self::Crl { .. } => "receiving the CRL",
            Self::AwaitLog => "waiting for the log object",
            Self::LogIncoming(_) => "receiving a log object",
        })
    }
}

/// The client side of enrollment: a [`Connection`] over [`EnrollClientProtocol`].
pub type EnrollClient = Connection<EnrollClientProtocol>;

/// The client side of enrollment: the parameter of [`EnrollClient`].
///
/// Call protocol (besides [`Connection`]'s): `new`, then pump bytes both ways until
/// `poll_event` yields `Connected`; then call one of `enroll`, `renew` or `request_crl` and
/// pump until its answer (`Issued`, `Refused` or `Crl`) arrives. `close` when done.
#[derive(Debug)]
pub struct EnrollClientProtocol {
    state: ClientState,
}

impl Protocol for EnrollClientProtocol {
    type Event = EnrollClientEvent;
}

impl Machine for EnrollClientProtocol {
    fn process(conn: &mut EnrollClient) -> Result<(), Error> {
        conn.on_input()
    }
}

impl Connection<EnrollClientProtocol> {
    /// A connection to `server` (its DNS name or IP, as in its certificate) starting at `now`.
    pub fn new(
        config: &ClientConfig,
        server: rustls::pki_types::ServerName<'static>,
        now: Now,
    ) -> Result<Self, ConfigError> {
        let tls = rustls::ClientConnection::new(config.tls.clone(), server)
            .map_err(|e| ConfigError(format!("TLS client: {e}")))?;
        let mut engine = Engine::new(tls.into(), config.clock.clone(), config.timeouts, now);
        engine.set_touch_on_send();
        Ok(Self::from_parts(
            engine,
            EnrollClientProtocol {
                state: ClientState::Handshaking,
            },
        ))
    }

    /// Asks for a certificate: the ID (a student ID or a staff login; `&StudentId`,
    /// `&StaffLogin` and `&PersonId` all do), the one-time code, and a CSR (DER) for that ID.
    pub fn enroll(
        &mut self,
        id: &(impl Clone + Into<PersonId>),
        code: &str,
        csr_der: &[u8],
    ) -> Result<(), UsageError> {
        let id: PersonId = id.clone().into();
        let spki = Self::spki_of(csr_der)?;
        self.request()?;
        self.engine.send(&Message::Enroll {
            student_id: id.to_string(),
            code: code.to_owned(),
            csr: Bytes::copy_from_slice(csr_der),
        })?;
        self.proto.state = ClientState::AwaitIssued {
            spki,
            id: Some(id.to_string()),
        };
        Ok(())
    }

    /// Asks for a fresh certificate for a new CSR, authenticated by the current certificate.
    pub fn renew(&mut self, csr_der: &[u8]) -> Result<(), UsageError> {
        let spki = Self::spki_of(csr_der)?;
        self.request()?;
        self.engine.send(&Message::Renew {
            csr: Bytes::copy_from_slice(csr_der),
        })?;
        self.proto.state = ClientState::AwaitIssued { spki, id: None };
        Ok(())
    }

    /// Asks for the current CRL.
    pub fn request_crl(&mut self) -> Result<(), UsageError> {
        self.request()?;
        self.engine.send_fixed(&Message::GetCrl);
        self.proto.state = ClientState::AwaitCrl;
        Ok(())
    }

    /// Asks for an object of CUHK's log (`checkpoint` or a tile path); wait for `Log` (or
    /// `Refused`).
    pub fn request_log(&mut self, path: &str) -> Result<(), UsageError> {
        self.request()?;
        self.engine.send(&Message::GetLog {
            path: path.to_owned(),
        })?;
        self.proto.state = ClientState::AwaitLog;
        Ok(())
    }

    /// Whether the server's Welcome arrived (requests may be made once no other is in flight).
    pub fn is_connected(&self) -> bool {
        !matches!(self.proto.state, ClientState::Handshaking) && self.engine.check().is_ok()
    }

    fn spki_of(csr_der: &[u8]) -> Result<Vec<u8>, UsageError> {
        use x509_parser::prelude::FromDer;
        let (_, csr) =
            x509_parser::certification_request::X509CertificationRequest::from_der(csr_der)
                .map_err(|_| UsageError("the CSR does not parse (DER expected)"))?;
        Ok(csr.certification_request_info.subject_pki.raw.to_vec())
    }

    fn request(&mut self) -> Result<(), UsageError> {
        if self.engine.is_closed() {
            return Err(UsageError("the connection is closed"));
        }
        match self.proto.state {
            ClientState::Idle => Ok(()),
            ClientState::Handshaking => Err(UsageError("wait for Connected before a request")),
            _ => Err(UsageError("one request at a time")),
        }
    }

    fn on_input(&mut self) -> Result<(), Error> {
        while let Some(msg) = self.engine.next_message()? {
            self.on_message(msg)?;
        }
        if self.engine.peer_closed() {
            if matches!(self.proto.state, ClientState::Idle) {
                self.engine.close();
            } else {
                return Err(self.engine.fail(Error::Closed));
            }
        }
        Ok(())
    }

    fn on_message(&mut self, msg: Message) -> Result<(), Error> {
        let state = std::mem::replace(&mut self.proto.state, ClientState::Idle);
        match (state, msg) {
            (_, Message::Error(r)) => Err(self.engine.fail(Error::Remote(r))),
            (
                ClientState::Handshaking,
                Message::Welcome {
                    student_id,
                    server_time,
                },
            ) => {
                if self.engine.tls.alpn_protocol() != Some(crate::config::ENROLL_ALPN) {
                    return Err(self.engine.fail(Error::Protocol(
                        "the server did not select the ALPN protocol handin-enroll/1".into(),
                    )));
                }
                self.engine.handshake_done();
                self.events.push_back(EnrollClientEvent::Connected {
                    student: student_id,
                    server_time,
                    handshake: self.engine.handshake_info(),
                });
                Ok(())
            }
            (ClientState::AwaitLog, Message::Log { size }) => {
                match crate::logs::Incoming::start(size) {
                    Ok(incoming) => {
                        self.proto.state = ClientState::LogIncoming(incoming);
                        Ok(())
                    }
                    Err(why) => Err(self.engine.fail(Error::Protocol(why))),
                }
            }
            (ClientState::LogIncoming(mut incoming), Message::Data(d)) => {
                if let Err(why) = incoming.data(&d) {
                    return Err(self.engine.fail(Error::Protocol(why)));
                }
                self.proto.state = ClientState::LogIncoming(incoming);
                Ok(())
            }
            (ClientState::LogIncoming(incoming), Message::DataEnd) => match incoming.finish() {
                Ok(bytes) => {
                    self.events.push_back(EnrollClientEvent::Log(bytes));
                    Ok(())
                }
                Err(why) => Err(self.engine.fail(Error::Protocol(why))),
            },
            (
                ClientState::AwaitIssued { .. } | ClientState::AwaitCrl | ClientState::AwaitLog,
                Message::Refused(r),
            ) => {
                self.events.push_back(EnrollClientEvent::Refused(r));
                Ok(())
            }
            (ClientState::AwaitIssued { spki, id }, Message::Issued(chain)) => {
                let leaf = &chain[0];
                let check = crate::pki::person_of(leaf)
                    .map_err(|e| e.to_string())
                    .and_then(|(got, _)| {
                        use x509_parser::prelude::FromDer;
                        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf)
                            .map_err(|e| e.to_string())?;
                        if cert.public_key().raw != spki.as_slice() {
                            return Err("it is for a different key than the CSR's".to_string());
                        }
                        match id {
                            Some(id) if id != got.as_str() => {
                                Err(format!("it is for {} {got}, not {id}", got.kind()))
                            }
                            _ => Ok(()),
                        }
                    });
                if let Err(why) = check {
                    return Err(self.engine.fail(Error::Protocol(format!(
                        "the issued certificate is not usable: {why}"
                    ))));
                }
                let chain = chain
                    .into_iter()
                    .map(|c| CertificateDer::from(c.to_vec()))
                    .collect();
                self.events.push_back(EnrollClientEvent::Issued { chain });
                Ok(())
            }
            (ClientState::AwaitCrl, Message::Crl { size }) => {
                if size > MAX_CRL {
                    return Err(self.engine.fail(Error::Protocol(format!(
                        "CRL of {size} bytes is larger than {MAX_CRL}"
                    ))));
                }
                self.proto.state = ClientState::Crl {
                    size,
                    buf: Vec::with_capacity(size.min(1 << 20) as usize),
                };
                Ok(())
            }
            (ClientState::Crl { size, mut buf }, Message::Data(d)) => {
                if buf.len() as u64 + d.len() as u64 > size {
                    return Err(self
                        .engine
                        .fail(Error::Protocol("CRL longer than announced".into())));
                }
                buf.extend_from_slice(&d);
                self.proto.state = ClientState::Crl { size, buf };
                Ok(())
            }
            (ClientState::Crl { size, buf }, Message::DataEnd) => {
                if buf.len() as u64 != size {
                    return Err(self
                        .engine
                        .fail(Error::Protocol("CRL shorter than announced".into())));
                }
                self.events.push_back(EnrollClientEvent::Crl(buf));
                Ok(())
            }
            (state, msg) => {
                let why = format!("{} is not expected while {state:?}", msg.name());
                Err(self.engine.fail(Error::Protocol(why)))
            }
        }
    }
}
