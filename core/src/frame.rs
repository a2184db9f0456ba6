//! Framing: `type (u8) | length (u32, big-endian) | payload`, with a hard payload limit.
//!
//! The decoder never allocates more than one frame's worth beyond what it was given, and refuses
//! an oversized frame as soon as its header arrives.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes in a frame header: one type byte and a four-byte length.
pub const HEADER_LEN: usize = 5;
/// The largest payload a frame may carry.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// The largest data chunk a sender puts in one `Data` frame: the frame, header included, fills
/// exactly four TLS records of 16 KiB, so no record carries a frame's few leftover bytes.
pub const CHUNK: usize = 4 * 16 * 1024 - HEADER_LEN;

/// A framing error: fatal for the connection.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A frame header announced more than [`MAX_PAYLOAD`] bytes.
    #[error("frame of {len} bytes exceeds the limit of {MAX_PAYLOAD}")]
    Oversized {
        /// The announced payload length.
        len: u32,
    },
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame ({have} bytes of it received)")]
    Truncated {
        /// Bytes of the unfinished frame that did arrive.
        have: usize,
    },
}

/// One frame: its type tag and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message type tag.
    pub kind: u8,
    /// The payload.
    pub payload: Bytes,
}

/// Appends one frame to `out`. A payload over [`MAX_PAYLOAD`] is refused, appending nothing.
pub fn encode_frame(kind: u8, payload: &[u8], out: &mut BytesMut) -> Result<(), FrameError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(FrameError::Oversized {
            len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
        });
    }
    out.reserve(HEADER_LEN + payload.len());
    out.put_u8(kind);
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
    Ok(())
}

/// An incremental frame decoder: push bytes in any split, pull whole frames out.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
}

impl FrameDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes received from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Takes the next complete frame, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let kind = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        if len as usize > MAX_PAYLOAD {
            return Err(FrameError::Oversized { len });
        }
        let total = HEADER_LEN + len as usize;
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        let payload = self.buf.split_to(len as usize).freeze();
        Ok(Some(Frame { kind, payload }))
    }

    /// Bytes buffered that do not yet form a whole frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The bytes buffered, for a connection that reads them as a plain stream.
    pub(crate) fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Call when the stream has ended: an unfinished frame is an error.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.buf.len() {
            0 => Ok(()),
            have => Err(FrameError::Truncated { have }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_split_anywhere_decodes_the_same() {
        let mut wire = BytesMut::new();
        encode_frame(7, b"hello", &mut wire).expect("small");
        encode_frame(8, b"", &mut wire).expect("empty");
        for split in 0..=wire.len() {
            let mut d = FrameDecoder::new();
            d.push(&wire[..split]);
            let mut got = Vec::new();
            while let Some(f) = d.next_frame().expect("valid") {
                got.push(f);
            }
            d.push(&wire[split..]);
            while let Some(f) = d.next_frame().expect("valid") {
                got.push(f);
            }
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].kind, 7);
            assert_eq!(&got[0].payload[..], b"hello");
            assert_eq!(got[1].kind, 8);
            assert!(d.finish().is_ok());
        }
    }

    #[test]
    fn an_oversized_header_is_refused_before_its_payload_arrives() {
        let mut d = FrameDecoder::new();
        d.push(&[1, 0, 1, 0, 1]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::Oversized {
                len: MAX_PAYLOAD as u32 + 1
            })
        );
    }

    #[test]
    fn a_stream_ending_inside_a_frame_is_truncated() {
        let mut d = FrameDecoder::new();
        d.push(&[1, 0, 0, 0, 9, b'a']);
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.finish(), Err(FrameError::Truncated { have: 6 }));
    }
}
