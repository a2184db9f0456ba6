//! Blackboard's staff service (`handin-staff/1`): each request of a teacher or TA is checked
//! against the course's staff list ([`Board::authorize`]) and answered from the [`Board`], with
//! every disk and database step on the worker pool, as for students.
//!
//! - rows (`Courses`, `Status`, `Log`) are read on a worker and sent together;
//! - changes (assignments, closing, extensions, grades, releases) are made and logged on a
//!   worker ([`crate::board::course`]);
//! - a fetch streams the stored file with its receipt (signed again from the record: the same
//!   body the student got) through the same [`Fetch`] as a student's;
//! - a feedback file is written by the connection's strand, at most [`FEEDBACK_AHEAD`] bytes
//!   waiting for the disk before the connection stops reading, then made durable, placed in the
//!   blob directory and recorded with its grade.

use super::fetch::{Chunk, ChunkDone, Fetch, Sink, Step};
use super::sessions::Sessions;
use super::{failed, refusal, Shared};
use crate::board::{Actor, AssignmentSpec, BoardError, StudentStatus};
use crate::runtime::{Inbox, Promise, Strand};
use crate::store::{FeedbackFile, Grade, Upload};
use arc_swap::ArcSwap;
use handin_core::driver::Notify;
use handin_core::msg::{CourseRow, GradeSpec, LogRow, StatusRow, SubmissionEntry, SubmissionState};
use handin_core::pki::{unix_secs, PersonId};
use handin_core::rules::current::Standing;
use handin_core::staff::{StaffRequest, StaffServer, StaffServerEvent};
use handin_core::{Now, Receipt, Refusal, RefusalCode, ServerConfig, UsageError};
use std::fs::File;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Bytes of a feedback file waiting for the disk before the connection stops reading.
const FEEDBACK_AHEAD: usize = 4 * 1024 * 1024;

impl Sink for StaffServer {
    fn send_fetch_data(&mut self, data: &[u8]) -> Result<(), UsageError> {
        StaffServer::send_fetch_data(self, data)
    }
    fn finish_fetch(&mut self) -> Result<(), UsageError> {
        StaffServer::finish_fetch(self)
    }
}

/// One row of an answer.
pub(super) enum Row {
    Course(CourseRow),
    Status(StatusRow),
    Log(LogRow),
}

/// What a job tells its staff connection.
pub(super) enum StaffDone {
    Rows(Result<Vec<Row>, Refusal>),
    Changed(Result<String, Refusal>),
    FetchOpened(Result<Box<(SubmissionEntry, Receipt, File)>, Refusal>),
    FetchChunk(Chunk),
    FeedbackAccepted(Result<(), Refusal>),
    LogObject(Result<Vec<u8>, Refusal>),
    FeedbackWritten,
}

impl ChunkDone for StaffDone {
    fn chunk(chunk: Chunk) -> Self {
        Self::FetchChunk(chunk)
    }
}

/// The feedback file being received, owned by the connection's strand.
#[derive(Default)]
struct Feedback {
    upload: Option<Upload>,
    failed: Option<Refusal>,
}

/// One staff member's connection to Blackboard.
pub struct StaffConn {
    core: StaffServer,
    configs: Arc<ArcSwap<ServerConfig>>,
    config: Arc<ServerConfig>,
    sessions: Arc<Sessions>,
    session: Option<(PersonId, u64)>,
    retire_at: Option<Instant>,
    shared: Arc<Shared>,
    inbox: Inbox<StaffDone>,
    notify: Notify,
    strand: Strand<Feedback>,
    /// Feedback bytes handed to the strand and not written yet.
    waiting: Arc<AtomicUsize>,
    held: bool,
    fetch: Option<Fetch>,
    peer: SocketAddr,
    busy: bool,
    closing: bool,
    logged_end: bool,
}

impl std::fmt::Debug for StaffConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffConn")
            .field("peer", &self.peer)
            .finish()
    }
}

/// What a staff connection is made of, besides its core.
pub(super) struct StaffParts {
    pub(super) configs: Arc<ArcSwap<ServerConfig>>,
    pub(super) sessions: Arc<Sessions>,
    pub(super) shared: Arc<Shared>,
    pub(super) notify: Notify,
    pub(super) peer: SocketAddr,
    pub(super) retire_at: Option<Instant>,
}

