//! Streaming a local file into a connection's upload (a submission, a feedback file): read
//! while the transport keeps up, at most a few hundred KiB queued, so memory does not grow with
//! the file; a progress bar on a terminal.

use crate::error::ErrorKind;
use crate::session::{fail, progress_bar, StudentError};
use handin_core::driver::Progress;
use handin_core::staff::StaffClient;
use handin_core::{SubmitClient, UsageError};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Queue at most this much per round: the transport reports how much it still holds.
const AHEAD: usize = 256 * 1024;

/// A connection that can take an upload's bytes.
pub(crate) trait Uploading {
    fn is_uploading(&self) -> bool;
    fn is_closed(&self) -> bool;
    fn send_data(&mut self, data: &[u8]) -> Result<(), UsageError>;
    fn finish_upload(&mut self) -> Result<(), UsageError>;
}

impl Uploading for SubmitClient {
    fn is_uploading(&self) -> bool {
        SubmitClient::is_uploading(self)
    }
    fn is_closed(&self) -> bool {
        SubmitClient::is_closed(self)
    }
    fn send_data(&mut self, data: &[u8]) -> Result<(), UsageError> {
        SubmitClient::send_data(self, data)
    }
    fn finish_upload(&mut self) -> Result<(), UsageError> {
        SubmitClient::finish_upload(self)
    }
}

impl Uploading for StaffClient {
    fn is_uploading(&self) -> bool {
        StaffClient::is_uploading(self)
    }
    fn is_closed(&self) -> bool {
        StaffClient::is_closed(self)
    }
    fn send_data(&mut self, data: &[u8]) -> Result<(), UsageError> {
        StaffClient::send_data(self, data)
    }
    fn finish_upload(&mut self) -> Result<(), UsageError> {
        StaffClient::finish_upload(self)
    }
}

/// A file on its way up.
pub(crate) struct FileUpload {
    reader: File,
    path: PathBuf,
    buf: Vec<u8>,
    size: u64,
    sent: u64,
    /// When the file was last modified as it was opened: a file changed while it was being
    /// sent is not finished (nothing is stored), whichever way the offer declared its hash.
    modified: Option<std::time::SystemTime>,
    bar: Option<indicatif::ProgressBar>,
}

impl FileUpload {
    /// Opens `path`, whose `size` was declared in the offer; `what` labels the progress bar.
    pub(crate) fn open(path: &Path, size: u64, what: &str) -> Result<Self, StudentError> {
        let reader = File::open(path)
            .map_err(|e| StudentError::file(format!("cannot open {}: {e}", path.display())))?;
        let modified = reader.metadata().and_then(|m| m.modified()).ok();
        Ok(Self {
            reader,
            modified,
            path: path.to_owned(),
            // Whole data frames (each four full TLS records), about 256 KiB.
            buf: vec![0u8; 4 * handin_core::frame::CHUNK],
            size,
            sent: 0,
            bar: progress_bar(size, what),
        })
    }

    /// One round: queues what the transport has room for, and finishes the upload once every
    /// byte is queued, unless the file changed meanwhile (then the upload is left unfinished
    /// and nothing is stored). A streamed offer's bytes are hashed by the connection as they
    /// are sent; a declared offer's are checked by the server against the SHA-256 declared
    /// (HashMismatch if the file changed after it was hashed). An outcome only on failure.
    pub(crate) fn pump<T>(
        &mut self,
        c: &mut impl Uploading,
        progress: Progress,
    ) -> Option<Result<T, StudentError>> {
        let mut budget = AHEAD.saturating_sub(progress.unsent);
        while c.is_uploading() && budget > 0 {
            let want = self.buf.len().min((self.size - self.sent) as usize);
            if want == 0 {
                if self.changed() {
                    // The connection closes unfinished: the server stores nothing.
                    return Some(fail(
                        ErrorKind::File,
                        format!(
                            "{} changed while it was being sent: nothing was stored; send it again",
                            self.path.display()
                        ),
                    ));
                }
                let _ = c.finish_upload();
                break;
            }
            match self.reader.read(&mut self.buf[..want]) {
                Ok(0) => {
                    return Some(fail(
                        ErrorKind::File,
                        format!(
                            "{} shrank while it was being sent: send it again",
                            self.path.display()
                        ),
                    ));
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    self.sent += n as u64;
                    if let Some(b) = &self.bar {
                        b.set_position(self.sent);
                    }
                    if let Err(e) = c.send_data(&self.buf[..n]) {
                        // A connection that just closed is explained by the caller.
                        return (!c.is_closed()).then(|| fail(ErrorKind::Other, e.to_string()));
                    }
                }
                Err(e) => {
                    return Some(fail(
                        ErrorKind::File,
                        format!("cannot read {}: {e}", self.path.display()),
                    ))
                }
            }
        }
        None
    }
}

impl FileUpload {
    /// Whether the file was modified, or its size changed, since it was opened.
    fn changed(&self) -> bool {
        match self.reader.metadata() {
            Ok(m) => m.len() != self.size || m.modified().ok() != self.modified,
            Err(_) => true,
        }
    }
}

impl Drop for FileUpload {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FileUpload;

    #[test]
    fn a_file_modified_after_it_was_opened_is_seen_as_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hw1.txt");
        std::fs::write(&path, b"first draft").expect("write");
        let upload = FileUpload::open(&path, 11, "test").expect("open");
        assert!(!upload.changed());
        // The same size, other bytes, a later modification time.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"final draft").expect("rewrite");
        assert!(upload.changed());
        let grown = FileUpload::open(&path, 5, "test").expect("open");
        assert!(grown.changed(), "a size other than the one offered");
    }
}
