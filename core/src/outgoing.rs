//! A file a server streams to its client (a fetched submission, a feedback file): `Data`
//! frames of at most one chunk each, never more bytes than announced, then `DataEnd` once every
//! announced byte was sent. Both servers that stream use this one accounting.

use crate::engine::Engine;
use crate::error::UsageError;
use crate::msg::Message;

/// The bytes announced for a stream, and those sent so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outgoing {
    size: u64,
    sent: u64,
}

impl Outgoing {
    /// A stream of `size` bytes, none sent yet (its description already went out).
    pub(crate) fn new(size: u64) -> Self {
        Self { size, sent: 0 }
    }

    /// Queues the next bytes as `Data` frames.
    pub(crate) fn send(&mut self, engine: &mut Engine, data: &[u8]) -> Result<(), UsageError> {
        if self.sent + data.len() as u64 > self.size {
            return Err(UsageError("more bytes than the submission's size"));
        }
        self.sent += data.len() as u64;
        engine.send_data(data);
        Ok(())
    }

    /// Queues `DataEnd`; every announced byte must have been sent.
    pub(crate) fn finish(&self, engine: &mut Engine) -> Result<(), UsageError> {
        if self.size != self.sent {
            return Err(UsageError("fewer bytes sent than the submission's size"));
        }
        engine.send_fixed(&Message::DataEnd);
        Ok(())
    }
}
