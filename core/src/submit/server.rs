//! The submission server connection.

use super::Sha256;
use crate::config::{ConfigError, ServerConfig};
use crate::connection::{sealed::Machine, Connection, Protocol};
use crate::engine::{Engine, HandshakeInfo};
use crate::error::{Error, Refusal, RefusalCode, UsageError};
use crate::logs::Commitment;
use crate::msg::{FeedbackFile, GradeEntry, Message, SubmissionEntry, UploadOffer};
use crate::names::{check_file_name, check_label};
use crate::outgoing::Outgoing;
use crate::peer::{authenticate_peer, check_standing, welcome};
use crate::pki::{CertificateInfo, StudentId};
use crate::receipt::Receipt;
use crate::time::Now;
use bytes::Bytes;
use std::sync::Arc;
use std::time::SystemTime;

/// What a [`SubmitServer`] tells the application.
#[non_exhaustive]
#[derive(Debug)]
pub enum SubmitServerEvent {
    /// The student is authenticated and the Welcome sent.
    Connected {
        /// The student ID from the verified certificate.
        student: StudentId,
        /// The certificate's subject, serial and validity.
        certificate: CertificateInfo,
        /// TLS facts for logs.
        handshake: HandshakeInfo,
    },
    /// An upload offer with acceptable names. Check the assignment and size limit, then call
    /// [`SubmitServer::accept_upload`] or [`SubmitServer::refuse`]. A streamed offer
    /// (`handin-submit/2`) declares its SHA-256 only after the bytes: its `sha256` here is all
    /// zeros, and the digest checked is in [`SubmitServerEvent::UploadComplete`]'s offer.
    UploadRequested(UploadOffer),
    /// The next bytes of the accepted upload: write them to a temporary file.
    UploadData(Bytes),
    /// All bytes arrived and match the offer's size and SHA-256. Make them durable, commit the
    /// record, sign a receipt, then call [`SubmitServer::send_receipt`] (or `refuse`).
    UploadComplete {
        /// The offer that was fulfilled.
        offer: UploadOffer,
        /// When the last byte arrived, on the wall clock.
        received_at: SystemTime,
    },
    /// The upload will not complete (mismatch, disconnect, refusal): discard what was written.
    UploadAborted {
        /// Why.
        reason: String,
    },
    /// List this student's submissions: call `send_list_entry` for each, then `finish_list`.
    ListRequested {
        /// Only this course, if given.
        course: Option<String>,
    },
    /// Fetch one submission: call `start_fetch` with its entry (the core refuses it unless it
    /// is this student's), then `send_fetch_data` and `finish_fetch`; or `refuse`.
    FetchRequested {
        /// The submission identifier asked for.
        id: String,
    },
    /// List this student's released grades: call [`SubmitServer::send_grade`] for each
    /// (only grades already released), then [`SubmitServer::finish_grades`].
    GradesRequested {
        /// Only this course, if given (a well-formed course code).
        course: Option<String>,
    },
    /// Fetch this student's feedback file of a released grade: call
    /// [`SubmitServer::start_feedback`], then `send_fetch_data` and `finish_fetch`; or
    /// `refuse` (`NotFound` while the grade is unreleased or has no file, so that nothing is
    /// learnt before the release).
    FeedbackRequested {
        /// Course code (well-formed).
        course: String,
        /// Assignment name (well-formed).
        assignment: String,
    },
    /// A commitment to a file's bytes, with acceptable names. Check the assignment and the
    /// due time, log it, then call [`SubmitServer::send_commitment`] or
    /// [`SubmitServer::refuse`].
    CommitRequested(UploadOffer),
    /// An object of Blackboard's log (`checkpoint` or a tile path, already checked by
    /// [`crate::logs::check_log_path`]): call [`SubmitServer::send_log`] or `refuse`
    /// (`NotFound`).
    LogRequested {
        /// The path.
        path: String,
    },
    /// The core refused a request by itself (bad name, mismatch); for logs.
    Rejected(Refusal),
}

