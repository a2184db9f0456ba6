//! The submission client connection.

use super::Sha256;
use crate::config::{ClientConfig, ConfigError};
use crate::connection::{sealed::Machine, Connection, Protocol};
use crate::engine::{Engine, HandshakeInfo};
use crate::error::{Error, Refusal, UsageError};
use crate::logs::{Commitment, CommitmentBody, Incoming};
use crate::msg::{FeedbackFile, GradeEntry, Message, StreamedOffer, SubmissionEntry, UploadOffer};
use crate::receipt::{Receipt, ReceiptBody};
use crate::time::Now;
use bytes::Bytes;

/// What a [`SubmitClient`] tells the application.
#[non_exhaustive]
#[derive(Debug)]
pub enum SubmitClientEvent {
    /// Blackboard authenticated us and sent its Welcome: requests may be made.
    Connected {
        /// The student ID Blackboard read from our certificate.
        student: String,
        /// Blackboard's clock, seconds since the Unix epoch.
        server_time: u64,
        /// TLS facts for logs.
        handshake: HandshakeInfo,
    },
    /// The offer was accepted: stream the bytes with `send_data`, then `finish_upload`.
    UploadReady,
    /// The signed receipt, verified with Blackboard's certificate from this connection and
    /// checked against what was offered.
    Receipt {
        /// The receipt, to keep.
        receipt: Receipt,
        /// What it attests.
        body: ReceiptBody,
    },
    /// The request was refused; the connection stays open.
    Refused(Refusal),
    /// One of our submissions.
    ListEntry(SubmissionEntry),
    /// End of the listing.
    ListEnd,
    /// The fetched submission's description; its bytes follow.
    FetchBegin(SubmissionEntry),
    /// The next bytes of the fetched submission.
    FetchData(Bytes),
    /// The fetched bytes are complete and match the described size and SHA-256.
    FetchEnd,
    /// One of our released grades.
    Grade(GradeEntry),
    /// End of the grades.
    GradesEnd,
    /// The feedback file's description; its bytes follow.
    FeedbackBegin(FeedbackFile),
    /// The next bytes of the feedback file.
    FeedbackData(Bytes),
    /// The feedback file is complete and matches the described size and SHA-256.
    FeedbackEnd,
    /// The signed commitment, verified with Blackboard's certificate from this connection
    /// (signature and log proof) and checked against what was asked.
    Commitment {
        /// The commitment, to keep.
        commitment: Commitment,
        /// What it says.
        body: CommitmentBody,
    },
    /// The log object asked for, as served (check it against a checkpoint before trusting it).
    Log(Vec<u8>),
}

#[derive(Debug)]
enum State {
    Handshaking,
    Idle,
    /// `Some`: a streamed offer, hashed as its bytes are sent.
    AwaitReady(UploadOffer, Option<Sha256>),
    Uploading(UploadOffer, Option<Sha256>),
    AwaitReceipt(UploadOffer),
    Listing,
    AwaitFetch,
    Fetching {
        entry: SubmissionEntry,
        received: u64,
        hash: Sha256,
    },
    Grades(Option<String>),
    AwaitFeedback,
    FeedbackIncoming {
        file: FeedbackFile,
        received: u64,
        hash: Sha256,
    },
    AwaitCommitment(UploadOffer),
    AwaitLog,
    LogIncoming(Incoming),
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::Handshaking => "waiting for the Welcome",
            Self::Idle => "idle",
            Self::AwaitReady(..) => "waiting for Ready",
            Self::Uploading(..) => "uploading",
            Self::AwaitReceipt(_) => "waiting for the receipt",
            Self::Listing => "listing",
            Self::AwaitFetch => "waiting for FetchBegin",
            Self::Fetching { .. } => "fetching",
            Self::Grades(_) => "listing grades",
            Self::AwaitFeedback => "waiting for FeedbackBegin",
            Self::FeedbackIncoming { .. } => "fetching feedback",
            Self::AwaitCommitment(_) => "waiting for the commitment",
            Self::AwaitLog => "waiting for the log object",
            Self::LogIncoming(_) => "receiving a log object",
        }
    }
}

