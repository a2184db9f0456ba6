//! Blackboard's web pages (`http/1.1` on its port, chosen at the ClientHello beside the two
//! handin protocols): students and staff in a browser, authenticated by the same CUHK
//! certificates as the command line, with the same rules.
//!
//! A [`WebConn`] drives one browser connection over the core's [`HttpServer`]: each request
//! is routed ([`routes`]), answered by a job on the worker pool ([`jobs`], which renders
//! [`pages`] from the [`Board`](crate::board::Board)), and its answer streamed back (a stored
//! file with one disk read in flight, as a fetch is). An upload (a multipart form) goes to the
//! disk through the same [`Uploads`] as a `handin-submit/1` upload, with the same backpressure,
//! and is stored by the same group commit after the same admission rules, checked again on
//! the exact size once the bytes are in. Forms that change something are guarded ([`guard`]).
//!
//! A browser without a certificate gets the page saying how to import one; every other page
//! needs one. A certificate revoked while the browser is connected is refused at its next
//! request (each request checks the revoked set in force).

mod guard;
mod jobs;
mod pages;
mod routes;
mod upload;
mod zip;

pub use guard::FormKey;

/// Most connections one person's browsers may hold at once (a browser opens up to six to one
/// site).
pub const PER_PERSON: usize = 8;

/// The limits of browsers' connections: the protocols' limits, with [`PER_PERSON`] per person.
pub fn browser_limits(limits: super::sessions::Limits) -> super::sessions::Limits {
    super::sessions::Limits {
        per_student: limits.per_student.max(PER_PERSON),
        ..limits
    }
}

use super::fetch::{Chunk, ChunkDone, Fetch, Sink, Step};
use super::sessions::Sessions;
use super::upload::{UploadDone, Uploads};
use super::Shared;
use crate::runtime::{Batcher, Budget, Inbox, Promise};
use arc_swap::ArcSwap;
use handin_core::driver::Notify;
use handin_core::http::{HttpServer, HttpServerEvent, Request, Response};
use handin_core::pki::PersonId;
use handin_core::{Now, Receipt, Refusal, ServerConfig, UsageError};
use jobs::{Answer, Body};
use routes::{NoRoute, Route};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Most bytes of a form that is not an upload (a grade, an extension, a grade sheet).
const FORM_LIMIT: u64 = 1024 * 1024;

/// What the web connections share.
#[derive(Debug)]
pub struct WebShared {
    /// Makes and checks the forms' tokens.
    pub key: FormKey,
}

impl Sink for HttpServer {
    fn send_fetch_data(&mut self, data: &[u8]) -> Result<(), UsageError> {
        self.send_body(data)
    }
    fn finish_fetch(&mut self) -> Result<(), UsageError> {
        self.end_response()
    }
}

/// What a job tells its web connection.
pub(super) enum WebDone {
    /// The answer to the request in flight.
    Answer(Answer),
    /// A read of a file being streamed.
    Chunk(Chunk),
    /// An upload's offer was admitted (or not).
    Offer(Result<(), Refusal>),
    /// Writing an upload failed.
    WriteFailed(Refusal),
    /// An upload was stored (its receipt) or refused.
    Stored(Result<Receipt, Refusal>),
    /// More of a zip is ready.
    Zip(zip::ZipPart),
}

impl ChunkDone for WebDone {
    fn chunk(chunk: Chunk) -> Self {
        Self::Chunk(chunk)
    }
}

impl UploadDone for WebDone {
    fn offer(verdict: Result<(), Refusal>) -> Self {
        Self::Offer(verdict)
    }
    fn write_failed(refusal: Refusal) -> Self {
        Self::WriteFailed(refusal)
    }
    fn stored(outcome: Result<Receipt, Refusal>) -> Self {
        Self::Stored(outcome)
    }
}

/// The request in flight, as far as the connection needs to remember it.
enum Work {
    /// Nothing: waiting for a request.
    Idle,
    /// A job is computing the answer.
    Job,
    /// A form's body is being read.
    Form {
        route: Route,
        request: Request,
        body: Vec<u8>,
    },
    /// An upload: admitted or waiting to be, then its body read.
    Upload(Box<upload::WebUpload>),
    /// A file is streaming out.
    Streaming(Fetch),
    /// A zip is streaming out.
    Zipping(Box<zip::ZipOut>),
}