impl StaffConn {
    pub(super) fn new(core: StaffServer, parts: StaffParts) -> Self {
        let config = parts.configs.load_full();
        Self {
            core,
            configs: parts.configs,
            config,
            sessions: parts.sessions,
            session: None,
            retire_at: parts.retire_at,
            shared: parts.shared,
            inbox: Inbox::new(parts.notify.clone()),
            notify: parts.notify,
            strand: Strand::default(),
            waiting: Arc::new(AtomicUsize::new(0)),
            held: false,
            fetch: None,
            peer: parts.peer,
            busy: false,
            closing: false,
            logged_end: false,
        }
    }

    fn person(&self) -> Option<PersonId> {
        self.core.person().cloned()
    }

    fn process(&mut self) {
        while let Some(ev) = self.core.poll_event() {
            self.on_event(ev);
        }
        if self.closing && !self.busy && !self.core.is_closed() {
            self.core.close();
        }
        if self.core.is_closed() && !self.logged_end {
            self.logged_end = true;
            match self.core.error() {
                Some(e) => {
                    tracing::info!(peer = %self.peer, person = ?self.person().map(|p| p.to_string()), "staff connection ended: {e}")
                }
                None => tracing::debug!(peer = %self.peer, "staff connection closed"),
            }
            self.abort_feedback();
        }
    }

    fn on_event(&mut self, ev: StaffServerEvent) {
        match ev {
            StaffServerEvent::Connected {
                person,
                certificate,
                handshake,
            } => {
                tracing::info!(peer = %self.peer, %person, subject = %certificate.subject,
                    version = %handshake.version, resumed = handshake.resumed, "staff authenticated");
                match self.sessions.join(&person, self.notify.clone()) {
                    Ok(key) => self.session = Some((person, key)),
                    Err(r) => {
                        tracing::info!(peer = %self.peer, %person, reason = %r.reason, "connection turned away");
                        self.core.disconnect(r);
                    }
                }
            }
            StaffServerEvent::Request(request) => {
                let Some(person) = self.person() else { return };
                tracing::info!(peer = %self.peer, %person, request = request.name(), course = ?request.course(), "staff request");
                self.busy = true;
                self.answer(person, request);
            }
            StaffServerEvent::FeedbackData(bytes) => {
                let n = bytes.len();
                self.waiting.fetch_add(n, Ordering::AcqRel);
                let waiting = self.waiting.clone();
                let inbox = self.inbox.clone();
                self.strand
                    .run(&self.shared.pool, move |fb: &mut Feedback| {
                        if fb.failed.is_none() {
                            if let Some(up) = fb.upload.as_mut() {
                                if let Err(e) = up.write(&bytes) {
                                    fb.failed = Some(refusal(crate::board::io_refusal(e)));
                                }
                            }
                        }
                        waiting.fetch_sub(n, Ordering::AcqRel);
                        inbox.post(StaffDone::FeedbackWritten);
                    });
            }
            StaffServerEvent::FeedbackComplete { grade, received_at } => {
                let Some(person) = self.person() else { return };
                let shared = self.shared.clone();
                let answer = Promise::new(self.inbox.clone(), || StaffDone::Changed(Err(failed())));
                self.strand
                    .run(&self.shared.pool, move |fb: &mut Feedback| {
                        let result = store_feedback(&shared, fb, &person, &grade, received_at);
                        answer.keep(StaffDone::Changed(result));
                    });
            }
            StaffServerEvent::FeedbackAborted { reason } => {
                tracing::info!(peer = %self.peer, %reason, "feedback upload aborted");
                self.busy = false;
                self.abort_feedback();
            }
            StaffServerEvent::LogRequested { path } => {
                self.busy = true;
                let shared = self.shared.clone();
                let answer =
                    Promise::new(self.inbox.clone(), || StaffDone::LogObject(Err(failed())));
                self.shared.pool.spawn(move || {
                    let object = super::logs::object(&shared, &path).map(|(bytes, _)| bytes);
                    answer.keep(StaffDone::LogObject(object));
                });
            }
            StaffServerEvent::Rejected(r) => {
                tracing::info!(peer = %self.peer, code = ?r.code, reason = %r.reason, "staff request refused");
            }
            _ => {}
        }
    }

    fn abort_feedback(&self) {
        self.strand.run(&self.shared.pool, |fb: &mut Feedback| {
            if let Some(up) = fb.upload.take() {
                up.abort();
            }
            fb.failed = None;
        });
    }

