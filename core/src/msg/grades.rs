//! Grades and feedback files: what staff return (`handin-staff/1`) and students read once
//! released (`handin-submit/1`).

use super::codec::{put_str, Reader};
use super::{DecodeError, EncodeError};
use bytes::{BufMut, BytesMut};

/// A feedback file as declared before its bytes: staff declare it with a grade, a student is
/// told it before downloading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackFile {
    /// The file name (a plain name, checked like a submission's).
    pub file_name: String,
    /// Exact size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
}

/// One released grade, as a student sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradeEntry {
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// The score, a decimal number as staff typed it (`17`, `8.5`).
    pub score: String,
    /// The comment (may be empty; newlines and tabs allowed).
    pub comment: String,
    /// The feedback file, if staff returned one (fetch it with `Feedback`).
    pub feedback: Option<FeedbackFile>,
    /// When the grades of this assignment were released, seconds since the Unix epoch.
    pub released_at: u64,
}

pub(crate) fn put_feedback(p: &mut BytesMut, f: &FeedbackFile) -> Result<(), EncodeError> {
    put_str(p, &f.file_name)?;
    p.put_u64(f.size);
    p.put_slice(&f.sha256);
    Ok(())
}

pub(crate) fn put_opt_feedback(
    p: &mut BytesMut,
    f: Option<&FeedbackFile>,
) -> Result<(), EncodeError> {
    match f {
        None => {
            p.put_u8(0);
            Ok(())
        }
        Some(f) => {
            p.put_u8(1);
            put_feedback(p, f)
        }
    }
}

pub(crate) fn put_grade_entry(p: &mut BytesMut, g: &GradeEntry) -> Result<(), EncodeError> {
    put_str(p, &g.course)?;
    put_str(p, &g.assignment)?;
    put_str(p, &g.score)?;
    put_str(p, &g.comment)?;
    put_opt_feedback(p, g.feedback.as_ref())?;
    p.put_u64(g.released_at);
    Ok(())
}

impl Reader {
    pub(crate) fn feedback(&mut self) -> Result<FeedbackFile, DecodeError> {
        Ok(FeedbackFile {
            file_name: self.str()?,
            size: self.u64()?,
            sha256: self.hash()?,
        })
    }

    pub(crate) fn opt_feedback(&mut self) -> Result<Option<FeedbackFile>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.feedback()?)),
            v => super::codec::err(format!("option tag holds {v}")),
        }
    }

    pub(crate) fn grade_entry(&mut self) -> Result<GradeEntry, DecodeError> {
        Ok(GradeEntry {
            course: self.str()?,
            assignment: self.str()?,
            score: self.str()?,
            comment: self.str()?,
            feedback: self.opt_feedback()?,
            released_at: self.u64()?,
        })
    }
}
