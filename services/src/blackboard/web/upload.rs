//! An upload from the student's page: a multipart form with the page's token and one file.
//!
//! Before any of the body is read, the request must come from Blackboard's own page (its
//! origin) and the offer is admitted by the same rules as a `handin-submit/1` offer (the
//! assignment, the class list, the window, the quota, and the size as far as the body's length
//! tells it). Then the form is read as it arrives: the token must come, and be right, before
//! the file does; the file's bytes go to the disk as they arrive ([`Uploads`]); once the body
//! is complete, the offer takes the file's exact size and SHA-256, is admitted again with
//! them, and goes to the group commit. Anything wrong answers with a page saying what, and
//! nothing is stored.

use super::jobs::Answer;
use super::{guard, pages, WebDone, WebShared};
use crate::blackboard::upload::{Finished, Uploads};
use crate::blackboard::Shared;
use crate::runtime::{Inbox, Pool};
use arc_swap::ArcSwap;
use handin_core::http::multipart::{self, MultipartLimits, MultipartParser, PartEvent};
use handin_core::http::{HttpServer, Request};
use handin_core::msg::UploadOffer;
use handin_core::pki::{PersonId, StudentId};
use handin_core::{Refusal, ServerConfig};
use std::sync::Arc;
use std::time::SystemTime;

/// What a form adds around its file, at most, for the size check made before the body: the
/// exact size is checked once the file is in.
const FORM_OVERHEAD: u64 = 16 * 1024;

/// The most bytes of a form token.
const MAX_TOKEN: usize = 256;

/// The part of the form being read.
enum Part {
    None,
    Token(Vec<u8>),
    File,
    Other,
}

/// An upload from a browser, from its request head to its commit.
pub(super) struct WebUpload {
    student: StudentId,
    course: String,
    assignment: String,
    web: Arc<WebShared>,
    parser: MultipartParser,
    part: Part,
    token_ok: bool,
    file_name: Option<String>,
    ended: bool,
    /// The body is in and the file went to the commit: its answer is [`WebDone::Stored`].
    committing: bool,
}

fn bad(status: u16, message: &str, who: Option<&PersonId>) -> Answer {
    Answer::page(status, pages::error(status, message, who))
}

impl WebUpload {
    /// Checks the request head, and makes the offer to admit before the body is read.
    pub(super) fn start(
        request: &Request,
        student: StudentId,
        course: String,
        assignment: String,
        web: Arc<WebShared>,
    ) -> Result<(Self, UploadOffer), (u16, String)> {
        guard::same_origin(request).map_err(|why| (403, why.to_owned()))?;
        let content_type = request.header("content-type").unwrap_or("");
        let boundary = multipart::boundary(content_type).map_err(|e| (415, e.to_string()))?;
        let offer = UploadOffer {
            course: course.clone(),
            assignment: assignment.clone(),
            file_name: String::new(),
            size: request.content_length.saturating_sub(FORM_OVERHEAD),
            sha256: [0; 32],
        };
        Ok((
            Self {
                student,
                course,
                assignment,
                web,
                parser: MultipartParser::new(boundary, MultipartLimits::default()),
                part: Part::None,
                token_ok: false,
                file_name: None,
                ended: false,
                committing: false,
            },
            offer,
        ))
    }

    /// Whether the body is in and the file went to the commit.
    pub(super) fn committing(&self) -> bool {
        self.committing
    }

    /// The student uploading.
    pub(super) fn student(&self) -> &StudentId {
        &self.student
    }

    fn who(&self) -> PersonId {
        PersonId::Student(self.student.clone())
    }

    /// The offer's verdict: admitted, the body is read; else the refusal's page (the body is
    /// never read, and the connection closes after the answer).
    pub(super) fn admitted(
        &mut self,
        verdict: Result<(), Refusal>,
        core: &mut HttpServer,
        uploads: &mut Uploads<WebDone>,
    ) -> Result<(), Answer> {
        match verdict {
            Ok(()) => {
                uploads.started(true);
                core.read_body()
                    .map_err(|e| bad(500, &e.to_string(), Some(&self.who())))
            }
            Err(r) => Err(Answer::refused(&r, Some(&self.who()))),
        }
    }

