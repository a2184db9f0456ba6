//! The staff client connection.

use super::server::receipt_describes;
use crate::config::{ClientConfig, ConfigError, Role};
use crate::connection::{sealed::Machine, Connection, Protocol};
use crate::engine::{Engine, HandshakeInfo};
use crate::error::{Error, Refusal, UsageError};
use crate::msg::{
    AssignmentSpec, CourseRow, GradeSpec, LogRow, Message, StaffMessage, StatusRow,
    SubmissionEntry, SubmissionState,
};
use crate::pki::{PersonId, StudentId};
use crate::receipt::Receipt;
use crate::submit::Sha256;
use crate::time::Now;
use bytes::Bytes;

/// What a [`StaffClient`] tells the application.
#[non_exhaustive]
#[derive(Debug)]
pub enum StaffClientEvent {
    /// Blackboard authenticated us and sent its Welcome: requests may be made.
    Connected {
        /// The person Blackboard read from our certificate.
        person: PersonId,
        /// Blackboard's clock, seconds since the Unix epoch.
        server_time: u64,
        /// TLS facts for logs.
        handshake: HandshakeInfo,
    },
    /// One of our courses (answering `courses`).
    Course(CourseRow),
    /// One student's row (answering `status`); its files are of the assignment asked about.
    Status(StatusRow),
    /// One recorded action (answering `log`).
    Log(LogRow),
    /// The end of the rows of `courses`, `status` or `log`.
    RowsEnd,
    /// The change was made; what was done, for a person to read.
    Done(String),
    /// The feedback file of our `grade` was accepted: stream it with `send_data`, then
    /// `finish_upload`; then wait for `Done` (or `Refused`).
    Ready,
    /// The fetched submission's description and receipt; its bytes follow. The receipt
    /// describes the entry (checked); verify its signature with
    /// [`Receipt::verify`] and the Blackboard certificate that signed it.
    FetchBegin {
        /// The submission.
        entry: SubmissionEntry,
        /// Its receipt.
        receipt: Receipt,
    },
    /// The next bytes of the fetched submission.
    FetchData(Bytes),
    /// The fetched bytes are complete and match the entry's size and SHA-256.
    FetchEnd,
    /// The request was refused; the connection stays open.
    Refused(Refusal),
    /// The object of Blackboard's transparency log asked for, as served (check it against a
    /// checkpoint before trusting it).
    LogObject(Vec<u8>),
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
    AwaitDone,
    AwaitReady,
    Uploading,
    AwaitFetch(String),
    Fetching(Box<Fetch>),
    AwaitLog,
    LogIncoming(crate::logs::Incoming),
}

/// A fetch in progress: what was described, and what arrived so far.
#[derive(Debug)]
struct Fetch {
    entry: SubmissionEntry,
    received: u64,
    hash: Sha256,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::Handshaking => "waiting for the Welcome",
            Self::Idle => "idle",
            Self::Rows(_) => "receiving rows",
            Self::AwaitDone => "waiting for Done",
            Self::AwaitReady => "waiting for Ready",
            Self::Uploading => "uploading a feedback file",
            Self::AwaitFetch(_) => "waiting for StaffFetchBegin",
            Self::Fetching(_) => "fetching",
            Self::AwaitLog => "waiting for the log object",
            Self::LogIncoming(_) => "receiving a log object",
        }
    }
}

/// The client side of the staff protocol: the parameter of [`StaffClient`].
///
/// Call protocol (besides [`Connection`]'s): `new`, then pump bytes both ways until
/// `poll_event` yields `Connected` (only the Welcome proves Blackboard accepted our
/// certificate). Then one request at a time:
/// - `courses()`, `status(..)`, `log(..)`: `Course`/`Status`/`Log` rows, then `RowsEnd`; or
///   `Refused` (possibly after some rows);
/// - `put_assignment`, `set_open`, `extend`, `release`, and `grade` without a feedback file:
///   `Done` or `Refused`;
/// - `grade` with a feedback file: `Ready` (then `send_data` in pieces, draining
///   `poll_transmit` between them, and `finish_upload`), then `Done` or `Refused`; or
///   `Refused` at once;
/// - `fetch(id)`: `FetchBegin`, `FetchData`*, `FetchEnd`; or `Refused`.
///
/// `close` when done.
#[derive(Debug)]
pub struct StaffClientProtocol {
    state: State,
    person: Option<PersonId>,
}