#[derive(Debug)]
enum State {
    Handshaking,
    Idle,
    /// `streamed`: the offer's SHA-256 follows its bytes (`SubmitStreamed`).
    OfferPending {
        offer: UploadOffer,
        streamed: bool,
    },
    Uploading {
        offer: UploadOffer,
        received: u64,
        hash: Sha256,
        streamed: bool,
    },
    Persisting(UploadOffer),
    Discarding,
    Listing,
    FetchPending,
    Fetching(Outgoing),
    Grades(Option<String>),
    FeedbackPending,
    CommitPending(UploadOffer),
    LogPending,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::Handshaking => "handshaking",
            Self::Idle => "idle",
            Self::OfferPending { .. } => "deciding on an offer",
            Self::Uploading { .. } => "uploading",
            Self::Persisting(_) => "storing",
            Self::Discarding => "discarding a refused upload",
            Self::Listing => "listing",
            Self::FetchPending => "deciding on a fetch",
            Self::Fetching(_) => "fetching",
            Self::Grades(_) => "listing grades",
            Self::FeedbackPending => "deciding on a feedback fetch",
            Self::CommitPending(_) => "logging a commitment",
            Self::LogPending => "reading the log",
        }
    }
}

/// The server side of submission, one per connection: a [`Connection`] over
/// [`SubmitServerProtocol`].
pub type SubmitServer = Connection<SubmitServerProtocol>;

/// The server side of submission: the parameter of [`SubmitServer`].
///
/// Call protocol (besides [`Connection`]'s): `new`, then answer each request event with the
/// calls its documentation names. While the application works on an answer (storage,
/// signing), the idle deadline is paused.
#[derive(Debug)]
pub struct SubmitServerProtocol {
    config: Arc<ServerConfig>,
    state: State,
    student: Option<StudentId>,
    certificate: Option<CertificateInfo>,
}

impl Protocol for SubmitServerProtocol {
    type Event = SubmitServerEvent;
}

impl Machine for SubmitServerProtocol {
    fn process(conn: &mut SubmitServer) -> Result<(), Error> {
        conn.on_input()
    }

    fn on_fatal(conn: &mut SubmitServer) {
        if matches!(conn.proto.state, State::Uploading { .. }) {
            conn.proto.state = State::Idle;
            conn.events.push_back(SubmitServerEvent::UploadAborted {
                reason: "the connection ended before the upload finished".into(),
            });
        }
    }
}

impl Connection<SubmitServerProtocol> {
    /// A connection accepted at `now`, on a port that serves only submission. (On a port
    /// that serves several protocols, see [`crate::accept`].)
    pub fn new(config: Arc<ServerConfig>, now: Now) -> Result<Self, ConfigError> {
        let tls = rustls::ServerConnection::new(config.tls.clone())
            .map_err(|e| ConfigError(format!("TLS server: {e}")))?;
        Ok(Self::from_tls(config, tls, now))
    }

    /// A connection over a TLS session that already exists (continued from an accepted
    /// ClientHello).
    pub(crate) fn from_tls(
        config: Arc<ServerConfig>,
        tls: rustls::ServerConnection,
        now: Now,
    ) -> Self {
        let engine = Engine::new(tls.into(), config.clock.clone(), config.timeouts, now);
        Self::from_parts(
            engine,
            SubmitServerProtocol {
                config,
                state: State::Handshaking,
                student: None,
                certificate: None,
            },
        )
    }

    /// The authenticated student (after `Connected`).
    pub fn student(&self) -> Option<&StudentId> {
        self.proto.student.as_ref()
    }

    /// The authenticated student's certificate: subject, serial, validity (after `Connected`).
    pub fn certificate(&self) -> Option<&CertificateInfo> {
        self.proto.certificate.as_ref()
    }

    /// Replaces the configuration whose revoked set this connection enforces (the server
    /// reloaded its CRL), and checks the student's certificate against it at `now`: a
    /// certificate that is now revoked (or expired) ends the connection at once, with an
    /// `Error` frame saying so, and an upload in progress is aborted. Requests are checked
    /// against the configuration in force, so call this before feeding more bytes.
    pub fn set_config(&mut self, now: Now, config: Arc<ServerConfig>) -> Result<(), Error> {
        self.engine.check()?;
        self.engine.set_now(now);
        self.proto.config = config;
        let r = self.recheck();
        self.settle(r)
    }