/// One browser's connection.
pub struct WebConn {
    core: HttpServer,
    configs: Arc<ArcSwap<ServerConfig>>,
    config: Arc<ServerConfig>,
    shared: Arc<Shared>,
    web: Arc<WebShared>,
    uploads: Uploads<WebDone>,
    inbox: Inbox<WebDone>,
    peer: SocketAddr,
    person: Option<PersonId>,
    sessions: Arc<Sessions>,
    /// The key in `sessions`, once the person is admitted.
    session: Option<u64>,
    /// Why the person's connection was turned away (every request is answered so, then it
    /// closes).
    turned_away: Option<Refusal>,
    retire_at: Option<Instant>,
    notify: Notify,
    work: Work,
    held: bool,
    closing: bool,
    logged_end: bool,
}

impl std::fmt::Debug for WebConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConn").field("peer", &self.peer).finish()
    }
}

/// What a web connection is made of, besides its core.
pub(in crate::blackboard) struct WebParts {
    pub(in crate::blackboard) sessions: Arc<Sessions>,
    pub(in crate::blackboard) retire_at: Option<Instant>,
    pub(in crate::blackboard) configs: Arc<ArcSwap<ServerConfig>>,
    pub(in crate::blackboard) shared: Arc<Shared>,
    pub(in crate::blackboard) web: Arc<WebShared>,
    pub(in crate::blackboard) committer: Batcher<super::commit::Pending>,
    pub(in crate::blackboard) budget: Arc<Budget>,
    pub(in crate::blackboard) notify: Notify,
    pub(in crate::blackboard) peer: SocketAddr,
}

impl WebConn {
    pub(in crate::blackboard) fn new(core: HttpServer, parts: WebParts) -> Self {
        Self {
            core,
            config: parts.configs.load_full(),
            configs: parts.configs,
            shared: parts.shared,
            web: parts.web,
            uploads: Uploads::new(parts.committer, parts.budget, parts.notify.clone()),
            inbox: Inbox::new(parts.notify.clone()),
            notify: parts.notify,
            peer: parts.peer,
            person: None,
            sessions: parts.sessions,
            session: None,
            turned_away: None,
            retire_at: parts.retire_at,
            work: Work::Idle,
            held: false,
            closing: false,
            logged_end: false,
        }
    }

    fn process(&mut self) {
        while let Some(ev) = self.core.poll_event() {
            self.on_event(ev);
        }
        if let Work::Upload(up) = &mut self.work {
            up.flush(&mut self.uploads, &self.shared.pool, &self.inbox);
        }
        if self.closing && matches!(self.work, Work::Idle) && !self.core.is_closed() {
            self.core.close();
        }
        if self.core.is_closed() && !self.logged_end {
            self.logged_end = true;
            match self.core.error() {
                Some(e) => tracing::debug!(peer = %self.peer, "web connection ended: {e}"),
                None => tracing::debug!(peer = %self.peer, "web connection closed"),
            }
            self.uploads.close(&self.shared.pool);
        }
    }

    fn on_event(&mut self, ev: HttpServerEvent) {
        match ev {
            HttpServerEvent::Connected {
                person, handshake, ..
            } => {
                tracing::info!(peer = %self.peer, person = ?person.as_ref().map(|p| p.to_string()),
                    version = %handshake.version, resumed = handshake.resumed, "browser connected");
                if let Some(p) = &person {
                    match self.sessions.join(p, self.notify.clone()) {
                        Ok(key) => self.session = Some(key),
                        Err(r) => {
                            tracing::info!(peer = %self.peer, person = %p, reason = %r.reason, "browser turned away");
                            self.turned_away = Some(r);
                        }
                    }
                }
                self.person = person;
            }
            HttpServerEvent::Request(request) => self.on_request(request),
            HttpServerEvent::Body(bytes) => match &mut self.work {
                Work::Form { body, .. } => body.extend_from_slice(&bytes),
                Work::Upload(up) => {
                    if let Err(answer) = up.body(&bytes, &mut self.uploads) {
                        self.fail_upload(answer);
                    }
                }
                _ => {}
            },
            HttpServerEvent::BodyEnd => match std::mem::replace(&mut self.work, Work::Job) {
                Work::Form {
                    route,
                    request,
                    body,
                } => self.on_form(route, &request, &body),
                Work::Upload(mut up) => {
                    let done = up.finish(
                        &mut self.uploads,
                        &self.shared,
                        &self.inbox,
                        &self.configs,
                        self.core.certificate().map(|c| c.serial.clone()),
                    );
                    match done {
                        Ok(()) => self.work = Work::Upload(up),
                        Err(answer) => self.fail_upload(answer),
                    }
                }
                other => self.work = other,
            },
            HttpServerEvent::BodyAborted => {
                if matches!(self.work, Work::Upload(_)) {
                    self.uploads.abort(&self.shared.pool);
                }
                self.work = Work::Idle;
            }
            HttpServerEvent::Refused { status, reason } => {
                tracing::info!(peer = %self.peer, status, %reason, "bad request");
            }
        }
    }

