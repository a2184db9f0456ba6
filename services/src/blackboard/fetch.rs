//! Streaming a stored file back (a submission to its owner or its course's staff, a feedback
//! file to its student): one disk read in flight at a time, at most [`FETCH_AHEAD`] bytes read
//! ahead of the socket. The file moves into each read job and comes back with its answer, so
//! it has one owner at a time.

use super::failed;
use crate::runtime::{Inbox, Pool, Promise};
use handin_core::{Refusal, RefusalCode, UsageError};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;

/// Bytes read from disk per step of a fetch.
const FETCH_CHUNK: usize = 4 * handin_core::frame::CHUNK;
/// Keep at most this much of a fetch in memory ahead of the socket.
const FETCH_AHEAD: usize = 512 * 1024;

/// What a read job hands back: the file, and the bytes it read.
pub(super) type Chunk = Result<(File, Vec<u8>), Refusal>;

/// The connection a fetch streams into: a submission or a staff connection.
pub(super) trait Sink {
    /// Queues the next bytes.
    fn send_fetch_data(&mut self, data: &[u8]) -> Result<(), UsageError>;
    /// Ends the stream.
    fn finish_fetch(&mut self) -> Result<(), UsageError>;
}

impl Sink for handin_core::SubmitServer {
    fn send_fetch_data(&mut self, data: &[u8]) -> Result<(), UsageError> {
        handin_core::SubmitServer::send_fetch_data(self, data)
    }
    fn finish_fetch(&mut self) -> Result<(), UsageError> {
        handin_core::SubmitServer::finish_fetch(self)
    }
}

/// The message a connection's jobs send it, able to carry a read's answer.
pub(super) trait ChunkDone: Send + 'static {
    /// The answer of one read job.
    fn chunk(chunk: Chunk) -> Self;
}

/// A fetch in progress.
#[derive(Debug)]
pub(super) struct Fetch {
    /// The file, here between reads; away in the read job while one is in flight.
    file: Option<File>,
    unread: u64,
    ahead: VecDeque<Vec<u8>>,
}

/// What became of a fetch after a step.
pub(super) enum Step {
    /// Still streaming.
    Going,
    /// Finished, or failed: the connection is free again.
    Ended,
}

impl Fetch {
    /// A fetch of `size` bytes from `file`.
    pub(super) fn new(file: File, size: u64) -> Self {
        Self {
            file: Some(file),
            unread: size,
            ahead: VecDeque::new(),
        }
    }

    /// A read came back.
    pub(super) fn read_done(&mut self, file: File, bytes: Vec<u8>) {
        self.file = Some(file);
        self.unread = self.unread.saturating_sub(bytes.len() as u64);
        if !bytes.is_empty() {
            self.ahead.push_back(bytes);
        }
    }

    /// Feeds what was read into the core while the transport has room (`out_len` bytes
    /// waiting to be sent), and keeps one disk read in flight ahead of it; each read's answer
    /// comes back to `inbox`.
    pub(super) fn pump<D: ChunkDone>(
        &mut self,
        core: &mut impl Sink,
        out_len: usize,
        pool: &Pool,
        inbox: &Inbox<D>,
    ) -> Step {
        if out_len < FETCH_AHEAD {
            if let Some(chunk) = self.ahead.pop_front() {
                if core.send_fetch_data(&chunk).is_err() {
                    return Step::Ended;
                }
            }
        }
        let reading = self.file.is_none();
        if self.unread == 0 && self.ahead.is_empty() && !reading {
            let _ = core.finish_fetch();
            return Step::Ended;
        }
        let ahead: usize = self.ahead.iter().map(Vec::len).sum();
        if self.unread > 0 && ahead < FETCH_AHEAD {
            if let Some(mut file) = self.file.take() {
                let want = usize::try_from(self.unread)
                    .unwrap_or(usize::MAX)
                    .min(FETCH_CHUNK);
                let answer = Promise::new(inbox.clone(), || D::chunk(Err(failed())));
                pool.spawn(move || {
                    let mut buf = vec![0; want];
                    let read = match file.read_exact(&mut buf) {
                        Ok(()) => Ok((file, buf)),
                        Err(e) => Err(Refusal::new(
                            RefusalCode::Storage,
                            format!("reading the stored file: {e}"),
                        )),
                    };
                    answer.keep(D::chunk(read));
                });
            }
        }
        Step::Going
    }
}
