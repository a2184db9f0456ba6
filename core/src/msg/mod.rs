//! Typed messages and their payload encodings.
//!
//! Field encodings (all integers big-endian): `str` = u16 length + UTF-8 bytes; `bytes` = u32
//! length + bytes; `opt<T>` = u8 0 (absent) or 1 followed by `T`; `hash` = 32 raw bytes. A
//! payload must be consumed exactly: trailing bytes are an error.
//!
//! Tags 0x01-0x3f are the enrollment and submission messages, and the ones every protocol
//! shares; tags 0x40-0x5f are the staff protocol's ([`staff`]).

mod codec;
mod grades;
pub mod staff;

pub(crate) use codec::Reader;
pub use codec::{truncate_utf8, EncodeError, MAX_REASON, MAX_STR};
pub use grades::{FeedbackFile, GradeEntry};
pub use staff::{
    AssignmentSpec, CourseRow, GradeSpec, LogRow, StaffMessage, StatusRow, SubmissionState,
};

use crate::error::Refusal;
use crate::frame::{encode_frame, Frame, MAX_PAYLOAD};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use codec::{err, put_bytes, put_entry, put_opt_str, put_refusal, put_str};
use grades::{put_feedback, put_grade_entry};

/// Message type tags, as on the wire.
pub mod tag {
    /// Server's first frame after the handshake.
    pub const WELCOME: u8 = 0x01;
    /// A non-fatal refusal of the request in flight.
    pub const REFUSED: u8 = 0x02;
    /// A fatal error; the sender closes the connection after it.
    pub const ERROR: u8 = 0x03;
    /// Enroll with a student ID, a one-time code and a CSR.
    pub const ENROLL: u8 = 0x10;
    /// Renew over mutual TLS with a CSR.
    pub const RENEW: u8 = 0x11;
    /// Ask for the current CRL.
    pub const GET_CRL: u8 = 0x12;
    /// Ask for an object of the server's transparency log (a tlog-tiles path).
    pub const GET_LOG: u8 = 0x13;
    /// The issued certificate chain.
    pub const ISSUED: u8 = 0x18;
    /// A CRL follows as `Data` frames and a `DataEnd`.
    pub const CRL: u8 = 0x19;
    /// A log object follows as `Data` frames and a `DataEnd`.
    pub const LOG: u8 = 0x1a;
    /// Offer a file for submission.
    pub const SUBMIT: u8 = 0x20;
    /// The server accepts the offer: stream the bytes.
    pub const READY: u8 = 0x21;
    /// A signed receipt for a stored submission.
    pub const RECEIPT: u8 = 0x22;
    /// List own submissions.
    pub const LIST: u8 = 0x23;
    /// One listed submission.
    pub const LIST_ENTRY: u8 = 0x24;
    /// End of a listing.
    pub const LIST_END: u8 = 0x25;
    /// Fetch one own submission.
    pub const FETCH: u8 = 0x26;
    /// A fetched submission's description; `Data` frames and a `DataEnd` follow.
    pub const FETCH_BEGIN: u8 = 0x27;
    /// List own released grades.
    pub const GRADES: u8 = 0x28;
    /// One released grade.
    pub const GRADE_ENTRY: u8 = 0x29;
    /// Fetch the feedback file of a released grade.
    pub const FEEDBACK: u8 = 0x2a;
    /// A feedback file's description; `Data` frames and a `DataEnd` follow.
    pub const FEEDBACK_BEGIN: u8 = 0x2b;
    /// Commit to a file's bytes before the due time.
    pub const COMMIT: u8 = 0x2c;
    /// A signed, logged commitment.
    pub const COMMITMENT: u8 = 0x2d;
    /// Upload offer whose SHA-256 follows the bytes (`handin-submit/2`).
    pub const SUBMIT_STREAMED: u8 = 0x2e;
    /// A chunk of streamed bytes.
    pub const DATA: u8 = 0x30;
    /// End of streamed bytes.
    pub const DATA_END: u8 = 0x31;
    /// End of an upload's bytes, with their SHA-256 (after `SubmitStreamed`).
    pub const DATA_DIGEST: u8 = 0x32;
}