    fn on_request(&mut self, request: Request) {
        tracing::debug!(peer = %self.peer, method = %request.method, path = %request.path, "request");
        let route = match routes::route(&request.method, &request.path) {
            Ok(r) => r,
            Err(NoRoute::NotFound) => return self.error(404, "There is no such page."),
            Err(NoRoute::Method) => return self.error(405, "That is not how this page is used."),
        };
        if let Route::Static(name) = route {
            return self.send_static(name);
        }
        if let Route::Log(path) = route {
            let shared = self.shared.clone();
            return self.job(move || jobs::log_object(&shared, &path));
        }
        if let Some(r) = self.turned_away.clone() {
            self.closing = true;
            return self.answer(Answer::page(
                503,
                pages::error(503, &r.reason, self.person.as_ref()),
            ));
        }
        let Some(who) = self.person.clone() else {
            let status = if route == Route::Home { 200 } else { 403 };
            return self.answer(Answer::page(status, pages::no_certificate()));
        };
        let shared = self.shared.clone();
        let web = self.web.clone();
        match route {
            Route::Home => self.job(move || jobs::home(&shared, &web.key, &who)),
            Route::File(id) => self.job(move || jobs::file(&shared, &who, &id)),
            Route::Receipt(id) => self.job(move || jobs::receipt(&shared, &who, &id)),
            Route::Submitted(id) => self.job(move || jobs::submitted(&shared, &who, &id)),
            Route::Feedback(c, a) => self.job(move || jobs::feedback(&shared, &who, &c, &a)),
            Route::Table(c, a) => {
                self.job(move || jobs::table(&shared, &web.key, &who, &c, &a, None))
            }
            Route::Zip(c, a) => {
                // Making a zip is costly: only Blackboard's own page (or the address typed) asks.
                if request.header("sec-fetch-site") == Some("cross-site") {
                    return self.error(403, "Download the zip from the assignment's page.");
                }
                self.work = Work::Job;
                zip::start(&self.shared, &self.inbox, who, c, a);
            }
            Route::Change(..) => {
                if let Err(why) = guard::same_origin(&request) {
                    return self.error(403, why);
                }
                if request.content_length > FORM_LIMIT {
                    return self.error(413, "The form is too large.");
                }
                if request.content_length == 0 {
                    return self.on_form(route, &request, &[]);
                }
                self.work = Work::Form {
                    route,
                    request,
                    body: Vec::new(),
                };
                // The body arrives as events, handled by the loop this request came from.
                let _ = self.core.read_body();
            }
            Route::Submit(course, assignment) => {
                let PersonId::Student(student) = who else {
                    return self.error(403, "Only students submit homework.");
                };
                if request.content_length == 0 {
                    return self.error(400, "The form held no file.");
                }
                match upload::WebUpload::start(&request, student, course, assignment, web) {
                    Ok((up, offer)) => {
                        let student = up.student().clone();
                        self.work = Work::Upload(Box::new(up));
                        self.uploads
                            .offer(&self.shared, &self.inbox, student, offer, false);
                    }
                    Err((status, why)) => self.error(status, &why),
                }
            }
            Route::Static(_) | Route::Log(_) => {}
        }
    }