    /// Ends the connection with `refusal` (an `Error` frame, then close): for the
    /// application's own reasons to turn an authenticated student away (too many connections,
    /// say). An upload in progress is aborted.
    pub fn disconnect(&mut self, refusal: Refusal) {
        if self.engine.check().is_ok() {
            let _ = self.settle(Err(Error::Refused(refusal)));
        }
    }

    /// Accepts the pending upload offer: the client starts streaming.
    pub fn accept_upload(&mut self) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::OfferPending { .. }) {
            return Err(UsageError("no upload offer is waiting"));
        }
        let State::OfferPending { offer, streamed } =
            std::mem::replace(&mut self.proto.state, State::Idle)
        else {
            unreachable!("checked just above");
        };
        self.engine.send_fixed(&Message::Ready);
        self.engine.pause_idle(false);
        self.proto.state = State::Uploading {
            offer,
            received: 0,
            hash: Sha256::new(),
            streamed,
        };
        Ok(())
    }

    /// Refuses the request being decided (an offer, an upload being received or stored, a
    /// list or a fetch not yet started). The connection stays open.
    pub fn refuse(&mut self, refusal: Refusal) -> Result<(), UsageError> {
        self.live()?;
        let state = std::mem::replace(&mut self.proto.state, State::Idle);
        match state {
            State::OfferPending { .. }
            | State::Persisting(_)
            | State::FetchPending
            | State::Listing
            | State::Grades(_)
            | State::FeedbackPending
            | State::CommitPending(_)
            | State::LogPending => {
                self.engine.send_fixed(&Message::Refused(refusal));
                self.go_idle();
                Ok(())
            }
            State::Uploading { .. } => {
                self.engine.send_fixed(&Message::Refused(refusal.clone()));
                self.events.push_back(SubmitServerEvent::UploadAborted {
                    reason: refusal.reason,
                });
                // The client answers a refusal mid-upload with DataEnd; skip its data until then.
                self.proto.state = State::Discarding;
                Ok(())
            }
            other => {
                self.proto.state = other;
                Err(UsageError("no request is waiting for an answer"))
            }
        }
    }

    /// Sends the receipt for the upload just completed. The receipt must describe it: this
    /// student, the offer's course, assignment, file name, size and SHA-256.
    pub fn send_receipt(&mut self, receipt: &Receipt) -> Result<(), UsageError> {
        self.live()?;
        let State::Persisting(offer) = &self.proto.state else {
            return Err(UsageError("no completed upload is waiting for a receipt"));
        };
        let body = receipt
            .body_unverified()
            .map_err(|_| UsageError("the receipt does not decode"))?;
        let student = self
            .proto
            .student
            .as_ref()
            .map(|s| s.as_str())
            .unwrap_or_default();
        if !offer.is_described_by(
            student,
            &body.student_id,
            &body.course,
            &body.assignment,
            &body.file_name,
            body.size,
            &body.sha256,
        ) {
            return Err(UsageError(
                "the receipt does not describe the completed upload",
            ));
        }
        self.engine
            .send(&Message::Receipt(Bytes::from(receipt.encode())))?;
        self.go_idle();
        Ok(())
    }

    /// Sends the signed, logged commitment asked for. It must describe the request: this
    /// student, the offer's course, assignment, file name, size and SHA-256.
    pub fn send_commitment(&mut self, commitment: &Commitment) -> Result<(), UsageError> {
        self.live()?;
        let State::CommitPending(offer) = &self.proto.state else {
            return Err(UsageError("no commitment request is waiting"));
        };
        let body = commitment
            .body_unverified()
            .map_err(|_| UsageError("the commitment does not decode"))?;
        let student = self
            .proto
            .student
            .as_ref()
            .map(|s| s.as_str())
            .unwrap_or_default();
        if !offer.is_described_by(
            student,
            &body.student_id,
            &body.course,
            &body.assignment,
            &body.file_name,
            body.size,
            &body.sha256,
        ) {
            return Err(UsageError("the commitment does not describe the request"));
        }
        self.engine
            .send(&Message::Commitment(Bytes::from(commitment.encode())))?;
        self.go_idle();
        Ok(())
    }

    /// Answers the log request with the object's bytes.
    pub fn send_log(&mut self, bytes: &[u8]) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::LogPending) {
            return Err(UsageError("no log request is waiting"));
        }
        crate::logs::send_object(&mut self.engine, bytes);
        self.go_idle();
        Ok(())
    }

    /// Sends one listed submission. Entries of other students are refused (never sent).
    pub fn send_list_entry(&mut self, entry: &SubmissionEntry) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::Listing) {
            return Err(UsageError("no list request is being answered"));
        }
        if Some(entry.student_id.as_str()) != self.proto.student.as_ref().map(|s| s.as_str()) {
            return Err(UsageError("that submission belongs to another student"));
        }
        self.engine.send(&Message::ListEntry(entry.clone()))?;
        Ok(())
    }

    /// Ends the listing.
    pub fn finish_list(&mut self) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::Listing) {
            return Err(UsageError("no list request is being answered"));
        }
        self.engine.send_fixed(&Message::ListEnd);
        self.go_idle();
        Ok(())
    }

    /// Starts sending the submission `entry` describes. If it is not this student's, the
    /// client gets the same "not found" as for a missing one, and this returns an error.
    pub fn start_fetch(&mut self, entry: &SubmissionEntry) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::FetchPending) {
            return Err(UsageError("no fetch request is waiting"));
        }
        if Some(entry.student_id.as_str()) != self.proto.student.as_ref().map(|s| s.as_str()) {
            self.engine.send_fixed(&Message::Refused(not_found()));
            self.go_idle();
            return Err(UsageError("that submission belongs to another student"));
        }
        self.engine.send(&Message::FetchBegin(entry.clone()))?;
        self.proto.state = State::Fetching(Outgoing::new(entry.size));
        Ok(())
    }

    /// Sends one released grade of this student. A grade of another course than the one
    /// asked for is refused (never sent).
    pub fn send_grade(&mut self, grade: &GradeEntry) -> Result<(), UsageError> {
        self.live()?;
        let State::Grades(course) = &self.proto.state else {
            return Err(UsageError("no grades request is being answered"));
        };
        if course.as_ref().is_some_and(|c| *c != grade.course) {
            return Err(UsageError("that grade is of another course than asked for"));
        }
        self.engine.send(&Message::GradeEntry(grade.clone()))?;
        Ok(())
    }

    /// Ends the grades listing.
    pub fn finish_grades(&mut self) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::Grades(_)) {
            return Err(UsageError("no grades request is being answered"));
        }
        self.engine.send_fixed(&Message::ListEnd);
        self.go_idle();
        Ok(())
    }

    /// Starts sending the feedback file `file` describes; its bytes then go through
    /// [`send_fetch_data`](Self::send_fetch_data) and [`finish_fetch`](Self::finish_fetch).
    pub fn start_feedback(&mut self, file: &FeedbackFile) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::FeedbackPending) {
            return Err(UsageError("no feedback request is waiting"));
        }
        self.engine.send(&Message::FeedbackBegin(file.clone()))?;
        self.proto.state = State::Fetching(Outgoing::new(file.size));
        Ok(())
    }

    /// Sends the next bytes of the fetched submission (or feedback file). Send at most what
    /// the transport can buffer between two `poll_transmit` calls.
    pub fn send_fetch_data(&mut self, data: &[u8]) -> Result<(), UsageError> {
        self.live()?;
        let State::Fetching(out) = &mut self.proto.state else {
            return Err(UsageError("no fetch is in progress"));
        };
        out.send(&mut self.engine, data)
    }

    /// Ends the fetch; every byte of the submission (or feedback file) must have been sent.
    pub fn finish_fetch(&mut self) -> Result<(), UsageError> {
        self.live()?;
        let State::Fetching(out) = &self.proto.state else {
            return Err(UsageError("no fetch is in progress"));
        };
        out.finish(&mut self.engine)?;
        self.go_idle();
        Ok(())
    }

    fn live(&self) -> Result<(), UsageError> {
        if self.engine.is_closed() {
            return Err(UsageError("the connection is closed"));
        }
        Ok(())
    }

    fn go_idle(&mut self) {
        self.proto.state = State::Idle;
        self.engine.pause_idle(false);
    }

    fn wait_for_app(&mut self, state: State) {
        self.proto.state = state;
        self.engine.pause_idle(true);
    }

    fn reject(&mut self, refusal: Refusal) {
        self.engine.send_fixed(&Message::Refused(refusal.clone()));
        self.events.push_back(SubmitServerEvent::Rejected(refusal));
    }

    fn on_input(&mut self) -> Result<(), Error> {
        if matches!(self.proto.state, State::Handshaking) {
            let Some((student, certificate)) =
                welcome(&mut self.engine, &self.proto.config, authenticate_peer)?
            else {
                return Ok(());
            };
            self.proto.student = Some(student.clone());
            self.proto.certificate = Some(certificate.clone());
            self.proto.state = State::Idle;
            self.events.push_back(SubmitServerEvent::Connected {
                student,
                certificate,
                handshake: self.engine.handshake_info(),
            });
        }
        while let Some(msg) = self.engine.next_message()? {
            self.on_message(msg)?;
        }
        if self.engine.peer_closed() {
            match self.proto.state {
                State::Idle => self.engine.close(),
                _ => return Err(self.engine.fail(Error::Closed)),
            }
        }
        Ok(())
    }

    fn on_message(&mut self, msg: Message) -> Result<(), Error> {
        if let Message::Error(r) = msg {
            return Err(self.engine.fail(Error::Remote(r)));
        }
        if !matches!(msg, Message::Data(_)) {
            // Every request, and the end of every upload, is checked against the revoked
            // set in force now, not only the one at the handshake.
            self.recheck()?;
        }
        let state = std::mem::replace(&mut self.proto.state, State::Idle);
        match (state, msg) {
            (State::Idle, Message::Submit(offer)) => self.on_offer(offer, false),
            // Its SHA-256 is known at the end: until then the offer carries zeros, which
            // nothing before `UploadComplete` looks at.
            (State::Idle, Message::SubmitStreamed(offer)) => {
                if self.engine.tls.alpn_protocol() != Some(crate::config::SUBMIT_STREAMED_ALPN) {
                    return Err(self.engine.fail(Error::Protocol(
                        "SubmitStreamed is part of handin-submit/2, not of the protocol this \
                         connection negotiated"
                            .into(),
                    )));
                }
                self.on_offer(offer.with_sha256([0; 32]), true)
            }
            (
                State::Uploading {
                    offer,
                    received,
                    mut hash,
                    streamed,
                },
                Message::Data(d),
            ) => {
                let received = received + d.len() as u64;
                if received > offer.size {
                    self.reject(Refusal::new(
                        RefusalCode::SizeMismatch,
                        format!(
                            "more bytes than the {} declared; nothing was stored",
                            offer.size
                        ),
                    ));
                    self.events.push_back(SubmitServerEvent::UploadAborted {
                        reason: "more bytes than declared".into(),
                    });
                    self.proto.state = State::Discarding;
                } else {
                    hash.update(&d);
                    self.proto.state = State::Uploading {
                        offer,
                        received,
                        hash,
                        streamed,
                    };
                    if !d.is_empty() {
                        self.events.push_back(SubmitServerEvent::UploadData(d));
                    }
                }
            }
            (
                State::Uploading {
                    mut offer,
                    received,
                    hash,
                    streamed,
                },
                end @ (Message::DataEnd | Message::DataDigest { .. }),
            ) => {
                let sha = hash.finish();
                match (streamed, end) {
                    (true, Message::DataDigest { sha256 }) => offer.sha256 = sha256,
                    (false, Message::DataEnd) => {}
                    (true, _) => {
                        return Err(self.engine.fail(Error::Protocol(
                            "a streamed upload ends with DataDigest, not DataEnd".into(),
                        )))
                    }
                    (false, _) => {
                        return Err(self.engine.fail(Error::Protocol(
                            "an upload whose offer declared its SHA-256 ends with DataEnd".into(),
                        )))
                    }
                }
                if received != offer.size {
                    self.upload_failed(
                        RefusalCode::SizeMismatch,
                        format!(
                            "declared {} bytes but sent {received}; nothing was stored",
                            offer.size
                        ),
                    );
                } else if sha != offer.sha256 {
                    self.upload_failed(
                        RefusalCode::HashMismatch,
                        "the bytes do not match the declared SHA-256 (did the file change while uploading?); nothing was stored".into(),
                    );
                } else {
                    self.wait_for_app(State::Persisting(offer.clone()));
                    self.events.push_back(SubmitServerEvent::UploadComplete {
                        offer,
                        received_at: self.engine.wall(),
                    });
                }
            }
            (State::Discarding, Message::Data(_)) => self.proto.state = State::Discarding,
            (State::Discarding, Message::DataEnd | Message::DataDigest { .. }) => self.go_idle(),
            (State::Idle, Message::Commit(offer)) => {
                if let Err(r) = check_names(&offer) {
                    self.reject(r);
                } else {
                    self.wait_for_app(State::CommitPending(offer.clone()));
                    self.events
                        .push_back(SubmitServerEvent::CommitRequested(offer));
                }
            }
            (State::Idle, Message::GetLog { path }) => match crate::logs::check_log_path(&path) {
                Err(e) => self.reject(Refusal::new(RefusalCode::BadField, e)),
                Ok(_) => {
                    self.wait_for_app(State::LogPending);
                    self.events
                        .push_back(SubmitServerEvent::LogRequested { path });
                }
            },
            (State::Idle, Message::List { course }) => {
                self.wait_for_app(State::Listing);
                self.events
                    .push_back(SubmitServerEvent::ListRequested { course });
            }
            (State::Idle, Message::Fetch { id }) => {
                self.wait_for_app(State::FetchPending);
                self.events
                    .push_back(SubmitServerEvent::FetchRequested { id });
            }
            (State::Idle, Message::Grades { course }) => {
                match course.as_deref().map(|c| check_label("course", c)) {
                    Some(Err(e)) => self.reject(Refusal::new(RefusalCode::BadField, e.0)),
                    _ => {
                        self.wait_for_app(State::Grades(course.clone()));
                        self.events
                            .push_back(SubmitServerEvent::GradesRequested { course });
                    }
                }
            }
            (State::Idle, Message::Feedback { course, assignment }) => {
                if let Err(e) = check_label("course", &course)
                    .and_then(|()| check_label("assignment", &assignment))
                {
                    self.reject(Refusal::new(RefusalCode::BadField, e.0));
                } else {
                    self.wait_for_app(State::FeedbackPending);
                    self.events
                        .push_back(SubmitServerEvent::FeedbackRequested { course, assignment });
                }
            }
            (state, msg) => {
                let why = format!("{} is not expected while {}", msg.name(), state.name());
                self.proto.state = state;
                return Err(self.engine.fail(Error::Protocol(why)));
            }
        }
        Ok(())
    }

    /// An upload offer (`streamed`: its SHA-256 follows the bytes): checked here for what
    /// needs no storage, then handed to the application.
    fn on_offer(&mut self, offer: UploadOffer, streamed: bool) {
        if let Err(r) = check_names(&offer) {
            self.reject(r);
        } else {
            self.wait_for_app(State::OfferPending {
                offer: offer.clone(),
                streamed,
            });
            self.events
                .push_back(SubmitServerEvent::UploadRequested(offer));
        }
    }

    /// Whether the student's certificate still stands (not revoked, not expired); if not,
    /// the connection fails with the refusal saying why.
    fn recheck(&mut self) -> Result<(), Error> {
        let (Some(id), Some(info)) = (&self.proto.student, &self.proto.certificate) else {
            return Ok(());
        };
        match check_standing(id, info, &self.proto.config, self.engine.wall()) {
            Ok(()) => Ok(()),
            Err(r) => Err(self.engine.fail(Error::Refused(r))),
        }
    }

    fn upload_failed(&mut self, code: RefusalCode, reason: String) {
        self.events.push_back(SubmitServerEvent::UploadAborted {
            reason: reason.clone(),
        });
        self.reject(Refusal::new(code, reason));
        self.go_idle();
    }
}

/// The checks of an offer's (or a commitment's) names that need no storage: the course and
/// assignment are plain labels, the file name a plain name.
fn check_names(offer: &UploadOffer) -> Result<(), Refusal> {
    check_label("course", &offer.course)
        .and_then(|()| check_label("assignment", &offer.assignment))
        .map_err(|e| Refusal::new(RefusalCode::NoSuchAssignment, e.0))?;
    check_file_name(&offer.file_name).map_err(|e| Refusal::new(RefusalCode::BadFileName, e.0))
}

fn not_found() -> Refusal {
    Refusal::new(RefusalCode::NotFound, "no such submission of yours")
}