    /// Starts the job answering `request` from `person`.
    fn answer(&mut self, person: PersonId, request: StaffRequest) {
        let shared = self.shared.clone();
        let now = SystemTime::now();
        match request {
            StaffRequest::Courses => self.rows(move || {
                let courses = shared.board.courses_of(&person).map_err(refusal)?;
                Ok(courses
                    .into_iter()
                    .map(|c| {
                        Row::Course(CourseRow {
                            course: c.course,
                            title: c.title,
                        })
                    })
                    .collect())
            }),
            StaffRequest::Status { course, assignment } => self.rows(move || {
                shared.board.authorize(&person, &course).map_err(refusal)?;
                let rows = shared.board.status(&course, &assignment).map_err(refusal)?;
                Ok(rows.iter().map(|s| Row::Status(status_row(s))).collect())
            }),
            StaffRequest::Log { course } => self.rows(move || {
                shared.board.authorize(&person, &course).map_err(refusal)?;
                let log = shared.board.log(&course).map_err(refusal)?;
                Ok(log
                    .into_iter()
                    .map(|e| {
                        Row::Log(LogRow {
                            at: unix_secs(e.at),
                            actor: e.actor,
                            action: e.action,
                            student: e.student,
                            detail: e.detail,
                        })
                    })
                    .collect())
            }),
            StaffRequest::PutAssignment(a) => self.change(move || {
                let spec = AssignmentSpec {
                    course: a.course.clone(),
                    assignment: a.assignment.clone(),
                    due: at(a.due),
                    max_size: a.max_size,
                    cutoff: a.cutoff.map(at),
                    grace: Duration::from_secs(a.grace_secs),
                };
                shared
                    .board
                    .put_assignment(&spec, a.allow_past, &Actor::Staff(person), now)?;
                Ok(format!("{}/{} saved", a.course, a.assignment))
            }),
            StaffRequest::SetOpen {
                course,
                assignment,
                open,
            } => self.change(move || {
                shared
                    .board
                    .set_open(&course, &assignment, open, &Actor::Staff(person), now)?;
                Ok(format!(
                    "{course}/{assignment} {}",
                    if open { "reopened" } else { "closed" }
                ))
            }),
            StaffRequest::Extend {
                course,
                assignment,
                student,
                due,
            } => self.change(move || {
                let actor = Actor::Staff(person);
                shared
                    .board
                    .extend(&course, &assignment, &student, at(due), &actor, now)?;
                Ok(format!(
                    "{student} is due {} for {course}/{assignment}",
                    handin_core::pki::rfc3339(at(due))
                ))
            }),
            StaffRequest::Release { course, assignment } => self.change(move || {
                shared
                    .board
                    .release(&course, &assignment, &Actor::Staff(person), now)?;
                Ok(format!("grades of {course}/{assignment} released"))
            }),
            StaffRequest::Grade(g) if g.feedback.is_none() => self.change(move || {
                let grade = grade_record(&g, None);
                shared.board.grade(&grade, &Actor::Staff(person), now)?;
                Ok(format!("{} graded {}", g.student, g.score))
            }),
            StaffRequest::Grade(g) => {
                // Check the authority and the assignment before taking the file.
                let answer = Promise::new(self.inbox.clone(), || {
                    StaffDone::FeedbackAccepted(Err(failed()))
                });
                self.strand
                    .run(&self.shared.pool, move |fb: &mut Feedback| {
                        let r = (|| {
                            shared.board.authorize(&person, &g.course)?;
                            if shared.board.assignment(&g.course, &g.assignment)?.is_none() {
                                return Err(BoardError::Refused(Refusal::new(
                                    RefusalCode::NoSuchAssignment,
                                    format!(
                                        "there is no assignment {} in course {}",
                                        g.assignment, g.course
                                    ),
                                )));
                            }
                            fb.failed = None;
                            fb.upload = Some(shared.board.begin_upload()?);
                            Ok(())
                        })();
                        answer.keep(StaffDone::FeedbackAccepted(r.map_err(refusal)));
                    });
            }
            StaffRequest::Fetch { id } => {
                let answer =
                    Promise::new(self.inbox.clone(), || StaffDone::FetchOpened(Err(failed())));
                self.shared.pool.spawn(move || {
                    answer.keep(StaffDone::FetchOpened(
                        open_for_staff(&shared, &person, &id).map(Box::new),
                    ));
                });
            }
            _ => {
                let _ = self.core.refuse(Refusal::new(
                    RefusalCode::BadRequest,
                    "this server does not know that request",
                ));
                self.busy = false;
            }
        }
    }