    fn on_form(&mut self, route: Route, request: &Request, body: &[u8]) {
        let Some(who) = self.person.clone() else {
            return self.error(403, "Sign in with your certificate first.");
        };
        let content_type = request.header("content-type").unwrap_or("");
        let (fields, sheet) = if content_type.starts_with("multipart/form-data") {
            match guard::multipart_fields(content_type, body) {
                Ok(parts) => {
                    let sheet = parts
                        .iter()
                        .find(|(n, _)| n == "sheet")
                        .map(|(_, v)| v.clone());
                    let fields = parts
                        .into_iter()
                        .filter(|(n, _)| n != "sheet")
                        .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
                        .collect::<Vec<_>>();
                    (fields, sheet)
                }
                Err(e) => return self.error(400, &format!("The form could not be read: {e}.")),
            }
        } else {
            (guard::form_fields(body), None)
        };
        let token = guard::field(&fields, "token").unwrap_or("");
        if !self
            .web
            .key
            .check(token, &who, std::time::SystemTime::now())
        {
            tracing::info!(peer = %self.peer, person = %who, path = %request.path, "form refused: bad or stale token");
            return self.error(
                403,
                "This form is out of date or did not come from Blackboard: reload the page and send it again.",
            );
        }
        let Route::Change(course, assignment, action) = route else {
            return self.error(404, "There is no such form.");
        };
        let shared = self.shared.clone();
        let web = self.web.clone();
        self.job(move || {
            let sheet = sheet.as_deref();
            jobs::change(
                &shared,
                &web.key,
                &who,
                (&course, &assignment),
                action,
                &fields,
                sheet,
            )
        });
    }

    /// Runs `job` on a worker; its answer comes back as [`WebDone::Answer`].
    fn job(&mut self, job: impl FnOnce() -> Answer + Send + 'static) {
        self.work = Work::Job;
        let answer = Promise::new(self.inbox.clone(), || {
            WebDone::Answer(Answer::page(
                500,
                pages::error(500, "Blackboard failed on this page: try again.", None),
            ))
        });
        self.shared
            .pool
            .spawn(move || answer.keep(WebDone::Answer(job())));
    }

    fn error(&mut self, status: u16, message: &str) {
        let page = pages::error(status, message, self.person.as_ref());
        self.answer(Answer::page(status, page));
    }

    fn send_static(&mut self, name: &str) {
        if let Some((_, content_type, text)) = routes::STATIC.iter().find(|(n, _, _)| *n == name) {
            let r = Response::new(200)
                .header("content-type", content_type)
                .header("cache-control", "max-age=3600");
            let _ = self.core.respond(&r, text.as_bytes());
        }
        self.work = Work::Idle;
    }

    /// Sends an answer: a page at once, a file as it is read.
    fn answer(&mut self, answer: Answer) {
        match answer.body {
            Body::Bytes(bytes) => {
                if let Err(e) = self.core.respond(&answer.response, &bytes) {
                    tracing::debug!(peer = %self.peer, error = %e, "answer not sent");
                }
                self.work = Work::Idle;
            }
            Body::File(file, size) => {
                if self
                    .core
                    .start_response(&answer.response, Some(size))
                    .is_ok()
                {
                    self.work = Work::Streaming(Fetch::new(file, size));
                } else {
                    self.work = Work::Idle;
                }
            }
        }
    }

    fn fail_upload(&mut self, answer: Answer) {
        self.uploads.abort(&self.shared.pool);
        self.answer(answer);
    }

