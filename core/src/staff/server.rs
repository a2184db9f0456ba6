//! The staff server connection.

pub use super::request::StaffRequest;

use super::{check_assignment, check_comment, check_labels, check_score, check_time};
use crate::config::{ConfigError, Role, ServerConfig};
use crate::connection::{sealed::Machine, Connection, Protocol};
use crate::engine::{Engine, HandshakeInfo};
use crate::error::{Error, Refusal, RefusalCode, UsageError};
use crate::msg::{
    CourseRow, GradeSpec, LogRow, Message, StaffMessage, StatusRow, SubmissionEntry,
    SubmissionState,
};
use crate::names::{check_file_name, check_label, check_submission_id};
use crate::outgoing::Outgoing;
use crate::peer::{authenticate_person, check_standing, welcome};
use crate::pki::{CertificateInfo, PersonId, StudentId};
use crate::receipt::Receipt;
use crate::submit::Sha256;
use crate::time::Now;
use bytes::Bytes;
use std::sync::Arc;
use std::time::SystemTime;

/// What a [`StaffServer`] tells the application.
#[non_exhaustive]
#[derive(Debug)]
pub enum StaffServerEvent {
    /// The caller is authenticated and the Welcome sent.
    Connected {
        /// The person in the verified certificate: a staff login, or a student ID (a TA).
        person: PersonId,
        /// The certificate's subject, serial and validity.
        certificate: CertificateInfo,
        /// TLS facts for logs.
        handshake: HandshakeInfo,
    },
    /// A well-formed request: check the caller's authority, then answer it as its
    /// documentation says.
    Request(StaffRequest),
    /// The next bytes of the accepted feedback file: write them to a temporary file.
    FeedbackData(Bytes),
    /// All bytes of the feedback file arrived and match its declared size and SHA-256. Make
    /// them durable, record the grade, then call [`StaffServer::done`] (or `refuse`).
    FeedbackComplete {
        /// The grade the file belongs to.
        grade: GradeSpec,
        /// When the last byte arrived, on the wall clock.
        received_at: SystemTime,
    },
    /// The feedback upload will not complete (mismatch, disconnect, refusal): discard what
    /// was written.
    FeedbackAborted {
        /// Why.
        reason: String,
    },
    /// An object of Blackboard's transparency log (`checkpoint`, `vkey` or a tile path,
    /// checked by [`crate::logs::check_log_path`]): call [`StaffServer::send_log_object`] or `refuse`.
    LogRequested {
        /// The path.
        path: String,
    },
    /// The core refused a request by itself (a malformed field); for logs.
    Rejected(Refusal),
}

#[derive(Debug)]
enum Rows {
    Courses,
    Status { course: String, assignment: String },
    Log,
}

#[derive(Debug)]
enum State {
    Handshaking,
    Idle,
    Rows(Rows),
    Deciding,
    FeedbackOffer(GradeSpec),
    Receiving {
        grade: GradeSpec,
        received: u64,
        hash: Sha256,
    },
    Storing,
    Discarding,
    FetchPending(String),
    Fetching(Outgoing),
    LogPending,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::Handshaking => "handshaking",
            Self::Idle => "idle",
            Self::Rows(_) => "sending rows",
            Self::Deciding => "deciding on a request",
            Self::FeedbackOffer(_) => "deciding on a feedback file",
            Self::Receiving { .. } => "receiving a feedback file",
            Self::Storing => "storing a feedback file",
            Self::Discarding => "discarding a refused feedback file",
            Self::FetchPending(_) => "deciding on a fetch",
            Self::Fetching(_) => "fetching",
            Self::LogPending => "reading the log",
        }
    }
}

/// The server side of the staff protocol, one per connection: a [`Connection`] over
/// [`StaffServerProtocol`].
pub type StaffServer = Connection<StaffServerProtocol>;

/// The server side of the staff protocol: the parameter of [`StaffServer`].
///
/// Call protocol (besides [`Connection`]'s): `new` (or [`crate::accept::Hello::into_staff`]),
/// then answer each [`StaffServerEvent::Request`] with the calls its [`StaffRequest`] variant
/// names. While the application works on an answer, the idle deadline is paused. The
/// caller's certificate is checked against the revoked set and its validity before every
/// request, as on [`SubmitServer`](crate::SubmitServer).
#[derive(Debug)]
pub struct StaffServerProtocol {
    config: Arc<ServerConfig>,
    state: State,
    person: Option<PersonId>,
    certificate: Option<CertificateInfo>,
}