/// An error decoding a message payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// One submission as the server lists it (and describes it before a fetch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionEntry {
    /// The submission's identifier, unique on the server.
    pub id: String,
    /// Student ID of the owner.
    pub student_id: String,
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// File name as submitted.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
    /// When the server received it, seconds since the Unix epoch.
    pub received_at: u64,
    /// Received after the assignment's due time.
    pub late: bool,
    /// 1 for the first submission of this file name to this assignment, then 2, 3, ...
    pub version: u32,
}

/// The metadata of an upload offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOffer {
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// File name (a plain name: no `/`, `..`, NUL or control characters).
    pub file_name: String,
    /// Exact size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
}

impl UploadOffer {
    /// Whether a signed statement (a receipt, a commitment) of `student_id` with these fields
    /// describes this offer of `student`'s: the one comparison the server makes before sending
    /// it and the client after receiving it.
    #[allow(clippy::too_many_arguments)]
    pub fn is_described_by(
        &self,
        student: &str,
        student_id: &str,
        course: &str,
        assignment: &str,
        file_name: &str,
        size: u64,
        sha256: &[u8; 32],
    ) -> bool {
        student_id == student
            && course == self.course
            && assignment == self.assignment
            && file_name == self.file_name
            && size == self.size
            && *sha256 == self.sha256
    }
}

/// An upload offer whose SHA-256 is declared after its bytes ([`Message::SubmitStreamed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedOffer {
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// File name (a plain name: no `/`, `..`, NUL or control characters).
    pub file_name: String,
    /// Exact size in bytes.
    pub size: u64,
}

impl StreamedOffer {
    /// The whole offer, once the bytes' SHA-256 is known.
    pub fn with_sha256(self, sha256: [u8; 32]) -> UploadOffer {
        UploadOffer {
            course: self.course,
            assignment: self.assignment,
            file_name: self.file_name,
            size: self.size,
            sha256,
        }
    }
}

/// Every message of every protocol.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Server's first frame: who the server authenticated, and its clock.
    Welcome {
        /// The student ID or staff login from the verified client certificate, if one was
        /// presented.
        student_id: Option<String>,
        /// Server time, seconds since the Unix epoch.
        server_time: u64,
    },
    /// The request in flight was refused; the connection stays open.
    Refused(Refusal),
    /// Fatal; the sender closes.
    Error(Refusal),
    /// Enrollment request.
    Enroll {
        /// The 10-digit student ID, or a staff login.
        student_id: String,
        /// The one-time enrollment code.
        code: String,
        /// The CSR, DER.
        csr: Bytes,
    },
    /// Renewal request (mutual TLS).
    Renew {
        /// The CSR, DER.
        csr: Bytes,
    },
    /// CRL request.
    GetCrl,
    /// Issued chain, end-entity first, DER each.
    Issued(Vec<Bytes>),
    /// A CRL of this many bytes follows in `Data` frames.
    Crl {
        /// Total bytes.
        size: u64,
    },
    /// Ask for an object of the server's transparency log: `checkpoint` or a C2SP tlog-tiles
    /// tile path (see [`crate::logs::check_log_path`]).
    GetLog {
        /// The path.
        path: String,
    },
    /// A log object of this many bytes follows in `Data` frames.
    Log {
        /// Total bytes.
        size: u64,
    },
    /// Commit to a file's bytes (name, size, SHA-256) before the due time.
    Commit(UploadOffer),
    /// Encoded signed commitment with its log proof (see [`crate::logs::Commitment`]).
    Commitment(Bytes),
    /// Upload offer.
    Submit(UploadOffer),
    /// Upload offer whose SHA-256 is sent after the bytes, in [`Message::DataDigest`], so the
    /// sender hashes while it sends (`handin-submit/2`).
    SubmitStreamed(StreamedOffer),
    /// Go ahead with the upload.
    Ready,
    /// Encoded signed receipt (see [`crate::receipt`]).
    Receipt(Bytes),
    /// List own submissions, optionally for one course.
    List {
        /// Only this course.
        course: Option<String>,
    },
    /// One listed submission.
    ListEntry(SubmissionEntry),
    /// End of listing.
    ListEnd,
    /// Fetch a submission.
    Fetch {
        /// The submission's identifier.
        id: String,
    },
    /// Description of the fetched submission.
    FetchBegin(SubmissionEntry),
    /// Streamed bytes.
    Data(Bytes),
    /// End of streamed bytes.
    DataEnd,
    /// End of a streamed offer's bytes, with their SHA-256.
    DataDigest {
        /// SHA-256 of every byte of the upload.
        sha256: [u8; 32],
    },
    /// List own released grades, optionally for one course: `GradeEntry`* `ListEnd`.
    Grades {
        /// Only this course.
        course: Option<String>,
    },
    /// One released grade.
    GradeEntry(GradeEntry),
    /// Fetch the feedback file of a released grade: `FeedbackBegin` `Data`* `DataEnd`.
    Feedback {
        /// Course code.
        course: String,
        /// Assignment name.
        assignment: String,
    },
    /// The feedback file's description; its bytes follow.
    FeedbackBegin(FeedbackFile),
    /// A message of the staff protocol (tags 0x40-0x5f).
    Staff(StaffMessage),
}

