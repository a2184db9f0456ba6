//! "Download every current submission": one zip of an assignment's current files
//! (`STUDENT_ID/FILE_NAME`, the same selection as `staff collect`: the latest version of each
//! file name), streamed as it is made. Memory stays bounded whatever the sizes: one disk read
//! of [`READ_CHUNK`] in flight, at most [`AHEAD`] bytes waiting for the socket, and the zip's
//! central directory (a name and a few numbers per file).

use super::jobs::Answer;
use super::WebDone;
use crate::blackboard::fetch::Step;
use crate::blackboard::{refusal, Shared};
use crate::runtime::{Inbox, Pool, Promise};
use crate::store::StoredSubmission;
use crate::zip_stream::ZipStream;
use handin_core::http::{HttpServer, Response};
use handin_core::pki::PersonId;
use handin_core::{Refusal, RefusalCode};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::sync::Arc;

/// Bytes read from disk per step.
const READ_CHUNK: usize = 256 * 1024;
/// Stop making more while this many bytes wait for the socket.
const AHEAD: usize = 512 * 1024;

/// What the zip's jobs send back.
pub(in crate::blackboard) enum ZipPart {
    /// The files to put in it, or why not.
    Listed(Result<Listed, Refusal>),
    /// The next bytes of the file being added (the file comes back with them).
    Read(Result<(File, Vec<u8>), Refusal>),
}

/// The files of an assignment's zip.
pub(in crate::blackboard) struct Listed {
    name: String,
    files: Vec<StoredSubmission>,
    shared: Arc<Shared>,
}

/// What the first answer of a zip request is.
pub(super) enum First {
    /// A refusal (not staff, no such assignment).
    Answer(Answer),
    /// The head to send, and the zip to stream after it.
    Stream(Response, Box<ZipOut>),
}

/// Lists the current files of `course`/`assignment` for `who` (staff of it) on a worker.
pub(super) fn start(
    shared: &Arc<Shared>,
    inbox: &Inbox<WebDone>,
    who: PersonId,
    course: String,
    assignment: String,
) {
    let job_shared = shared.clone();
    let answer = Promise::new(inbox.clone(), || {
        WebDone::Zip(ZipPart::Listed(Err(crate::blackboard::failed())))
    });
    shared.pool.spawn(move || {
        let listed = (|| {
            job_shared.board.authorize(&who, &course)?;
            let rows = job_shared.board.status(&course, &assignment)?;
            Ok(Listed {
                name: format!("{course}-{assignment}.zip"),
                files: rows.into_iter().flat_map(|r| r.files).collect(),
                shared: job_shared.clone(),
            })
        })()
        .map_err(refusal);
        answer.keep(WebDone::Zip(ZipPart::Listed(listed)));
    });
}

/// The answer to a zip request once its files are listed.
pub(super) fn first(part: ZipPart, who: Option<&PersonId>) -> Option<First> {
    match part {
        ZipPart::Listed(Ok(listed)) => {
            tracing::info!(zip = %listed.name, files = listed.files.len(), "zip download");
            let head = Response::new(200)
                .header("content-type", "application/zip")
                .header(
                    "content-disposition",
                    &format!("attachment; filename=\"{}\"", listed.name),
                );
            Some(First::Stream(head, Box::new(ZipOut::new(listed))))
        }
        ZipPart::Listed(Err(r)) => Some(First::Answer(Answer::refused(&r, who))),
        ZipPart::Read(_) => None,
    }
}

/// A zip being streamed.
pub(in crate::blackboard) struct ZipOut {
    zip: Option<ZipStream>,
    files: VecDeque<StoredSubmission>,
    shared: Arc<Shared>,
    /// The file being added: here between reads, away while one is in flight.
    file: Option<File>,
    /// Bytes of the file being added not read yet (`None`: no file is being added).
    unread: Option<u64>,
    reading: bool,
    /// Zip bytes made and not yet handed to the connection.
    out: Vec<u8>,
    failed: bool,
}

impl ZipOut {
    fn new(listed: Listed) -> Self {
        Self {
            zip: Some(ZipStream::new()),
            files: listed.files.into(),
            shared: listed.shared,
            file: None,
            unread: None,
            reading: false,
            out: Vec::new(),
            failed: false,
        }
    }