    /// The next bytes of the body.
    pub(super) fn body(
        &mut self,
        bytes: &[u8],
        uploads: &mut Uploads<WebDone>,
    ) -> Result<(), Answer> {
        let who = self.who();
        let form = |e: multipart::MultipartError| {
            bad(
                400,
                &format!("The form could not be read: {e}."),
                Some(&who),
            )
        };
        self.parser.feed(bytes).map_err(form)?;
        while let Some(ev) = self.parser.next().map_err(form)? {
            match ev {
                PartEvent::PartStart {
                    name, file_name, ..
                } => {
                    self.part = match (name.as_str(), file_name) {
                        ("token", None) => Part::Token(Vec::new()),
                        ("file", Some(f)) => {
                            if !self.token_ok {
                                return Err(bad(
                                    403,
                                    "This form is out of date or did not come from Blackboard: \
                                     reload the page and submit again.",
                                    Some(&who),
                                ));
                            }
                            if self.file_name.is_some() {
                                return Err(bad(400, "Submit one file at a time.", Some(&who)));
                            }
                            if f.is_empty() {
                                return Err(bad(400, "Choose a file to submit.", Some(&who)));
                            }
                            self.file_name = Some(f);
                            Part::File
                        }
                        _ => Part::Other,
                    };
                }
                PartEvent::Data(b) => match &mut self.part {
                    // A token is a few dozen bytes: anything longer is not one.
                    Part::Token(t) if t.len() + b.len() <= MAX_TOKEN => t.extend_from_slice(&b),
                    Part::Token(_) => self.part = Part::Other,
                    Part::File => uploads.received(&b),
                    Part::None | Part::Other => {}
                },
                PartEvent::PartEnd => {
                    if let Part::Token(t) = &self.part {
                        let token = String::from_utf8_lossy(t);
                        self.token_ok = self.web.key.check(&token, &who, SystemTime::now());
                    }
                    self.part = Part::None;
                }
                PartEvent::End => self.ended = true,
            }
        }
        Ok(())
    }

    /// Hands the file's bytes received so far to the disk.
    pub(super) fn flush(
        &mut self,
        uploads: &mut Uploads<WebDone>,
        pool: &Pool,
        inbox: &Inbox<WebDone>,
    ) {
        uploads.flush(pool, inbox);
    }

    /// The body is complete: the file goes to the commit, measured (its answer comes back as
    /// [`WebDone::Stored`]).
    pub(super) fn finish(
        &mut self,
        uploads: &mut Uploads<WebDone>,
        shared: &Arc<Shared>,
        inbox: &Inbox<WebDone>,
        configs: &Arc<ArcSwap<ServerConfig>>,
        serial: Option<Vec<u8>>,
    ) -> Result<(), Answer> {
        let who = self.who();
        if let Err(e) = self.parser.finish() {
            return Err(bad(
                400,
                &format!("The form could not be read: {e}."),
                Some(&who),
            ));
        }
        let Some(file_name) = self.file_name.clone().filter(|_| self.ended) else {
            return Err(bad(400, "The form held no file.", Some(&who)));
        };
        uploads.flush(&shared.pool, inbox);
        self.committing = true;
        uploads.complete(
            shared,
            inbox,
            configs,
            Finished {
                student: self.student.clone(),
                serial: serial.unwrap_or_default(),
                offer: UploadOffer {
                    course: self.course.clone(),
                    assignment: self.assignment.clone(),
                    file_name,
                    size: 0,
                    sha256: [0; 32],
                },
                received_at: SystemTime::now(),
                measured: true,
            },
        );
        Ok(())
    }
}