/// The client side of submission: the parameter of [`SubmitClient`].
///
/// Call protocol (besides [`Connection`]'s): `new`, then pump bytes both ways until
/// `poll_event` yields `Connected`. Do not treat the TLS handshake's end as success: with TLS
/// 1.3 the server judges our certificate after our side finishes, and only the Welcome proves
/// it accepted us. Then:
/// - upload: `submit(offer)`; on `UploadReady`, `send_data` in pieces (drain `poll_transmit`
///   between them to bound memory), then `finish_upload`; wait for `Receipt` or `Refused`;
/// - `list(course)`: `ListEntry`* then `ListEnd`, or `Refused`;
/// - `fetch(id)`: `FetchBegin`, `FetchData`*, `FetchEnd`, or `Refused`;
/// - `grades(course)`: `Grade`* then `GradesEnd`, or `Refused`;
/// - `feedback(course, assignment)`: `FeedbackBegin`, `FeedbackData`*, `FeedbackEnd`, or
///   `Refused`.
///
/// One request at a time; `close` when done.
#[derive(Debug)]
pub struct SubmitClientProtocol {
    state: State,
    student: Option<String>,
    fetching: Option<String>,
}

/// The client side of submission: a [`Connection`] over [`SubmitClientProtocol`].
pub type SubmitClient = Connection<SubmitClientProtocol>;

impl Protocol for SubmitClientProtocol {
    type Event = SubmitClientEvent;
}

impl Machine for SubmitClientProtocol {
    fn process(conn: &mut SubmitClient) -> Result<(), Error> {
        conn.on_input()
    }
}

/// How many idle timeouts the client waits for a receipt: the server may be storing a large
/// file (fsync) before it answers.
const RECEIPT_PATIENCE: u32 = 5;