impl Message {
    /// Encodes this message as one frame appended to `out`.
    ///
    /// Fails, appending nothing, if a field is longer than its length prefix allows or the
    /// payload would exceed [`MAX_PAYLOAD`]. Refusal reasons are the one exception: they are
    /// cut to [`MAX_REASON`] bytes (at a character boundary) so a refusal always encodes.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let mut p = BytesMut::new();
        let kind = match self {
            Self::Welcome {
                student_id,
                server_time,
            } => {
                put_opt_str(&mut p, student_id.as_deref())?;
                p.put_u64(*server_time);
                tag::WELCOME
            }
            Self::Refused(r) => {
                put_refusal(&mut p, r);
                tag::REFUSED
            }
            Self::Error(r) => {
                put_refusal(&mut p, r);
                tag::ERROR
            }
            Self::Enroll {
                student_id,
                code,
                csr,
            } => {
                put_str(&mut p, student_id)?;
                put_str(&mut p, code)?;
                put_bytes(&mut p, csr)?;
                tag::ENROLL
            }
            Self::Renew { csr } => {
                put_bytes(&mut p, csr)?;
                tag::RENEW
            }
            Self::GetCrl => tag::GET_CRL,
            Self::Issued(chain) => {
                let n = u8::try_from(chain.len())
                    .map_err(|_| EncodeError(format!("{} certificates in a chain", chain.len())))?;
                p.put_u8(n);
                for c in chain {
                    put_bytes(&mut p, c)?;
                }
                tag::ISSUED
            }
            Self::Crl { size } => {
                p.put_u64(*size);
                tag::CRL
            }
            Self::GetLog { path } => {
                put_str(&mut p, path)?;
                tag::GET_LOG
            }
            Self::Log { size } => {
                p.put_u64(*size);
                tag::LOG
            }
            Self::Submit(o) | Self::Commit(o) => {
                put_str(&mut p, &o.course)?;
                put_str(&mut p, &o.assignment)?;
                put_str(&mut p, &o.file_name)?;
                p.put_u64(o.size);
                p.put_slice(&o.sha256);
                if matches!(self, Self::Commit(_)) {
                    tag::COMMIT
                } else {
                    tag::SUBMIT
                }
            }
            Self::Commitment(c) => {
                put_bytes(&mut p, c)?;
                tag::COMMITMENT
            }
            Self::SubmitStreamed(o) => {
                put_str(&mut p, &o.course)?;
                put_str(&mut p, &o.assignment)?;
                put_str(&mut p, &o.file_name)?;
                p.put_u64(o.size);
                tag::SUBMIT_STREAMED
            }
            Self::DataDigest { sha256 } => {
                p.put_slice(sha256);
                tag::DATA_DIGEST
            }
            Self::Ready => tag::READY,
            Self::Receipt(r) => {
                put_bytes(&mut p, r)?;
                tag::RECEIPT
            }
            Self::List { course } => {
                put_opt_str(&mut p, course.as_deref())?;
                tag::LIST
            }
            Self::ListEntry(e) => {
                put_entry(&mut p, e)?;
                tag::LIST_ENTRY
            }
            Self::ListEnd => tag::LIST_END,
            Self::Fetch { id } => {
                put_str(&mut p, id)?;
                tag::FETCH
            }
            Self::FetchBegin(e) => {
                put_entry(&mut p, e)?;
                tag::FETCH_BEGIN
            }
            Self::Data(d) => {
                p.put_slice(d);
                tag::DATA
            }
            Self::DataEnd => tag::DATA_END,
            Self::Grades { course } => {
                put_opt_str(&mut p, course.as_deref())?;
                tag::GRADES
            }
            Self::GradeEntry(g) => {
                put_grade_entry(&mut p, g)?;
                tag::GRADE_ENTRY
            }
            Self::Feedback { course, assignment } => {
                put_str(&mut p, course)?;
                put_str(&mut p, assignment)?;
                tag::FEEDBACK
            }
            Self::FeedbackBegin(f) => {
                put_feedback(&mut p, f)?;
                tag::FEEDBACK_BEGIN
            }
            Self::Staff(m) => m.encode_payload(&mut p)?,
        };
        if p.len() > MAX_PAYLOAD {
            return Err(EncodeError(format!(
                "{} of {} bytes is over the frame limit of {MAX_PAYLOAD}",
                self.name(),
                p.len()
            )));
        }
        encode_frame(kind, &p, out).map_err(|e| EncodeError(e.to_string()))
    }

    /// Decodes one frame's payload into a message.
    pub fn decode(frame: &Frame) -> Result<Self, DecodeError> {
        let mut r = Reader(frame.payload.clone());
        let m = match frame.kind {
            tag::WELCOME => Self::Welcome {
                student_id: r.opt_str()?,
                server_time: r.u64()?,
            },
            tag::REFUSED => Self::Refused(r.refusal()?),
            tag::ERROR => Self::Error(r.refusal()?),
            tag::ENROLL => Self::Enroll {
                student_id: r.str()?,
                code: r.str()?,
                csr: r.bytes()?,
            },
            tag::RENEW => Self::Renew { csr: r.bytes()? },
            tag::GET_CRL => Self::GetCrl,
            tag::ISSUED => {
                let n = r.u8()?;
                if n == 0 {
                    return err("issued chain is empty");
                }
                let mut chain = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    chain.push(r.bytes()?);
                }
                Self::Issued(chain)
            }
            tag::CRL => Self::Crl { size: r.u64()? },
            tag::GET_LOG => Self::GetLog { path: r.str()? },
            tag::LOG => Self::Log { size: r.u64()? },
            tag::SUBMIT | tag::COMMIT => {
                let offer = UploadOffer {
                    course: r.str()?,
                    assignment: r.str()?,
                    file_name: r.str()?,
                    size: r.u64()?,
                    sha256: r.hash()?,
                };
                if frame.kind == tag::COMMIT {
                    Self::Commit(offer)
                } else {
                    Self::Submit(offer)
                }
            }
            tag::COMMITMENT => Self::Commitment(r.bytes()?),
            tag::SUBMIT_STREAMED => Self::SubmitStreamed(StreamedOffer {
                course: r.str()?,
                assignment: r.str()?,
                file_name: r.str()?,
                size: r.u64()?,
            }),
            tag::DATA_DIGEST => Self::DataDigest { sha256: r.hash()? },
            tag::READY => Self::Ready,
            tag::RECEIPT => Self::Receipt(r.bytes()?),
            tag::LIST => Self::List {
                course: r.opt_str()?,
            },
            tag::LIST_ENTRY => Self::ListEntry(r.entry()?),
            tag::LIST_END => Self::ListEnd,
            tag::FETCH => Self::Fetch { id: r.str()? },
            tag::FETCH_BEGIN => Self::FetchBegin(r.entry()?),
            tag::DATA => {
                let d = r.0.split_off(0);
                Self::Data(d)
            }
            tag::DATA_END => Self::DataEnd,
            tag::GRADES => Self::Grades {
                course: r.opt_str()?,
            },
            tag::GRADE_ENTRY => Self::GradeEntry(r.grade_entry()?),
            tag::FEEDBACK => Self::Feedback {
                course: r.str()?,
                assignment: r.str()?,
            },
            tag::FEEDBACK_BEGIN => Self::FeedbackBegin(r.feedback()?),
            k if StaffMessage::knows(k) => Self::Staff(StaffMessage::decode_payload(k, &mut r)?),
            other => return err(format!("unknown message type 0x{other:02x}")),
        };
        if r.0.has_remaining() {
            return err(format!(
                "{} trailing bytes after message type 0x{:02x}",
                r.0.remaining(),
                frame.kind
            ));
        }
        Ok(m)
    }

    /// A short name for logs and error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Welcome { .. } => "Welcome",
            Self::Refused(_) => "Refused",
            Self::Error(_) => "Error",
            Self::Enroll { .. } => "Enroll",
            Self::Renew { .. } => "Renew",
            Self::GetCrl => "GetCrl",
            Self::Issued(_) => "Issued",
            Self::Crl { .. } => "Crl",
            Self::GetLog { .. } => "GetLog",
            Self::Log { .. } => "Log",
            Self::Commit(_) => "Commit",
            Self::Commitment(_) => "Commitment",
            Self::Submit(_) => "Submit",
            Self::SubmitStreamed(_) => "SubmitStreamed",
            Self::Ready => "Ready",
            Self::Receipt(_) => "Receipt",
            Self::List { .. } => "List",
            Self::ListEntry(_) => "ListEntry",
            Self::ListEnd => "ListEnd",
            Self::Fetch { .. } => "Fetch",
            Self::FetchBegin(_) => "FetchBegin",
            Self::Data(_) => "Data",
            Self::DataEnd => "DataEnd",
            Self::DataDigest { .. } => "DataDigest",
            Self::Grades { .. } => "Grades",
            Self::GradeEntry(_) => "GradeEntry",
            Self::Feedback { .. } => "Feedback",
            Self::FeedbackBegin(_) => "FeedbackBegin",
            Self::Staff(m) => m.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RefusalCode;
    use crate::frame::FrameDecoder;

    fn round_trip(m: &Message) -> Message {
        let mut out = BytesMut::new();
        m.encode(&mut out).expect("encodes");
        let mut d = FrameDecoder::new();
        d.push(&out);
        let f = d.next_frame().expect("frame").expect("whole");
        Message::decode(&f).expect("decodes")
    }

    #[test]
    fn unknown_types_and_trailing_bytes_are_refused() {
        let f = Frame {
            kind: 0x7f,
            payload: Bytes::new(),
        };
        assert!(Message::decode(&f)
            .unwrap_err()
            .0
            .contains("unknown message type"));
        let f = Frame {
            kind: tag::READY,
            payload: Bytes::from_static(b"x"),
        };
        assert!(Message::decode(&f).unwrap_err().0.contains("trailing"));
    }

    #[test]
    fn a_truncated_payload_is_refused() {
        let f = Frame {
            kind: tag::FETCH,
            payload: Bytes::from_static(&[0, 5, b'a']),
        };
        assert!(Message::decode(&f).unwrap_err().0.contains("truncated"));
    }

    #[test]
    fn oversized_fields_fail_to_encode_instead_of_panicking() {
        let mut out = BytesMut::new();
        let long = "\u{1}".repeat(30_000);
        let m = Message::Submit(UploadOffer {
            course: long.clone(),
            assignment: long.clone(),
            file_name: long.clone(),
            size: 1,
            sha256: [0; 32],
        });
        assert!(m.encode(&mut out).is_err());
        assert!(out.is_empty());
        let m = Message::Refused(Refusal::new(RefusalCode::BadFileName, format!("{long:?}")));
        m.encode(&mut out).expect("refusals always encode");
        assert!(out.len() <= crate::frame::HEADER_LEN + 4 + MAX_REASON);
        let m = Message::Fetch {
            id: "é".repeat(40_000),
        };
        assert!(m.encode(&mut BytesMut::new()).is_err());
    }

    #[test]
    fn truncation_never_splits_a_character() {
        assert_eq!(truncate_utf8("aé", 2), "a");
        assert_eq!(truncate_utf8("aé", 3), "aé");
    }

    #[test]
    fn welcome_round_trips() {
        let m = Message::Welcome {
            student_id: Some("1155000001".into()),
            server_time: 42,
        };
        assert_eq!(round_trip(&m), m);
    }
}