/// The client side of the staff protocol: a [`Connection`] over [`StaffClientProtocol`].
pub type StaffClient = Connection<StaffClientProtocol>;

impl Protocol for StaffClientProtocol {
    type Event = StaffClientEvent;
}

impl Machine for StaffClientProtocol {
    fn process(conn: &mut StaffClient) -> Result<(), Error> {
        conn.on_input()
    }
}

/// How many idle timeouts the client waits for the answer to a feedback upload: the server
/// may be storing it (fsync) before it answers.
const STORE_PATIENCE: u32 = 5;

impl Connection<StaffClientProtocol> {
    /// A connection to `server` (its DNS name or IP, as in its certificate) starting at `now`.
    /// `config` must be for [`Role::Staff`] and carry the person's identity.
    pub fn new(
        config: &ClientConfig,
        server: rustls::pki_types::ServerName<'static>,
        now: Now,
    ) -> Result<Self, ConfigError> {
        if config.role != Role::Staff {
            return Err(ConfigError(
                "a staff client needs a configuration for Role::Staff".into(),
            ));
        }
        let tls = rustls::ClientConnection::new(config.tls.clone(), server)
            .map_err(|e| ConfigError(format!("TLS client: {e}")))?;
        let mut engine = Engine::new(tls.into(), config.clock.clone(), config.timeouts, now);
        engine.set_touch_on_send();
        Ok(Self::from_parts(
            engine,
            StaffClientProtocol {
                state: State::Handshaking,
                person: None,
            },
        ))
    }

    /// Asks for the courses we are staff of.
    pub fn courses(&mut self) -> Result<(), UsageError> {
        self.request(StaffMessage::Courses, State::Rows(Rows::Courses))
    }

    /// Adds an assignment, or changes its terms.
    pub fn put_assignment(&mut self, spec: &AssignmentSpec) -> Result<(), UsageError> {
        self.request(StaffMessage::PutAssignment(spec.clone()), State::AwaitDone)
    }

    /// Closes (`open: false`) or reopens an assignment.
    pub fn set_open(
        &mut self,
        course: &str,
        assignment: &str,
        open: bool,
    ) -> Result<(), UsageError> {
        self.request(
            StaffMessage::SetOpen {
                course: course.to_owned(),
                assignment: assignment.to_owned(),
                open,
            },
            State::AwaitDone,
        )
    }

    /// Asks for one row per student of an assignment.
    pub fn status(&mut self, course: &str, assignment: &str) -> Result<(), UsageError> {
        self.request(
            StaffMessage::Status {
                course: course.to_owned(),
                assignment: assignment.to_owned(),
            },
            State::Rows(Rows::Status {
                course: course.to_owned(),
                assignment: assignment.to_owned(),
            }),
        )
    }

    /// Fetches one submission (an id from a status row) with its receipt.
    pub fn fetch(&mut self, id: &str) -> Result<(), UsageError> {
        self.request(
            StaffMessage::Fetch { id: id.to_owned() },
            State::AwaitFetch(id.to_owned()),
        )
    }

    /// Gives `student` a due time of their own (seconds since the Unix epoch).
    pub fn extend(
        &mut self,
        course: &str,
        assignment: &str,
        student: &StudentId,
        due: u64,
    ) -> Result<(), UsageError> {
        self.request(
            StaffMessage::Extend {
                course: course.to_owned(),
                assignment: assignment.to_owned(),
                student: student.to_string(),
                due,
            },
            State::AwaitDone,
        )
    }

    /// Grades one student. With a feedback file, wait for `Ready` and upload it.
    pub fn grade(&mut self, grade: &GradeSpec) -> Result<(), UsageError> {
        let next = if grade.feedback.is_some() {
            State::AwaitReady
        } else {
            State::AwaitDone
        };
        self.request(
            StaffMessage::Grade {
                course: grade.course.clone(),
                assignment: grade.assignment.clone(),
                student: grade.student.to_string(),
                score: grade.score.clone(),
                comment: grade.comment.clone(),
                feedback: grade.feedback.clone(),
            },
            next,
        )
    }