    fn on_done(&mut self, done: WebDone) {
        match done {
            WebDone::Answer(a) => self.answer(a),
            WebDone::Chunk(Ok((file, bytes))) => {
                if let Work::Streaming(f) = &mut self.work {
                    f.read_done(file, bytes);
                }
            }
            WebDone::Chunk(Err(r)) => {
                tracing::error!(reason = %r.reason, "reading a file for the web failed");
                self.work = Work::Idle;
                // The answer is under way: the only honest end is to close.
                self.core.close();
            }
            WebDone::Offer(verdict) => {
                if let Work::Upload(up) = &mut self.work {
                    match up.admitted(verdict, &mut self.core, &mut self.uploads) {
                        Ok(()) => {}
                        Err(answer) => self.fail_upload(answer),
                    }
                }
            }
            WebDone::WriteFailed(r) => {
                // Once the body is in, the commit refuses a file that was not written whole,
                // and that refusal is the answer.
                let receiving = matches!(&self.work, Work::Upload(up) if !up.committing());
                if receiving && self.uploads.first_failure() {
                    tracing::warn!(peer = %self.peer, reason = %r.reason, "web upload write failed");
                    self.fail_upload(Answer::refused(&r, self.person.as_ref()));
                }
            }
            WebDone::Stored(_) if !matches!(&self.work, Work::Upload(up) if up.committing()) => {
                // An upload answered already (a write failed): nothing more to say.
            }
            WebDone::Stored(outcome) => {
                let answer = match outcome {
                    Ok(receipt) => match receipt.body_unverified() {
                        Ok(body) => Answer::see_other(&format!("/submitted/{}", body.id)),
                        Err(_) => Answer::see_other("/"),
                    },
                    Err(r) => Answer::refused(&r, self.person.as_ref()),
                };
                self.answer(answer);
            }
            WebDone::Zip(part) => {
                let answer = match std::mem::replace(&mut self.work, Work::Job) {
                    Work::Zipping(mut z) => {
                        z.arrived(part);
                        self.work = Work::Zipping(z);
                        None
                    }
                    _ => zip::first(part, self.person.as_ref()),
                };
                match answer {
                    Some(zip::First::Answer(a)) => self.answer(a),
                    Some(zip::First::Stream(head, z)) => {
                        if self.core.start_response(&head, None).is_ok() {
                            self.work = Work::Zipping(z);
                        } else {
                            self.work = Work::Idle;
                        }
                    }
                    None => {}
                }
            }
        }
    }

    /// Feeds what streams out into the core while the transport has room.
    fn pump(&mut self, out_len: usize) {
        match &mut self.work {
            Work::Streaming(f) => {
                if let Step::Ended = f.pump(&mut self.core, out_len, &self.shared.pool, &self.inbox)
                {
                    self.work = Work::Idle;
                }
            }
            Work::Zipping(z) => {
                if let Step::Ended = z.pump(&mut self.core, out_len, &self.shared.pool, &self.inbox)
                {
                    self.work = Work::Idle;
                }
            }
            _ => {}
        }
    }

    fn refresh_config(&mut self, now: Now) {
        let current = self.configs.load_full();
        if !Arc::ptr_eq(&current, &self.config) {
            self.config = current.clone();
            if self.person.is_some() {
                let _ = self.core.set_config(now, current);
            }
        }
    }
}

impl Drop for WebConn {
    fn drop(&mut self) {
        if let (Some(key), Some(person)) = (self.session, &self.person) {
            self.sessions.leave(person, key);
        }
    }
}

impl super::served::Served for WebConn {
    type Protocol = handin_core::http::HttpServerProtocol;
    type Done = WebDone;

    fn core(&self) -> &HttpServer {
        &self.core
    }
    fn core_mut(&mut self) -> &mut HttpServer {
        &mut self.core
    }
    fn inbox(&self) -> &Inbox<WebDone> {
        &self.inbox
    }
    fn refresh_config(&mut self, now: Now) {
        WebConn::refresh_config(self, now)
    }
    fn retire_at(&self) -> Option<Instant> {
        self.retire_at
    }
    fn retire(&mut self) {
        self.closing = true;
        self.retire_at = None;
    }
    fn process(&mut self) {
        WebConn::process(self)
    }
    fn on_done(&mut self, done: WebDone) {
        WebConn::on_done(self, done)
    }
    fn pump(&mut self, out_len: usize) {
        WebConn::pump(self, out_len)
    }
    fn wants_read(&self) -> bool {
        // One request at a time: what a browser sends behind it waits in the socket (beyond
        // one head's worth here), and an upload's bytes wait while the disk is behind. Before
        // admission and after the body, nothing is consumed: at most a head's worth waits.
        match &self.work {
            Work::Upload(_) => self.uploads.wants_read() && self.core.buffered_input() < 16 * 1024,
            Work::Idle | Work::Form { .. } => true,
            _ => self.core.buffered_input() < 16 * 1024,
        }
    }
    fn held(&mut self) -> &mut bool {
        &mut self.held
    }
    fn close_when_idle(&mut self) {
        self.closing = true;
    }
    fn on_eof(&mut self) {
        // Nobody reads the rest of a download: stop making it.
        if matches!(self.work, Work::Streaming(_) | Work::Zipping(_)) {
            self.work = Work::Idle;
            self.core.close();
        }
    }
}

super::served::served_driven!(WebConn);
