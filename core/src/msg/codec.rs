//! The field encodings every message is made of, and a reader that never panics.

use super::{DecodeError, SubmissionEntry};
use crate::error::{Refusal, RefusalCode};
use crate::frame::MAX_PAYLOAD;
use bytes::{Buf, BufMut, Bytes, BytesMut};

pub(crate) fn err<T>(m: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(m.into()))
}

/// The most bytes a string field may hold (its u16 length prefix).
pub const MAX_STR: usize = u16::MAX as usize;
/// Refusal reasons longer than this are cut (at a character boundary) when encoded.
pub const MAX_REASON: usize = 1024;

/// A message that cannot be encoded (a field or the whole payload is too long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode: {0}")]
pub struct EncodeError(pub String);

pub(crate) fn put_str(p: &mut BytesMut, s: &str) -> Result<(), EncodeError> {
    let n = u16::try_from(s.len())
        .map_err(|_| EncodeError(format!("a text field of {} bytes", s.len())))?;
    p.put_u16(n);
    p.put_slice(s.as_bytes());
    Ok(())
}

pub(crate) fn put_opt_str(p: &mut BytesMut, s: Option<&str>) -> Result<(), EncodeError> {
    match s {
        None => {
            p.put_u8(0);
            Ok(())
        }
        Some(s) => {
            p.put_u8(1);
            put_str(p, s)
        }
    }
}

pub(crate) fn put_bytes(p: &mut BytesMut, b: &[u8]) -> Result<(), EncodeError> {
    if b.len() > MAX_PAYLOAD {
        return Err(EncodeError(format!("a byte field of {} bytes", b.len())));
    }
    p.put_u32(b.len() as u32);
    p.put_slice(b);
    Ok(())
}

/// Cuts `s` to at most `max` bytes without splitting a character.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub(crate) fn put_refusal(p: &mut BytesMut, r: &Refusal) {
    p.put_u16(r.code.to_u16());
    let reason = truncate_utf8(&r.reason, MAX_REASON);
    p.put_u16(reason.len() as u16);
    p.put_slice(reason.as_bytes());
}

pub(crate) fn put_entry(p: &mut BytesMut, e: &SubmissionEntry) -> Result<(), EncodeError> {
    put_str(p, &e.id)?;
    put_str(p, &e.student_id)?;
    put_str(p, &e.course)?;
    put_str(p, &e.assignment)?;
    put_str(p, &e.file_name)?;
    p.put_u64(e.size);
    p.put_slice(&e.sha256);
    p.put_u64(e.received_at);
    p.put_u8(u8::from(e.late));
    p.put_u32(e.version);
    Ok(())
}

/// A bounds-checked payload reader: every read can fail, none can panic.
pub(crate) struct Reader(pub(crate) Bytes);

impl Reader {
    pub(crate) fn need(&self, n: usize, what: &str) -> Result<(), DecodeError> {
        if self.0.remaining() < n {
            return err(format!(
                "truncated message: {what} needs {n} bytes, {} left",
                self.0.remaining()
            ));
        }
        Ok(())
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        self.need(1, "u8")?;
        Ok(self.0.get_u8())
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        self.need(2, "u16")?;
        Ok(self.0.get_u16())
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        self.need(4, "u32")?;
        Ok(self.0.get_u32())
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        self.need(8, "u64")?;
        Ok(self.0.get_u64())
    }

    pub(crate) fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => err(format!("boolean field holds {v}")),
        }
    }

    pub(crate) fn hash(&mut self) -> Result<[u8; 32], DecodeError> {
        self.need(32, "sha256")?;
        let mut h = [0u8; 32];
        self.0.copy_to_slice(&mut h);
        Ok(h)
    }

    pub(crate) fn str(&mut self) -> Result<String, DecodeError> {
        let n = self.u16()? as usize;
        self.need(n, "string")?;
        let b = self.0.split_to(n);
        String::from_utf8(b.to_vec()).or_else(|_| err("string field is not UTF-8"))
    }

    pub(crate) fn opt_str(&mut self) -> Result<Option<String>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            v => err(format!("option tag holds {v}")),
        }
    }

    pub(crate) fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.u32()? as usize;
        self.need(n, "byte field")?;
        Ok(self.0.split_to(n))
    }

    pub(crate) fn refusal(&mut self) -> Result<Refusal, DecodeError> {
        Ok(Refusal {
            code: RefusalCode::from_u16(self.u16()?),
            reason: self.str()?,
        })
    }

    pub(crate) fn entry(&mut self) -> Result<SubmissionEntry, DecodeError> {
        Ok(SubmissionEntry {
            id: self.str()?,
            student_id: self.str()?,
            course: self.str()?,
            assignment: self.str()?,
            file_name: self.str()?,
            size: self.u64()?,
            sha256: self.hash()?,
            received_at: self.u64()?,
            late: self.bool()?,
            version: self.u32()?,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        !self.0.has_remaining()
    }
}