    fn rows(&self, job: impl FnOnce() -> Result<Vec<Row>, Refusal> + Send + 'static) {
        let answer = Promise::new(self.inbox.clone(), || StaffDone::Rows(Err(failed())));
        self.shared
            .pool
            .spawn(move || answer.keep(StaffDone::Rows(job())));
    }

    fn change(&self, job: impl FnOnce() -> Result<String, BoardError> + Send + 'static) {
        let answer = Promise::new(self.inbox.clone(), || StaffDone::Changed(Err(failed())));
        self.shared
            .pool
            .spawn(move || answer.keep(StaffDone::Changed(job().map_err(refusal))));
    }

    fn on_done(&mut self, done: StaffDone) {
        match done {
            StaffDone::Rows(Ok(rows)) => {
                self.busy = false;
                for row in &rows {
                    let sent = match row {
                        Row::Course(c) => self.core.send_course(c),
                        Row::Status(s) => self.core.send_status(s),
                        Row::Log(l) => self.core.send_log(l),
                    };
                    if let Err(e) = sent {
                        tracing::error!(error = %e, "a row was not sent");
                    }
                }
                let _ = self.core.finish_rows();
            }
            StaffDone::Changed(Ok(detail)) => {
                self.busy = false;
                let _ = self.core.done(&detail);
            }
            StaffDone::Rows(Err(r))
            | StaffDone::Changed(Err(r))
            | StaffDone::FetchOpened(Err(r))
            | StaffDone::FeedbackAccepted(Err(r))
            | StaffDone::LogObject(Err(r)) => {
                self.busy = false;
                let _ = self.core.refuse(r);
            }
            StaffDone::LogObject(Ok(bytes)) => {
                self.busy = false;
                let _ = self.core.send_log_object(&bytes);
            }
            StaffDone::FeedbackAccepted(Ok(())) => {
                if self.core.accept_feedback().is_err() {
                    self.busy = false;
                    self.abort_feedback();
                }
            }
            StaffDone::FeedbackWritten => {}
            StaffDone::FetchOpened(Ok(opened)) => {
                let (entry, receipt, file) = *opened;
                if self.core.start_fetch(&entry, &receipt).is_ok() {
                    self.fetch = Some(Fetch::new(file, entry.size));
                } else {
                    self.busy = false;
                }
            }
            StaffDone::FetchChunk(Ok((file, bytes))) => {
                if let Some(f) = self.fetch.as_mut() {
                    f.read_done(file, bytes);
                }
            }
            StaffDone::FetchChunk(Err(r)) => {
                tracing::error!(reason = %r.reason, "fetch read failed");
                self.fetch = None;
                self.busy = false;
                self.core.close();
            }
        }
    }

    fn pump_fetch(&mut self, out_len: usize) {
        let Some(f) = self.fetch.as_mut() else { return };
        if let Step::Ended = f.pump(&mut self.core, out_len, &self.shared.pool, &self.inbox) {
            self.fetch = None;
            self.busy = false;
        }
    }

    fn refresh_config(&mut self, now: Now) {
        let current = self.configs.load_full();
        if !Arc::ptr_eq(&current, &self.config) {
            self.config = current.clone();
            if self.core.person().is_some() {
                let _ = self.core.set_config(now, current);
            }
        }
    }
}

