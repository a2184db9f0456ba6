//! Errors of the core: connection errors, refusals, and the codes carried on the wire.

use std::fmt;

/// Why a peer refused a request, as carried in `Refused` and `Error` frames.
///
/// The numeric values are part of the wire format (see `docs/PROTOCOL.md`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalCode {
    /// The request was malformed or made no sense in this state.
    BadRequest,
    /// The student ID is not on the roster. (The reference CUHK refuses an unknown ID as
    /// [`RefusalCode::BadCode`], like a wrong code, so that a refusal does not tell who is on the
    /// roster; the code stays for compatibility.)
    UnknownStudent,
    /// The one-time enrollment code was wrong (or the student ID is not on the roster).
    BadCode,
    /// The one-time enrollment code was already used.
    CodeUsed,
    /// Too many attempts: wait before trying again.
    Throttled,
    /// The CSR did not parse or its signature did not verify.
    CsrInvalid,
    /// The CSR names a different student ID.
    CsrIdMismatch,
    /// The CSR's key type, key size or signature algorithm is not allowed.
    WeakKey,
    /// The presented certificate was revoked.
    Revoked,
    /// The presented certificate expired (or is not yet valid).
    Expired,
    /// The peer's certificate is not acceptable for this role.
    BadCertificate,
    /// No such course or assignment.
    NoSuchAssignment,
    /// The file is larger than the assignment allows.
    TooLarge,
    /// The file name is not acceptable.
    BadFileName,
    /// The bytes received do not match the declared size.
    SizeMismatch,
    /// The bytes received do not match the declared SHA-256.
    HashMismatch,
    /// No such submission (or not yours).
    NotFound,
    /// The request needs an authenticated student certificate.
    NotAuthenticated,
    /// The server cannot store the submission right now (disk full, I/O error).
    Storage,
    /// The connection idled or took too long.
    Timeout,
    /// The server is shutting down or overloaded; try again shortly.
    Unavailable,
    /// An internal error on the server.
    Internal,
    /// The student's storage bound for this assignment (submissions or bytes) is reached.
    Quota,
    /// The caller is not on the staff list of that course. Also the answer for a course that
    /// does not exist, so that someone outside a course learns nothing about it.
    NotStaff,
    /// The student is not on the course's class list.
    NotOnClassList,
    /// The assignment is closed, or past its cut-off time.
    Closed,
    /// A field of the request holds a value that is not acceptable (a malformed name, student
    /// ID, score, comment or time).
    BadField,
    /// The due time (or cut-off) is in the past and the request did not say that is intended.
    DueInPast,
    /// A code this version does not know.
    Other(u16),
}

impl RefusalCode {
    /// The code's value on the wire.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::BadRequest => 1,
            Self::UnknownStudent => 2,
            Self::BadCode => 3,
            Self::CodeUsed => 4,
            Self::Throttled => 5,
            Self::CsrInvalid => 6,
            Self::CsrIdMismatch => 7,
            Self::WeakKey => 8,
            Self::Revoked => 9,
            Self::Expired => 10,
            Self::BadCertificate => 11,
            Self::NoSuchAssignment => 12,
            Self::TooLarge => 13,
            Self::BadFileName => 14,
            Self::SizeMismatch => 15,
            Self::HashMismatch => 16,
            Self::NotFound => 17,
            Self::NotAuthenticated => 18,
            Self::Storage => 19,
            Self::Timeout => 20,
            Self::Unavailable => 21,
            Self::Internal => 22,
            Self::Quota => 23,
            Self::NotStaff => 24,
            Self::NotOnClassList => 25,
            Self::Closed => 26,
            Self::BadField => 27,
            Self::DueInPast => 28,
            Self::Other(v) => v,
        }
    }

    /// The code for a value read from the wire.
    pub fn from_u16(v: u16) -> Self {
        match v {
            1 => Self::BadRequest,
            2 => Self::UnknownStudent,
            3 => Self::BadCode,
            4 => Self::CodeUsed,
            5 => Self::Throttled,
            6 => Self::CsrInvalid,
            7 => Self::CsrIdMismatch,
            8 => Self::WeakKey,
            9 => Self::Revoked,
            10 => Self::Expired,
            11 => Self::BadCertificate,
            12 => Self::NoSuchAssignment,
            13 => Self::TooLarge,
            14 => Self::BadFileName,
            15 => Self::SizeMismatch,
            16 => Self::HashMismatch,
            17 => Self::NotFound,
            18 => Self::NotAuthenticated,
            19 => Self::Storage,
            20 => Self::Timeout,
            21 => Self::Unavailable,
            22 => Self::Internal,
            23 => Self::Quota,
            24 => Self::NotStaff,
            25 => Self::NotOnClassList,
            26 => Self::Closed,
            27 => Self::BadField,
            28 => Self::DueInPast,
            v => Self::Other(v),
        }
    }
}

/// A refusal: a code and a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What kind of refusal.
    pub code: RefusalCode,
    /// A sentence for the person at the keyboard.
    pub reason: String,
}

impl Refusal {
    /// A refusal with this code and reason.
    pub fn new(code: RefusalCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A fatal connection error. Sticky: once a connection reports one, every later call reports the
/// same error.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// TLS failed (handshake, certificate verification, a bad record, an alert from the peer).
    #[error("tls: {0}")]
    Tls(rustls::Error),
    /// The peer broke the wire protocol (bad frame, unknown type, message in the wrong state).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The peer closed the connection with a fatal `Error` frame.
    #[error("closed by peer: {}", .0.reason)]
    Remote(Refusal),
    /// We closed the connection after refusing the peer (its certificate, say) with this refusal.
    #[error("refused: {}", .0.reason)]
    Refused(Refusal),
    /// A handshake or idle deadline passed.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The connection was closed (by either side) before the exchange completed.
    #[error("connection closed")]
    Closed,
}

impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Self::Tls(e)
    }
}

/// A call on a connection that does not fit its current state (a programming error of the
/// caller, not of the peer). The connection is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("call out of order: {0}")]
pub struct UsageError(pub &'static str);

#[cfg(test)]
mod tests {
    use super::RefusalCode;

    #[test]
    fn every_known_code_round_trips_and_keeps_its_number() {
        for v in 1..=28u16 {
            let code = RefusalCode::from_u16(v);
            assert!(!matches!(code, RefusalCode::Other(_)), "{v} is known");
            assert_eq!(code.to_u16(), v);
        }
        assert_eq!(RefusalCode::from_u16(29), RefusalCode::Other(29));
        assert_eq!(RefusalCode::Quota.to_u16(), 23);
        assert_eq!(RefusalCode::NotStaff.to_u16(), 24);
        assert_eq!(RefusalCode::NotOnClassList.to_u16(), 25);
        assert_eq!(RefusalCode::Closed.to_u16(), 26);
        assert_eq!(RefusalCode::BadField.to_u16(), 27);
        assert_eq!(RefusalCode::DueInPast.to_u16(), 28);
    }
}