    /// Releases an assignment's grades to its students.
    pub fn release(&mut self, course: &str, assignment: &str) -> Result<(), UsageError> {
        self.request(
            StaffMessage::Release {
                course: course.to_owned(),
                assignment: assignment.to_owned(),
            },
            State::AwaitDone,
        )
    }

    /// Asks for a course's record of staff actions.
    pub fn log(&mut self, course: &str) -> Result<(), UsageError> {
        self.request(
            StaffMessage::Log {
                course: course.to_owned(),
            },
            State::Rows(Rows::Log),
        )
    }

    /// Asks for an object of Blackboard's transparency log (`checkpoint`, `vkey` or a tile
    /// path); wait for `LogObject` (or `Refused`).
    pub fn get_log(&mut self, path: &str) -> Result<(), UsageError> {
        self.live()?;
        match self.proto.state {
            State::Idle => {}
            State::Handshaking => return Err(UsageError("wait for Connected before a request")),
            _ => return Err(UsageError("one request at a time")),
        }
        self.engine.send(&Message::GetLog {
            path: path.to_owned(),
        })?;
        self.proto.state = State::AwaitLog;
        Ok(())
    }

    /// Sends the next bytes of the accepted feedback file.
    pub fn send_data(&mut self, data: &[u8]) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::Uploading) {
            return Err(UsageError("no accepted feedback upload is in progress"));
        }
        self.engine.send_data(data);
        Ok(())
    }

    /// Ends the feedback upload; wait for `Done` (or `Refused`).
    pub fn finish_upload(&mut self) -> Result<(), UsageError> {
        self.live()?;
        if !matches!(self.proto.state, State::Uploading) {
            return Err(UsageError("no accepted feedback upload is in progress"));
        }
        self.engine.send_fixed(&Message::DataEnd);
        self.engine.expect_slow_answer(STORE_PATIENCE);
        self.proto.state = State::AwaitDone;
        Ok(())
    }

    /// The person Blackboard authenticated (after `Connected`).
    pub fn person(&self) -> Option<&PersonId> {
        self.proto.person.as_ref()
    }

    /// Whether Blackboard's Welcome arrived (requests may be made once no other is in flight).
    pub fn is_connected(&self) -> bool {
        !matches!(self.proto.state, State::Handshaking) && self.engine.check().is_ok()
    }

    /// Whether a feedback upload is accepted and in progress (`send_data` may be called).
    pub fn is_uploading(&self) -> bool {
        matches!(self.proto.state, State::Uploading) && self.engine.check().is_ok()
    }

    fn request(&mut self, m: StaffMessage, next: State) -> Result<(), UsageError> {
        self.live()?;
        match self.proto.state {
            State::Idle => {}
            State::Handshaking => return Err(UsageError("wait for Connected before a request")),
            _ => return Err(UsageError("one request at a time")),
        }
        self.engine.send(&Message::Staff(m))?;
        self.proto.state = next;
        Ok(())
    }

    fn live(&self) -> Result<(), UsageError> {
        if self.engine.is_closed() {
            return Err(UsageError("the connection is closed"));
        }
        Ok(())
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

    fn protocol(&mut self, why: &str) -> Error {
        self.engine.fail(Error::Protocol(why.to_owned()))
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
                let Some(person) = student_id.and_then(|s| PersonId::parse(&s).ok()) else {
                    return Err(self.protocol("the Welcome names no student or staff login"));
                };
                if self.engine.tls.alpn_protocol() != Some(crate::config::STAFF_ALPN) {
                    return Err(
                        self.protocol("the server did not select the ALPN protocol handin-staff/1")
                    );
                }
                self.engine.handshake_done();
                self.proto.person = Some(person.clone());
                self.events.push_back(StaffClientEvent::Connected {
                    person,
                    server_time,
                    handshake: self.engine.handshake_info(),
                });
            }
            (State::Uploading, Message::Refused(r)) => {
                // Tell the server we stopped; it discards until this DataEnd.
                self.engine.send_fixed(&Message::DataEnd);
                self.events.push_back(StaffClientEvent::Refused(r));
            }
            (
                State::Rows(_)
                | State::AwaitDone
                | State::AwaitReady
                | State::AwaitFetch(_)
                | State::AwaitLog,
                Message::Refused(r),
            ) => self.events.push_back(StaffClientEvent::Refused(r)),
            (State::AwaitLog, Message::Log { size }) => match crate::logs::Incoming::start(size) {
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
                Ok(bytes) => self.events.push_back(StaffClientEvent::LogObject(bytes)),
                Err(why) => return Err(self.engine.fail(Error::Protocol(why))),
            },
            (State::AwaitDone, Message::Staff(StaffMessage::Done { detail })) => {
                self.events.push_back(StaffClientEvent::Done(detail));
            }
            (State::AwaitReady, Message::Ready) => {
                self.proto.state = State::Uploading;
                self.events.push_back(StaffClientEvent::Ready);
            }
            (State::Rows(rows), Message::Staff(m)) => self.on_row(rows, m)?,
            (
                State::AwaitFetch(id),
                Message::Staff(StaffMessage::FetchBegin { entry, receipt }),
            ) => {
                if entry.id != id {
                    return Err(self.protocol(
                        "the server sent a different submission than the one asked for",
                    ));
                }
                let receipt = match Receipt::decode(&receipt) {
                    Ok(r) => r,
                    Err(e) => return Err(self.protocol(&format!("bad receipt: {}", e.0))),
                };
                match receipt.body_unverified() {
                    Ok(body) if receipt_describes(&body, &entry) => {}
                    _ => return Err(self.protocol("the receipt does not describe the submission")),
                }
                self.events.push_back(StaffClientEvent::FetchBegin {
                    entry: entry.clone(),
                    receipt,
                });
                self.proto.state = State::Fetching(Box::new(Fetch {
                    entry,
                    received: 0,
                    hash: Sha256::new(),
                }));
            }
            (State::Fetching(mut fetch), Message::Data(d)) => {
                fetch.received += d.len() as u64;
                if fetch.received > fetch.entry.size {
                    return Err(self.protocol("fetched more bytes than the submission's size"));
                }
                fetch.hash.update(&d);
                self.proto.state = State::Fetching(fetch);
                self.events.push_back(StaffClientEvent::FetchData(d));
            }
            (State::Fetching(fetch), Message::DataEnd) => {
                let Fetch {
                    entry,
                    received,
                    hash,
                } = *fetch;
                if received != entry.size || hash.finish() != entry.sha256 {
                    return Err(self.protocol(
                        "the fetched bytes do not match the submission's size and SHA-256",
                    ));
                }
                self.events.push_back(StaffClientEvent::FetchEnd);
            }
            (state, msg) => {
                let why = format!("{} is not expected while {}", msg.name(), state.name());
                self.proto.state = state;
                return Err(self.engine.fail(Error::Protocol(why)));
            }
        }
        Ok(())
    }

    fn on_row(&mut self, rows: Rows, m: StaffMessage) -> Result<(), Error> {
        match (&rows, m) {
            (_, StaffMessage::RowsEnd) => {
                self.events.push_back(StaffClientEvent::RowsEnd);
                return Ok(());
            }
            (Rows::Courses, StaffMessage::CourseRow(c)) => {
                self.events.push_back(StaffClientEvent::Course(c));
            }
            (Rows::Status { course, assignment }, StaffMessage::StatusRow(r)) => {
                let foreign = r.files.iter().any(|f| {
                    f.student_id != r.student_id
                        || f.course != *course
                        || f.assignment != *assignment
                });
                if foreign {
                    return Err(self.protocol(
                        "a status row holds another student's or another assignment's file",
                    ));
                }
                if (r.state == SubmissionState::Nothing) != r.files.is_empty() {
                    return Err(self.protocol("a status row's state contradicts its files"));
                }
                self.events.push_back(StaffClientEvent::Status(r));
            }
            (Rows::Log, StaffMessage::LogRow(l)) => {
                self.events.push_back(StaffClientEvent::Log(l));
            }
            (_, other) => {
                return Err(self.protocol(&format!(
                    "{} is not expected while receiving rows",
                    other.name()
                )))
            }
        }
        self.proto.state = State::Rows(rows);
        Ok(())
    }
}