/// A status row on the wire.
fn status_row(s: &StudentStatus) -> StatusRow {
    StatusRow {
        student_id: s.student.as_str().to_owned(),
        on_class_list: s.on_class_list,
        due_at: unix_secs(s.due),
        extended: s.extended,
        state: match s.standing {
            Standing::Nothing => SubmissionState::Nothing,
            Standing::OnTime => SubmissionState::OnTime,
            Standing::Late => SubmissionState::Late,
        },
        files: s.files.iter().map(SubmissionEntry::from).collect(),
        committed_at: s.committed_at.map(unix_secs),
    }
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn grade_record(g: &GradeSpec, feedback: Option<FeedbackFile>) -> Grade {
    Grade {
        course: g.course.clone(),
        assignment: g.assignment.clone(),
        student: g.student.clone(),
        score: g.score.clone(),
        comment: g.comment.clone(),
        feedback,
        graded_by: String::new(),
        graded_at: SystemTime::now(),
    }
}

/// A submission and its receipt for a member of its course's staff.
fn open_for_staff(
    shared: &Shared,
    person: &PersonId,
    id: &str,
) -> Result<(SubmissionEntry, Receipt, File), Refusal> {
    let not_found = || {
        Refusal::new(
            RefusalCode::NotFound,
            format!("there is no submission {id}"),
        )
    };
    let found = shared
        .board
        .find_any(id)
        .map_err(refusal)?
        .ok_or_else(not_found)?;
    // Someone who is not staff of its course learns only that there is no such submission.
    shared
        .board
        .authorize(person, &found.course)
        .map_err(|_| not_found())?;
    let receipt = shared
        .board
        .receipt(&shared.signer, &found, None)
        .map_err(|e| {
            tracing::error!(error = %e, "cannot sign a receipt");
            Refusal::new(
                RefusalCode::Internal,
                "Blackboard could not sign the receipt",
            )
        })?;
    let file = shared.board.open_blob(&found).map_err(|e| {
        tracing::error!(path = %shared.board.blobs().path(&found.id).display(), error = %e, "stored submission unreadable");
        Refusal::new(RefusalCode::Storage, "the stored file cannot be read")
    })?;
    Ok((SubmissionEntry::from(&found), receipt, file))
}

/// Makes a received feedback file durable, places it as a blob and records its grade.
fn store_feedback(
    shared: &Shared,
    fb: &mut Feedback,
    person: &PersonId,
    g: &GradeSpec,
    received_at: SystemTime,
) -> Result<String, Refusal> {
    if let Some(r) = fb.failed.take() {
        if let Some(up) = fb.upload.take() {
            up.abort();
        }
        return Err(r);
    }
    let Some(mut upload) = fb.upload.take() else {
        return Err(failed());
    };
    let Some(declared) = g.feedback.as_ref() else {
        upload.abort();
        return Err(failed());
    };
    let blobs = shared.board.blobs();
    let placed = (|| {
        if upload.written() != declared.size || upload.sha256() != Some(declared.sha256) {
            return Err(Refusal::new(
                RefusalCode::HashMismatch,
                "the feedback file written does not match its size and SHA-256; send it again",
            ));
        }
        let io = |e| refusal(crate::board::io_refusal(e));
        upload.sync_data().map_err(io)?;
        let id = blobs.fresh_id().map_err(io)?;
        blobs.place(&mut upload, &id).map_err(io)?;
        blobs.sync().map_err(io)?;
        Ok(id)
    })();
    let id = match placed {
        Ok(id) => id,
        Err(r) => {
            upload.abort();
            return Err(r);
        }
    };
    let file = FeedbackFile {
        id: id.clone(),
        file_name: declared.file_name.clone(),
        size: declared.size,
        sha256: declared.sha256,
    };
    let grade = grade_record(g, Some(file));
    if let Err(e) = shared
        .board
        .grade(&grade, &Actor::Staff(person.clone()), received_at)
    {
        // Not recorded: its file must not stay behind.
        let _ = blobs.remove(&id);
        return Err(refusal(e));
    }
    Ok(format!(
        "{} graded {} with feedback file {:?}",
        g.student, g.score, declared.file_name
    ))
}

impl Drop for StaffConn {
    fn drop(&mut self) {
        if let Some((person, key)) = &self.session {
            self.sessions.leave(person, *key);
        }
    }
}

impl super::served::Served for StaffConn {
    type Protocol = handin_core::staff::StaffServerProtocol;
    type Done = StaffDone;

    fn core(&self) -> &StaffServer {
        &self.core
    }
    fn core_mut(&mut self) -> &mut StaffServer {
        &mut self.core
    }
    fn inbox(&self) -> &Inbox<StaffDone> {
        &self.inbox
    }
    fn refresh_config(&mut self, now: Now) {
        StaffConn::refresh_config(self, now)
    }
    fn retire_at(&self) -> Option<Instant> {
        self.retire_at
    }
    fn retire(&mut self) {
        self.closing = true;
        self.retire_at = None;
    }
    fn process(&mut self) {
        StaffConn::process(self)
    }
    fn on_done(&mut self, done: StaffDone) {
        StaffConn::on_done(self, done)
    }
    fn pump(&mut self, out_len: usize) {
        self.pump_fetch(out_len)
    }
    fn wants_read(&self) -> bool {
        self.waiting.load(Ordering::Acquire) < FEEDBACK_AHEAD
    }
    fn held(&mut self) -> &mut bool {
        &mut self.held
    }
    fn close_when_idle(&mut self) {
        self.closing = true;
    }
}

super::served::served_driven!(StaffConn);
