//! A streaming, sans-IO parser of `multipart/form-data` request bodies (RFC 7578 over RFC
//! 2046), as browsers send an HTML form with a file input.
//!
//! The caller pushes the body's bytes as they arrive with [`MultipartParser::feed`] and drains
//! [`PartEvent`]s with [`MultipartParser::next`] until it returns `None`; file contents come out
//! as [`PartEvent::Data`] pieces, so a file is never held whole. Memory is bounded: after a
//! drain, the parser keeps at most the part header limit or the length of a delimiter, bytes
//! that might be the start of the next delimiter and are held back until the following bytes
//! say whether they are.
//!
//! Lines end with CRLF; the preamble before the first delimiter and the epilogue after the
//! close delimiter are ignored. The boundary comes from the request's Content-Type with
//! [`boundary`].

use bytes::{Bytes, BytesMut};

use crate::units;

mod headers;
#[cfg(test)]
mod tests;

pub use headers::{boundary, MAX_BOUNDARY};

/// The bounds a parser enforces on one form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartLimits {
    /// The most bytes of one part's header block.
    pub max_header_bytes: usize,
    /// The most parts in a form.
    pub max_parts: usize,
    /// The most bytes of the value of a part that is not a file (no `filename`).
    pub max_field_bytes: u64,
}

impl Default for MultipartLimits {
    /// 8 KiB of headers per part, 16 parts, 64 KiB per non-file field.
    fn default() -> Self {
        Self {
            max_header_bytes: 8 * 1024,
            max_parts: 16,
            max_field_bytes: 64 * 1024,
        }
    }
}

/// What the parser found next in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartEvent {
    /// A part begins, with what its headers say.
    PartStart {
        /// The form field's name.
        name: String,
        /// The file's name, for a file input. Browsers send `Some("")` (and an empty body)
        /// for a file input left empty; the name is as the browser sent it, to be checked
        /// before use as a path.
        file_name: Option<String>,
        /// The part's Content-Type, if it has one.
        content_type: Option<String>,
    },
    /// The next bytes of the current part's body (never empty).
    Data(Bytes),
    /// The current part's body is complete.
    PartEnd,
    /// The close delimiter: the form is complete. Nothing follows.
    End,
}

