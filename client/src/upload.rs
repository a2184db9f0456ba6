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
    bar: Option<indicatif::ProgressBar>,
}

impl FileUpload {
    /// Opens `path`, whose `size` was declared in the offer; `what` labels the progress bar.
    pub(crate) fn open(path: &Path, size: u64, what: &str) -> Result<Self, StudentError> {
        let reader = File::open(path)
            .map_err(|e| StudentError::file(format!("cannot open {}: {e}", path.display())))?;
        Ok(Self {
            reader,
            path: path.to_owned(),
            buf: vec![0u8; 256 * 1024],
            size,
            sent: 0,
            bar: progress_bar(size, what),
        })
    }

    /// One round: queues what the transport has room for, and finishes the upload once every
    /// byte is queued. The file is not hashed a second time here: the server checks the bytes
    /// against the declared SHA-256 and refuses them (HashMismatch) if the file changed after
    /// it was hashed. An outcome only on failure.
    pub(crate) fn pump<T>(
        &mut self,
        c: &mut impl Uploading,
        progress: Progress,
    ) -> Option<Result<T, StudentError>> {
        let mut budget = AHEAD.saturating_sub(progress.unsent);
        while c.is_uploading() && budget > 0 {
            let want = self.buf.len().min((self.size - self.sent) as usize);
            if want == 0 {
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

impl Drop for FileUpload {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