impl Connection<SubmitClientProtocol> {
    /// A connection to `server` (its DNS name or IP, as in its certificate) starting at `now`.
    /// `config` must carry the student's identity.
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
            SubmitClientProtocol {
                state: State::Handshaking,
                student: None,
                fetching: None,
            },
        ))
    }

    /// Offers a file. Wait for `UploadReady` (or `Refused`).
    pub fn submit(&mut self, offer: UploadOffer) -> Result<(), UsageError> {
        self.idle()?;
        self.engine.send(&Message::Submit(offer.clone()))?;
        self.proto.state = State::AwaitReady(offer, None);
        Ok(())
    }

    /// Whether the server takes offers whose SHA-256 follows the bytes
    /// ([`submit_streamed`](Self::submit_streamed)): it selected `handin-submit/2`. Known once
    /// `Connected` was reported.
    pub fn streams_digests(&self) -> bool {
        self.engine.tls.alpn_protocol() == Some(crate::config::SUBMIT_STREAMED_ALPN)
    }

    /// Offers a file whose SHA-256 is not known yet: the connection hashes the bytes as
    /// [`send_data`](Self::send_data) sends them and declares the digest after the last one,
    /// so the file is read once. Only if [`streams_digests`](Self::streams_digests). Wait for
    /// `UploadReady` (or `Refused`); the receipt is checked against the digest sent.
    pub fn submit_streamed(&mut self, offer: StreamedOffer) -> Result<(), UsageError> {
        self.idle()?;
        if !self.streams_digests() {
            return Err(UsageError(
                "the server speaks handin-submit/1: offer the file with its SHA-256 (submit)",
            ));
        }
        self.engine.send(&Message::SubmitStreamed(offer.clone()))?;
        self.proto.state = State::AwaitReady(offer.with_sha256([0; 32]), Some(Sha256::new()));
        Ok(())
    }

    /// Sends the next bytes of the accepted upload.
    pub fn send_data(&mut self, data: &[u8]) -> Result<(), UsageError> {
        self.live()?;
        let State::Uploading(_, streamed) = &mut self.proto.state else {
            return Err(UsageError("no accepted upload is in progress"));
        };
        if let Some(hash) = streamed {
            hash.update(data);
        }
        self.engine.send_data(data);
        Ok(())
    }

    /// Ends the upload; wait for `Receipt` (or `Refused`).
    pub fn finish_upload(&mut self) -> Result<(), UsageError> {
        self.live()?;
        let State::Uploading(mut offer, streamed) =
            std::mem::replace(&mut self.proto.state, State::Idle)
        else {
            return Err(UsageError("no accepted upload is in progress"));
        };
        match streamed {
            Some(hash) => {
                offer.sha256 = hash.finish();
                self.engine.send_fixed(&Message::DataDigest {
                    sha256: offer.sha256,
                });
            }
            None => self.engine.send_fixed(&Message::DataEnd),
        }
        self.engine.expect_slow_answer(RECEIPT_PATIENCE);
        self.proto.state = State::AwaitReceipt(offer);
        Ok(())
    }

    /// Commits to a file's bytes (name, size, SHA-256) before the due time; wait for
    /// `Commitment` (or `Refused`).
    pub fn commit(&mut self, offer: UploadOffer) -> Result<(), UsageError> {
        self.idle()?;
        self.engine.send(&Message::Commit(offer.clone()))?;
        self.engine.expect_slow_answer(RECEIPT_PATIENCE);
        self.proto.state = State::AwaitCommitment(offer);
        Ok(())
    }

    /// Asks for an object of Blackboard's log (`checkpoint` or a tile path); wait for `Log`
    /// (or `Refused`).
    pub fn get_log(&mut self, path: &str) -> Result<(), UsageError> {
        self.idle()?;
        self.engine.send(&Message::GetLog {
            path: path.to_owned(),
        })?;
        self.proto.state = State::AwaitLog;
        Ok(())
    }

    /// Lists our submissions, optionally for one course.
    pub fn list(&mut self, course: Option<&str>) -> Result<(), UsageError> {
        self.idle()?;
        self.engine.send(&Message::List {
            course: course.map(str::to_owned),
        })?;
        self.proto.state = State::Listing;
        Ok(())
    }

    /// Fetches one of our submissions.
    pub fn fetch(&mut self, id: &str) -> Result<(), UsageError> {
        self.idle()?;
        self.engine.send(&Message::Fetch { id: id.to_owned() })?;
        self.proto.fetching = Some(id.to_owned());
        self.proto.state = State::AwaitFetch;
        Ok(())
    }

    /// Lists our released grades, optionally for one course.
    pub fn grades(&mut self, course: Option<&str>) -> Result<(), UsageError> {
        self.idle()?;
        self.engine.send(&Message::Grades {
            course: course.map(str::to_owned),
        })?;
        self.proto.state = State::Grades(course.map(str::to_owned));
        Ok(())
    }

    /// Fetches the feedback file of our released grade for an assignment.
    pub fn feedback(&mut self, course: &str, assignment: &str) -> Result<(), UsageError> {
        self.idle()?;
        self.engine.send(&Message::Feedback {
            course: course.to_owned(),
            assignment: assignment.to_owned(),
        })?;
        self.proto.state = State::AwaitFeedback;
        Ok(())
    }

    /// The student ID Blackboard authenticated (after `Connected`).
    pub fn student(&self) -> Option<&str> {
        self.proto.student.as_deref()
    }

    /// Whether Blackboard's Welcome arrived (requests may be made once no other is in flight).
    pub fn is_connected(&self) -> bool {
        !matches!(self.proto.state, State::Handshaking) && self.engine.check().is_ok()
    }

    /// Whether an upload is accepted and in progress (`send_data` may be called).
    pub fn is_uploading(&self) -> bool {
        matches!(self.proto.state, State::Uploading(..)) && self.engine.check().is_ok()
    }

    fn live(&self) -> Result<(), UsageError> {
        if self.engine.is_closed() {
            return Err(UsageError("the connection is closed"));
        }
        Ok(())
    }

    fn idle(&self) -> Result<(), UsageError> {
        self.live()?;
        match self.proto.state {
            State::Idle => Ok(()),
            State::Handshaking => Err(UsageError("wait for Connected before a request")),
            _ => Err(UsageError("one request at a time")),
        }
    }

    fn on_input(&mut self) -> Result<(), Error> {
        while let Some(msg) = self.engine.next_message()? {
            self.on_message(msg)?;
        }
        if self.engine.peer_closed() {
            if matches!(self.proto.state, State::Idle) {
                self.engine.close();
            } else {
                return Err(self.engine.fail(Error::Closed));
            }
        }
        Ok(())
    }

    fn on_message(&mut self, msg: Message) -> Result<(), Error> {
        let state = std::mem::replace(&mut self.proto.state, State::Idle);
        match (state, msg) {
            (_, Message::Error(r)) => return Err(self.engine.fail(Error::Remote(r))),
            (
                State::Handshaking,
                Message::Welcome {
                    student_id,
                    server_time,
                },
            ) => {
                let Some(student) = student_id else {
                    return Err(self
                        .engine
                        .fail(Error::Protocol("Welcome names no student".into())));
                };
                if !self
                    .engine
                    .tls
                    .alpn_protocol()
                    .is_some_and(|a| crate::config::Role::Submit.speaks(a))
                {
                    return Err(self.engine.fail(Error::Protocol(
                        "the server did not select the ALPN protocol handin-submit/2 or /1".into(),
                    )));
                }
                self.engine.handshake_done();
                self.proto.student = Some(student.clone());
                self.events.push_back(SubmitClientEvent::Connected {
                    student,
                    server_time,
                    handshake: self.engine.handshake_info(),
                });
            }
            (State::AwaitReady(offer, streamed), Message::Ready) => {
                self.proto.state = State::Uploading(offer, streamed);
                self.events.push_back(SubmitClientEvent::UploadReady);
            }
            (State::Uploading(..), Message::Refused(r)) => {
                // Tell the server we stopped; it discards until this DataEnd.
                self.engine.send_fixed(&Message::DataEnd);
                self.events.push_back(SubmitClientEvent::Refused(r));
            }
            (
                State::AwaitReady(..)
                | State::AwaitReceipt(_)
                | State::Listing
                | State::AwaitFetch
                | State::Grades(_)
                | State::AwaitFeedback
                | State::AwaitCommitment(_)
                | State::AwaitLog,
                Message::Refused(r),
            ) => self.events.push_back(SubmitClientEvent::Refused(r)),
            (State::Grades(course), Message::GradeEntry(g)) => {
                if course.as_ref().is_some_and(|c| *c != g.course) {
                    return Err(self.engine.fail(Error::Protocol(
                        "the grades hold another course than the one asked for".into(),
                    )));
                }
                self.proto.state = State::Grades(course);
                self.events.push_back(SubmitClientEvent::Grade(g));
            }
            (State::Grades(_), Message::ListEnd) => {
                self.events.push_back(SubmitClientEvent::GradesEnd)
            }
            (State::AwaitFeedback, Message::FeedbackBegin(file)) => {
                self.events
                    .push_back(SubmitClientEvent::FeedbackBegin(file.clone()));
                self.proto.state = State::FeedbackIncoming {
                    file,
                    received: 0,
                    hash: Sha256::new(),
                };
            }
            (
                State::FeedbackIncoming {
                    file,
                    received,
                    mut hash,
                },
                Message::Data(d),
            ) => {
                let received = received + d.len() as u64;
                if received > file.size {
                    return Err(self.engine.fail(Error::Protocol(
                        "received more feedback bytes than its declared size".into(),
                    )));
                }
                hash.update(&d);
                self.proto.state = State::FeedbackIncoming {
                    file,
                    received,
                    hash,
                };
                self.events.push_back(SubmitClientEvent::FeedbackData(d));
            }
            (
                State::FeedbackIncoming {
                    file,
                    received,
                    hash,
                },
                Message::DataEnd,
            ) => {
                if received != file.size || hash.finish() != file.sha256 {
                    return Err(self.engine.fail(Error::Protocol(
                        "the feedback bytes do not match its declared size and SHA-256".into(),
                    )));
                }
                self.events.push_back(SubmitClientEvent::FeedbackEnd);
            }
            (State::AwaitReceipt(offer), Message::Receipt(bytes)) => {
                let checked = self.check_receipt(&offer, &bytes);
                match checked {
                    Ok((receipt, body)) => self
                        .events
                        .push_back(SubmitClientEvent::Receipt { receipt, body }),
                    Err(why) => {
                        return Err(self
                            .engine
                            .fail(Error::Protocol(format!("bad receipt: {why}"))))
                    }
                }
            }
            (State::AwaitCommitment(offer), Message::Commitment(bytes)) => {
                match self.check_commitment(&offer, &bytes) {
                    Ok((commitment, body)) => self
                        .events
                        .push_back(SubmitClientEvent::Commitment { commitment, body }),
                    Err(why) => {
                        return Err(self
                            .engine
                            .fail(Error::Protocol(format!("bad commitment: {why}"))))
                    }
                }
            }
            (State::AwaitLog, Message::Log { size }) => match Incoming::start(size) {
                Ok(incoming) => self.proto.state = State::LogIncoming(incoming),
                Err(why) => return Err(self.engine.fail(Error::Protocol(why))),
            },
            (State::LogIncoming(mut incoming), Message::Data(d)) => {
                if let Err(why) = incoming.data(&d) {
                    return Err(self.engine.fail(Error::Protocol(why)));
                }
                self.proto.state = State::LogIncoming(incoming);
            }
            (State::LogIncoming(incoming), Message::DataEnd) => match incoming.finish() {
                Ok(bytes) => self.events.push_back(SubmitClientEvent::Log(bytes)),
                Err(why) => return Err(self.engine.fail(Error::Protocol(why))),
            },
            (State::Listing, Message::ListEntry(e)) => {
                if Some(e.student_id.as_str()) != self.proto.student.as_deref() {
                    return Err(self.engine.fail(Error::Protocol(
                        "the listing holds another student's submission".into(),
                    )));
                }
                self.proto.state = State::Listing;
                self.events.push_back(SubmitClientEvent::ListEntry(e));
            }
            (State::Listing, Message::ListEnd) => self.events.push_back(SubmitClientEvent::ListEnd),
            (State::AwaitFetch, Message::FetchBegin(entry)) => {
                if Some(&entry.id) != self.proto.fetching.as_ref()
                    || Some(entry.student_id.as_str()) != self.proto.student.as_deref()
                {
                    return Err(self.engine.fail(Error::Protocol(
                        "the server sent a different submission than the one asked for".into(),
                    )));
                }
                self.events
                    .push_back(SubmitClientEvent::FetchBegin(entry.clone()));
                self.proto.state = State::Fetching {
                    entry,
                    received: 0,
                    hash: Sha256::new(),
                };
            }
            (
                State::Fetching {
                    entry,
                    received,
                    mut hash,
                },
                Message::Data(d),
            ) => {
                let received = received + d.len() as u64;
                if received > entry.size {
                    return Err(self.engine.fail(Error::Protocol(
                        "fetched more bytes than the submission's size".into(),
                    )));
                }
                hash.update(&d);
                self.proto.state = State::Fetching {
                    entry,
                    received,
                    hash,
                };
                self.events.push_back(SubmitClientEvent::FetchData(d));
            }
            (
                State::Fetching {
                    entry,
                    received,
                    hash,
                },
                Message::DataEnd,
            ) => {
                if received != entry.size || hash.finish() != entry.sha256 {
                    return Err(self.engine.fail(Error::Protocol(
                        "the fetched bytes do not match the submission's size and SHA-256".into(),
                    )));
                }
                self.events.push_back(SubmitClientEvent::FetchEnd);
            }
            (state, msg) => {
                let why = format!("{} is not expected while {}", msg.name(), state.name());
                self.proto.state = state;
                return Err(self.engine.fail(Error::Protocol(why)));
            }
        }
        Ok(())
    }

    fn check_commitment(
        &self,
        offer: &UploadOffer,
        bytes: &[u8],
    ) -> Result<(Commitment, CommitmentBody), String> {
        let commitment = Commitment::decode(bytes)?;
        let cert = self
            .engine
            .tls
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or("no server certificate")?;
        let (body, _) = commitment.verify(cert)?;
        let ours = self.proto.student.as_deref().is_some_and(|student| {
            offer.is_described_by(
                student,
                &body.student_id,
                &body.course,
                &body.assignment,
                &body.file_name,
                body.size,
                &body.sha256,
            )
        });
        if !ours {
            return Err("it does not describe what we committed to".into());
        }
        Ok((commitment, body))
    }

    fn check_receipt(
        &self,
        offer: &UploadOffer,
        bytes: &[u8],
    ) -> Result<(Receipt, ReceiptBody), String> {
        let receipt = Receipt::decode(bytes).map_err(|e| e.0)?;
        let cert = self
            .engine
            .tls
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or("no server certificate")?;
        let body = receipt.verify(cert).map_err(|e| e.0)?;
        let ours = self.proto.student.as_deref().is_some_and(|student| {
            offer.is_described_by(
                student,
                &body.student_id,
                &body.course,
                &body.assignment,
                &body.file_name,
                body.size,
                &body.sha256,
            )
        });
        if !ours {
            return Err("it does not describe what we uploaded".into());
        }
        Ok((receipt, body))
    }
}