/// Why a form body (or its Content-Type) was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// The Content-Type is not `multipart/form-data`.
    #[error("the form's Content-Type is not multipart/form-data")]
    NotFormData,
    /// The Content-Type's parameters could not be read.
    #[error("the form's Content-Type is malformed: {0}")]
    BadContentType(&'static str),
    /// The Content-Type has no `boundary` parameter.
    #[error("the form's Content-Type has no boundary")]
    NoBoundary,
    /// The boundary is empty or over 70 characters.
    #[error("the form's boundary is {len} characters long; it must be 1 to {MAX_BOUNDARY}")]
    BoundaryLength {
        /// The boundary's length.
        len: usize,
    },
    /// The boundary has a character RFC 2046 does not allow in one.
    #[error("the form's boundary has a character not allowed in a boundary")]
    BoundaryChar,
    /// A boundary line has something other than spaces after the boundary.
    #[error("the form has unexpected bytes after a boundary")]
    BadDelimiterLine,
    /// A part's header block is over the limit.
    #[error("the form's part headers are over {}", units::size(*limit as u64))]
    HeadersTooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A part's headers could not be read.
    #[error("the form's part headers are malformed: {0}")]
    BadHeaders(&'static str),
    /// A part has no Content-Disposition header.
    #[error("a part of the form has no Content-Disposition header")]
    NoDisposition,
    /// A part's Content-Disposition is not `form-data`.
    #[error("a part of the form is not form-data")]
    NotFormDataPart,
    /// A part's Content-Disposition has no `name`.
    #[error("a part of the form has no field name")]
    NoName,
    /// A name, file name or content type is not valid UTF-8.
    #[error("a field name, file name or content type in the form is not valid UTF-8")]
    NotUtf8,
    /// The form has more parts than allowed.
    #[error("the form has more than {limit} parts")]
    TooManyParts {
        /// The limit.
        limit: usize,
    },
    /// A field that is not a file is over its limit.
    #[error("the form field \"{name}\" is over {}", units::size(*limit))]
    FieldTooLong {
        /// The field's name.
        name: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body ended before the close delimiter.
    #[error("the form ended before its closing boundary (the upload was cut short)")]
    Truncated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter: skipping the preamble.
    Preamble,
    /// Just after a delimiter: `--` (the close delimiter) or padding and CRLF.
    DelimiterLine,
    /// In a part's header block.
    Headers,
    /// In a part's body.
    Body,
    /// After the close delimiter.
    End,
}

/// A push parser of one `multipart/form-data` body. See the [module](self) documentation.
#[derive(Debug)]
pub struct MultipartParser {
    /// `CRLF--boundary`: a delimiter, with the line break before it that belongs to it.
    delimiter: Vec<u8>,
    limits: MultipartLimits,
    buf: BytesMut,
    state: State,
    parts: usize,
    /// The current part's name and bytes so far, when it is not a file.
    field: Option<(String, u64)>,
    failed: Option<MultipartError>,
}

impl MultipartParser {
    /// A parser for a body whose boundary is `boundary` (from [`boundary`]).
    pub fn new(boundary: Vec<u8>, limits: MultipartLimits) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(&boundary);
        // The first delimiter may open the body with no line break before it: a CRLF put in
        // front lets one search find it either way.
        let mut buf = BytesMut::with_capacity(delimiter.len() + 1024);
        buf.extend_from_slice(b"\r\n");
        Self {
            delimiter,
            limits,
            buf,
            state: State::Preamble,
            parts: 0,
            field: None,
            failed: None,
        }
    }

    /// Appends the next bytes of the body. Call [`next`](Self::next) until it returns `None`
    /// before feeding more, or the buffer grows by what is not drained. Bytes after the close
    /// delimiter are ignored.
    pub fn feed(&mut self, input: &[u8]) -> Result<(), MultipartError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.state != State::End {
            self.buf.extend_from_slice(input);
        }
        Ok(())
    }

    /// The next event, or `None` when more input is needed (or after [`PartEvent::End`]). An
    /// error is final: every later call returns it again.
    #[allow(clippy::should_implement_trait)] // fallible and input-driven: not an Iterator
    pub fn next(&mut self) -> Result<Option<PartEvent>, MultipartError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.step();
        if let Err(e) = &result {
            self.failed = Some(e.clone());
            self.buf = BytesMut::new();
        }
        result
    }

    /// Called when the body has ended: an error unless the close delimiter was reached.
    pub fn finish(&self) -> Result<(), MultipartError> {
        match (&self.failed, self.state) {
            (Some(e), _) => Err(e.clone()),
            (None, State::End) => Ok(()),
            (None, _) => Err(MultipartError::Truncated),
        }
    }

    /// Bytes buffered and not yet handed out: for tests of the memory bound.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn step(&mut self) -> Result<Option<PartEvent>, MultipartError> {
        loop {
            match self.state {
                State::Preamble => match memchr::memmem::find(&self.buf, &self.delimiter) {
                    Some(i) => {
                        let _ = self.buf.split_to(i + self.delimiter.len());
                        self.state = State::DelimiterLine;
                    }
                    None => {
                        let keep = self.buf.len().min(self.delimiter.len() - 1);
                        let _ = self.buf.split_to(self.buf.len() - keep);
                        return Ok(None);
                    }
                },
                State::DelimiterLine => {
                    if !self.delimiter_line()? {
                        return Ok(None);
                    }
                    if self.state == State::End {
                        return Ok(Some(PartEvent::End));
                    }
                }
                State::Headers => return self.headers(),
                State::Body => return self.body(),
                State::End => return Ok(None),
            }
        }
    }

    /// After a delimiter: `--` ends the form; optional spaces then CRLF start a part. Returns
    /// whether it could decide.
    fn delimiter_line(&mut self) -> Result<bool, MultipartError> {
        if self.buf.starts_with(b"--") {
            self.buf = BytesMut::new();
            self.state = State::End;
            return Ok(true);
        }
        if self.buf.len() < 2 {
            return Ok(false);
        }
        let padding = self
            .buf
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        // Padding counts against the header limit; judged by position, so that the error is
        // the same however the body is cut.
        if padding > self.limits.max_header_bytes {
            return Err(MultipartError::HeadersTooLong {
                limit: self.limits.max_header_bytes,
            });
        }
        match &self.buf[padding..] {
            [b'\r', b'\n', ..] => {
                let _ = self.buf.split_to(padding + 2);
                self.state = State::Headers;
                Ok(true)
            }
            [] | [b'\r'] => Ok(false),
            _ => Err(MultipartError::BadDelimiterLine),
        }
    }

    fn headers(&mut self) -> Result<Option<PartEvent>, MultipartError> {
        let max = self.limits.max_header_bytes;
        // A part with no header lines at all: its header block ends at once.
        let end = if self.buf.starts_with(b"\r\n") {
            Some((0, 2))
        } else {
            memchr::memmem::find(&self.buf, b"\r\n\r\n").map(|i| (i, 4))
        };
        let Some((len, terminator)) = end else {
            if self.buf.len() > max + 3 {
                return Err(MultipartError::HeadersTooLong { limit: max });
            }
            return Ok(None);
        };
        if len > max {
            return Err(MultipartError::HeadersTooLong { limit: max });
        }
        let block = self.buf.split_to(len + terminator);
        self.parts += 1;
        if self.parts > self.limits.max_parts {
            return Err(MultipartError::TooManyParts {
                limit: self.limits.max_parts,
            });
        }
        let part = headers::parse_part_headers(&block[..len])?;
        self.field = match part.file_name {
            Some(_) => None,
            None => Some((part.name.clone(), 0)),
        };
        self.state = State::Body;
        Ok(Some(PartEvent::PartStart {
            name: part.name,
            file_name: part.file_name,
            content_type: part.content_type,
        }))
    }

    fn body(&mut self) -> Result<Option<PartEvent>, MultipartError> {
        let ready = match memchr::memmem::find(&self.buf, &self.delimiter) {
            Some(0) => {
                let _ = self.buf.split_to(self.delimiter.len());
                self.state = State::DelimiterLine;
                self.field = None;
                return Ok(Some(PartEvent::PartEnd));
            }
            Some(i) => i,
            None => self.buf.len() - self.partial_delimiter_len(),
        };
        if ready == 0 {
            return Ok(None);
        }
        if let Some((name, seen)) = &mut self.field {
            *seen += ready as u64;
            if *seen > self.limits.max_field_bytes {
                return Err(MultipartError::FieldTooLong {
                    name: name.clone(),
                    limit: self.limits.max_field_bytes,
                });
            }
        }
        Ok(Some(PartEvent::Data(self.buf.split_to(ready).freeze())))
    }

    /// The length of the longest end of the buffer that is the start of a delimiter: bytes to
    /// hold back until the next ones say whether a delimiter begins there.
    fn partial_delimiter_len(&self) -> usize {
        let longest = self.buf.len().min(self.delimiter.len() - 1);
        (1..=longest)
            .rev()
            .find(|&n| self.buf[self.buf.len() - n..] == self.delimiter[..n])
            .unwrap_or(0)
    }
}