    /// A read came back.
    pub(super) fn arrived(&mut self, part: ZipPart) {
        self.reading = false;
        match part {
            ZipPart::Read(Ok((file, bytes))) => {
                if let Some(zip) = self.zip.as_mut() {
                    if zip.data(&bytes, &mut self.out).is_err() {
                        self.failed = true;
                    }
                }
                self.unread = self.unread.map(|u| u.saturating_sub(bytes.len() as u64));
                self.file = Some(file);
            }
            ZipPart::Read(Err(r)) => {
                tracing::error!(reason = %r.reason, "reading a file for a zip failed");
                self.failed = true;
            }
            ZipPart::Listed(_) => {}
        }
    }

    /// Hands what is made to the connection while it has room, and makes more.
    pub(super) fn pump(
        &mut self,
        core: &mut HttpServer,
        out_len: usize,
        pool: &Pool,
        inbox: &Inbox<WebDone>,
    ) -> Step {
        let mut waiting = out_len;
        loop {
            if self.failed {
                // The answer is under way: the only honest end is to close.
                core.close();
                return Step::Ended;
            }
            if !self.out.is_empty() {
                if waiting >= AHEAD {
                    return Step::Going;
                }
                if core.send_body(&self.out).is_err() {
                    return Step::Ended;
                }
                waiting += self.out.len();
                self.out.clear();
            }
            if self.reading {
                return Step::Going;
            }
            match self.unread {
                Some(0) => {
                    self.file = None;
                    self.unread = None;
                    if let Some(zip) = self.zip.as_mut() {
                        if zip.end_entry(&mut self.out).is_err() {
                            self.failed = true;
                        }
                    }
                }
                Some(left) => {
                    self.read_next(left, pool, inbox);
                    return Step::Going;
                }
                None => match self.files.pop_front() {
                    Some(f) => self.open(f, pool, inbox),
                    None => {
                        if let Some(zip) = self.zip.take() {
                            if zip.finish(&mut self.out).is_err() {
                                self.failed = true;
                                continue;
                            }
                            let sent = core.send_body(&self.out).and_then(|()| core.end_response());
                            self.out.clear();
                            if sent.is_err() {
                                core.close();
                            }
                        }
                        return Step::Ended;
                    }
                },
            }
        }
    }

    /// Starts the entry of `f` and opens its file on a worker, with its first read.
    fn open(&mut self, f: StoredSubmission, pool: &Pool, inbox: &Inbox<WebDone>) {
        let name = format!("{}/{}", f.student, f.file_name);
        let Some(zip) = self.zip.as_mut() else { return };
        if let Err(e) = zip.start_entry(&name, f.received_at, &mut self.out) {
            tracing::error!(%name, error = %e, "a file could not be put in the zip");
            self.failed = true;
            return;
        }
        self.unread = Some(f.size);
        self.reading = true;
        let shared = self.shared.clone();
        let size = f.size;
        let answer = Promise::new(inbox.clone(), broken);
        pool.spawn(move || {
            let read = shared
                .board
                .open_blob(&f)
                .map_err(|e| {
                    tracing::error!(path = %shared.board.blobs().path(&f.id).display(), error = %e, "stored submission unreadable");
                    Refusal::new(RefusalCode::Storage, "a stored file cannot be read")
                })
                .and_then(|file| read_chunk(file, size));
            answer.keep(WebDone::Zip(ZipPart::Read(read)));
        });
    }

    fn read_next(&mut self, left: u64, pool: &Pool, inbox: &Inbox<WebDone>) {
        let Some(file) = self.file.take() else { return };
        self.reading = true;
        let answer = Promise::new(inbox.clone(), broken);
        pool.spawn(move || answer.keep(WebDone::Zip(ZipPart::Read(read_chunk(file, left)))));
    }
}

fn broken() -> WebDone {
    WebDone::Zip(ZipPart::Read(Err(crate::blackboard::failed())))
}

/// Reads the next chunk (at most `left` bytes) of `file`.
fn read_chunk(mut file: File, left: u64) -> Result<(File, Vec<u8>), Refusal> {
    let want = usize::try_from(left).unwrap_or(usize::MAX).min(READ_CHUNK);
    let mut buf = vec![0; want];
    file.read_exact(&mut buf)
        .map_err(|e| Refusal::new(RefusalCode::Storage, format!("reading a stored file: {e}")))?;
    Ok((file, buf))
}