impl Protocol for StaffServerProtocol {
    type Event = StaffServerEvent;
}

impl Machine for StaffServerProtocol {
    fn process(conn: &mut StaffServer) -> Result<(), Error> {
        conn.on_input()
    }

    fn on_fatal(conn: &mut StaffServer) {
        if matches!(conn.proto.state, State::Receiving { .. }) {
            conn.proto.state = State::Idle;
            conn.events.push_back(StaffServerEvent::FeedbackAborted {
                reason: "the connection ended before the feedback file was complete".into(),
            });
        }
    }
}

impl Connection<StaffServerProtocol> {
    /// A connection accepted at `now`, on a port that serves only the staff protocol (on a
    /// port shared with submission, see [`crate::accept`]). `config` must be for
    /// [`Role::Staff`].
    pub fn new(config: Arc<ServerConfig>, now: Now) -> Result<Self, ConfigError> {
        if config.role != Role::Staff {
            return Err(ConfigError(
                "a staff server needs a configuration for Role::Staff".into(),
            ));
        }
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
            StaffServerProtocol {
                config,
                state: State::Handshaking,
                person: None,
                certificate: None,
            },
        )
    }

    /// The authenticated person (after `Connected`).
    pub fn person(&self) -> Option<&PersonId> {
        self.proto.person.as_ref()
    }

    /// The authenticated person's certificate (after `Connected`).
    pub fn certificate(&self) -> Option<&CertificateInfo> {
        self.proto.certificate.as_ref()
    }

    /// Replaces the configuration whose revoked set this connection enforces, and checks the
    /// caller's certificate against it at `now`, as [`SubmitServer::set_config`] does.
    ///
    /// [`SubmitServer::set_config`]: crate::SubmitServer::set_config
    pub fn set_config(&mut self, now: Now, config: Arc<ServerConfig>) -> Result<(), Error> {
        self.engine.check()?;
        self.engine.set_now(now);
        self.proto.config = config;
        let r = self.recheck();
        self.settle(r)
    }

    /// Ends the connection with `refusal` (an `Error` frame, then close). A feedback upload
    /// in progress is aborted.
    pub fn disconnect(&mut self, refusal: Refusal) {
        if self.engine.check().is_ok() {
            let _ = self.settle(Err(Error::Refused(refusal)));
        }
    }

    /// Sends one course (answering `Courses`).
    pub fn send_course(&mut self, row: &CourseRow) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::Rows(Rows::Courses)) {
            return Err(UsageError("no Courses request is being answered"));
        }
        self.engine
            .send(&Message::Staff(StaffMessage::CourseRow(row.clone())))?;
        Ok(())
    }

    /// Sends one student's row (answering `Status`). The row's files must be that student's
    /// submissions to the assignment asked about, and its state `Nothing` exactly when it
    /// has no files; a row of at most a few hundred files fits in one frame.
    pub fn send_status(&mut self, row: &StatusRow) -> Result<(), UsageError> {
        self.live()?;
        let State::Rows(Rows::Status { course, assignment }) = &self.proto.state else {
            return Err(UsageError("no Status request is being answered"));
        };
        if row.files.iter().any(|f| {
            f.student_id != row.student_id || f.course != *course || f.assignment != *assignment
        }) {
            return Err(UsageError(
                "a file of the row is another student's or another assignment's",
            ));
        }
        if (row.state == SubmissionState::Nothing) != row.files.is_empty() {
            return Err(UsageError(
                "a row's state is Nothing exactly when it has no files",
            ));
        }
        self.engine
            .send(&Message::Staff(StaffMessage::StatusRow(row.clone())))?;
        Ok(())
    }

    /// Sends one recorded action (answering `Log`).
    pub fn send_log(&mut self, row: &LogRow) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::Rows(Rows::Log)) {
            return Err(UsageError("no Log request is being answered"));
        }
        self.engine
            .send(&Message::Staff(StaffMessage::LogRow(row.clone())))?;
        Ok(())
    }

    /// Ends the rows of a `Courses`, `Status` or `Log` request.
    pub fn finish_rows(&mut self) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::Rows(_)) {
            return Err(UsageError("no rows are being sent"));
        }
        self.engine
            .send_fixed(&Message::Staff(StaffMessage::RowsEnd));
        self.go_idle();
        Ok(())
    }

    /// Answers a change (`PutAssignment`, `SetOpen`, `Extend`, `Grade`, `Release`; a grade
    /// with a feedback file once its `FeedbackComplete` was stored): it was made. `detail`
    /// says what, for a person to read.
    pub fn done(&mut self, detail: &str) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::Deciding | State::Storing) {
            return Err(UsageError("no change is waiting for an answer"));
        }
        self.engine.send(&Message::Staff(StaffMessage::Done {
            detail: detail.to_owned(),
        }))?;
        self.go_idle();
        Ok(())
    }

    /// Refuses the request being answered (also after some rows were sent, and during or
    /// after a feedback upload, which is then aborted). The connection stays open.
    pub fn refuse(&mut self, refusal: Refusal) -> Result<(), UsageError> {
        self.live()?;
        let state = std::mem::replace(&mut self.proto.state, State::Idle);
        match state {
            State::Rows(_)
            | State::Deciding
            | State::FeedbackOffer(_)
            | State::Storing
            | State::FetchPending(_)
            | State::LogPending => {
                self.engine.send_fixed(&Message::Refused(refusal));
                self.go_idle();
                Ok(())
            }
            State::Receiving { .. } => {
                self.engine.send_fixed(&Message::Refused(refusal.clone()));
                self.events.push_back(StaffServerEvent::FeedbackAborted {
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

    /// Answers the transparency-log request with the object's bytes.
    pub fn send_log_object(&mut self, bytes: &[u8]) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::LogPending) {
            return Err(UsageError("no log request is waiting"));
        }
        crate::logs::send_object(&mut self.engine, bytes);
        self.go_idle();
        Ok(())
    }

    /// Accepts the feedback file of the pending `Grade`: the client starts streaming it.
    pub fn accept_feedback(&mut self) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::FeedbackOffer(_)) {
            return Err(UsageError("no feedback file is waiting"));
        }
        let State::FeedbackOffer(grade) = std::mem::replace(&mut self.proto.state, State::Idle)
        else {
            unreachable!("checked just above");
        };
        self.engine.send_fixed(&Message::Ready);
        self.engine.pause_idle(false);
        self.proto.state = State::Receiving {
            grade,
            received: 0,
            hash: Sha256::new(),
        };
        Ok(())
    }

    /// Starts sending the submission `entry` describes (answering `Fetch`), with its
    /// `receipt`. The entry must be the one asked for, and the receipt must describe it
    /// (identifier, student, course, assignment, file name, size, SHA-256, time received and
    /// version); otherwise nothing is sent, and the request still waits for an answer.
    pub fn start_fetch(
        &mut self,
        entry: &SubmissionEntry,
        receipt: &Receipt,
    ) -> Result<(), UsageError> {
        self.live()?;
        let State::FetchPending(id) = &self.proto.state else {
            return Err(UsageError("no fetch request is waiting"));
        };
        if entry.id != *id {
            return Err(UsageError("that is not the submission asked for"));
        }
        let body = receipt
            .body_unverified()
            .map_err(|_| UsageError("the receipt does not decode"))?;
        if !receipt_describes(&body, entry) {
            return Err(UsageError("the receipt does not describe the submission"));
        }
        self.engine.send(&Message::Staff(StaffMessage::FetchBegin {
            entry: entry.clone(),
            receipt: Bytes::from(receipt.encode()),
        }))?;
        self.proto.state = State::Fetching(Outgoing::new(entry.size));
        Ok(())
    }

    /// Sends the next bytes of the fetched submission. Send at most what the transport can
    /// buffer between two `poll_transmit` calls.
    pub fn send_fetch_data(&mut self, data: &[u8]) -> Result<(), UsageError> {
        self.live()?;
        let State::Fetching(out) = &mut self.proto.state else {
            return Err(UsageError("no fetch is in progress"));
        };
        out.send(&mut self.engine, data)
    }

    /// Ends the fetch; every byte of the submission must have been sent.
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

    fn wait_for_app(&mut self, state: State, request: StaffRequest) {
        self.proto.state = state;
        self.engine.pause_idle(true);
        self.events.push_back(StaffServerEvent::Request(request));
    }

    fn reject(&mut self, refusal: Refusal) {
        self.engine.send_fixed(&Message::Refused(refusal.clone()));
        self.events.push_back(StaffServerEvent::Rejected(refusal));
    }

    fn on_input(&mut self) -> Result<(), Error> {
        if matches!(self.proto.state, State::Handshaking) {
            let Some((person, certificate)) =
                welcome(&mut self.engine, &self.proto.config, authenticate_person)?
            else {
                return Ok(());
            };
            self.proto.person = Some(person.clone());
            self.proto.certificate = Some(certificate.clone());
            self.proto.state = State::Idle;
            self.events.push_back(StaffServerEvent::Connected {
                person,
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
            (State::Idle, Message::Staff(m)) if is_request(&m) => self.on_request(m),
            (State::Idle, Message::GetLog { path }) => match crate::logs::check_log_path(&path) {
                Err(e) => self.reject(Refusal::new(RefusalCode::BadField, e)),
                Ok(_) => {
                    self.proto.state = State::LogPending;
                    self.engine.pause_idle(true);
                    self.events
                        .push_back(StaffServerEvent::LogRequested { path });
                }
            },
            (
                State::Receiving {
                    grade,
                    received,
                    mut hash,
                },
                Message::Data(d),
            ) => {
                let size = grade.feedback.as_ref().map_or(0, |f| f.size);
                let received = received + d.len() as u64;
                if received > size {
                    self.reject(Refusal::new(
                        RefusalCode::SizeMismatch,
                        format!("more bytes than the {size} declared; nothing was stored"),
                    ));
                    self.events.push_back(StaffServerEvent::FeedbackAborted {
                        reason: "more bytes than declared".into(),
                    });
                    self.proto.state = State::Discarding;
                } else {
                    hash.update(&d);
                    self.proto.state = State::Receiving {
                        grade,
                        received,
                        hash,
                    };
                    if !d.is_empty() {
                        self.events.push_back(StaffServerEvent::FeedbackData(d));
                    }
                }
            }
            (
                State::Receiving {
                    grade,
                    received,
                    hash,
                },
                Message::DataEnd,
            ) => {
                let (size, sha) = grade
                    .feedback
                    .as_ref()
                    .map_or((0, [0; 32]), |f| (f.size, f.sha256));
                if received != size {
                    self.feedback_failed(
                        RefusalCode::SizeMismatch,
                        format!("declared {size} bytes but sent {received}; nothing was stored"),
                    );
                } else if hash.finish() != sha {
                    self.feedback_failed(
                        RefusalCode::HashMismatch,
                        "the bytes do not match the declared SHA-256; nothing was stored".into(),
                    );
                } else {
                    self.proto.state = State::Storing;
                    self.engine.pause_idle(true);
                    self.events.push_back(StaffServerEvent::FeedbackComplete {
                        grade,
                        received_at: self.engine.wall(),
                    });
                }
            }
            (State::Discarding, Message::Data(_)) => self.proto.state = State::Discarding,
            (State::Discarding, Message::DataEnd) => self.go_idle(),
            (state, msg) => {
                let why = format!("{} is not expected while {}", msg.name(), state.name());
                self.proto.state = state;
                return Err(self.engine.fail(Error::Protocol(why)));
            }
        }
        Ok(())
    }

    /// A request arrived while idle: checks what needs no records, then hands it over.
    fn on_request(&mut self, m: StaffMessage) {
        let now = crate::pki::unix_secs(self.engine.wall());
        let checked =
            match m {
                StaffMessage::Courses => Ok((State::Rows(Rows::Courses), StaffRequest::Courses)),
                StaffMessage::PutAssignment(spec) => check_assignment(&spec, now)
                    .map(|()| (State::Deciding, StaffRequest::PutAssignment(spec))),
                StaffMessage::SetOpen {
                    course,
                    assignment,
                    open,
                } => check_labels(&course, &assignment).map(|()| {
                    (
                        State::Deciding,
                        StaffRequest::SetOpen {
                            course,
                            assignment,
                            open,
                        },
                    )
                }),
                StaffMessage::Status { course, assignment } => check_labels(&course, &assignment)
                    .map(|()| {
                        (
                            State::Rows(Rows::Status {
                                course: course.clone(),
                                assignment: assignment.clone(),
                            }),
                            StaffRequest::Status { course, assignment },
                        )
                    }),
                StaffMessage::Fetch { id } => match check_submission_id(&id) {
                    Ok(()) => Ok((State::FetchPending(id.clone()), StaffRequest::Fetch { id })),
                    Err(e) => Err(Refusal::new(RefusalCode::BadField, e.0)),
                },
                StaffMessage::Extend {
                    course,
                    assignment,
                    student,
                    due,
                } => check_labels(&course, &assignment)
                    .and_then(|()| parse_student(&student))
                    .and_then(|student| check_time("due time", due).map(|()| student))
                    .map(|student| {
                        (
                            State::Deciding,
                            StaffRequest::Extend {
                                course,
                                assignment,
                                student,
                                due,
                            },
                        )
                    }),
                StaffMessage::Grade {
                    course,
                    assignment,
                    student,
                    score,
                    comment,
                    feedback,
                } => check_labels(&course, &assignment)
                    .and_then(|()| parse_student(&student))
                    .and_then(|student| {
                        check_score(&score)?;
                        check_comment(&comment)?;
                        if let Some(f) = &feedback {
                            check_file_name(&f.file_name)
                                .map_err(|e| Refusal::new(RefusalCode::BadFileName, e.0))?;
                        }
                        Ok(student)
                    })
                    .map(|student| {
                        let grade = GradeSpec {
                            course,
                            assignment,
                            student,
                            score,
                            comment,
                            feedback,
                        };
                        let state = if grade.feedback.is_some() {
                            State::FeedbackOffer(grade.clone())
                        } else {
                            State::Deciding
                        };
                        (state, StaffRequest::Grade(grade))
                    }),
                StaffMessage::Release { course, assignment } => check_labels(&course, &assignment)
                    .map(|()| {
                        (
                            State::Deciding,
                            StaffRequest::Release { course, assignment },
                        )
                    }),
                StaffMessage::Log { course } => match check_label("course", &course) {
                    Ok(()) => Ok((State::Rows(Rows::Log), StaffRequest::Log { course })),
                    Err(e) => Err(Refusal::new(RefusalCode::BadField, e.0)),
                },
                // `is_request` let only requests through.
                other => Err(Refusal::new(
                    RefusalCode::BadRequest,
                    format!("{} is not a request", other.name()),
                )),
            };
        match checked {
            Ok((state, request)) => self.wait_for_app(state, request),
            Err(refusal) => self.reject(refusal),
        }
    }

    /// Whether the caller's certificate still stands (not revoked, not expired); if not, the
    /// connection fails with the refusal saying why.
    fn recheck(&mut self) -> Result<(), Error> {
        let (Some(id), Some(info)) = (&self.proto.person, &self.proto.certificate) else {
            return Ok(());
        };
        match check_standing(id, info, &self.proto.config, self.engine.wall()) {
            Ok(()) => Ok(()),
            Err(r) => Err(self.engine.fail(Error::Refused(r))),
        }
    }

    fn feedback_failed(&mut self, code: RefusalCode, reason: String) {
        self.events.push_back(StaffServerEvent::FeedbackAborted {
            reason: reason.clone(),
        });
        self.reject(Refusal::new(code, reason));
        self.go_idle();
    }
}

/// Whether a staff message is one a client may send as a request.
fn is_request(m: &StaffMessage) -> bool {
    matches!(
        m,
        StaffMessage::Courses
            | StaffMessage::PutAssignment(_)
            | StaffMessage::SetOpen { .. }
            | StaffMessage::Status { .. }
            | StaffMessage::Fetch { .. }
            | StaffMessage::Extend { .. }
            | StaffMessage::Grade { .. }
            | StaffMessage::Release { .. }
            | StaffMessage::Log { .. }
    )
}

fn parse_student(s: &str) -> Result<StudentId, Refusal> {
    StudentId::parse(s).map_err(|_| {
        Refusal::new(
            RefusalCode::BadField,
            format!(
                "{:?} is not a student ID (10 digits)",
                crate::msg::truncate_utf8(s, 40)
            ),
        )
    })
}

/// Whether a receipt's body describes a stored submission. Lateness is left out: an
/// extension granted after the receipt changes the submission's standing, not its receipt.
pub(crate) fn receipt_describes(body: &crate::receipt::ReceiptBody, e: &SubmissionEntry) -> bool {
    body.id == e.id
        && body.student_id == e.student_id
        && body.course == e.course
        && body.assignment == e.assignment
        && body.file_name == e.file_name
        && body.size == e.size
        && body.sha256 == e.sha256
        && body.received_at == e.received_at
        && body.version == e.version
}
