//! The entries of handin's two logs, each a byte string starting with its own magic:
//!
//! - Blackboard's log: every receipt body ([`ReceiptBody`], `handin-receipt/2`) and every
//!   commitment body ([`CommitmentBody`], `handin-commitment/1`): the very bytes Blackboard
//!   signs, so that a receipt's leaf hash is the hash of its body.
//! - CUHK's log: every certificate it issues (`handin-certificate/1` | DER) and every
//!   revocation (`handin-revocation/1` | str person | str serial | u64 revoked_at).

use super::commitment::{put_str, CommitmentBody};
use crate::msg::Reader;
use crate::receipt::ReceiptBody;
use bytes::{BufMut, Bytes, BytesMut};

const CERTIFICATE: &[u8] = b"handin-certificate/1";
const REVOCATION: &[u8] = b"handin-revocation/1";

/// A revocation as CUHK logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The student ID or staff login whose certificate was revoked.
    pub person: String,
    /// The certificate's serial, upper-case hex without leading zeros.
    pub serial_hex: String,
    /// When, in seconds since the Unix epoch.
    pub revoked_at: u64,
}

/// One entry of a handin log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// A receipt Blackboard signed.
    Receipt(ReceiptBody),
    /// A commitment Blackboard signed.
    Commitment(CommitmentBody),
    /// A certificate CUHK issued (DER).
    Certificate(Vec<u8>),
    /// A revocation of a certificate CUHK issued.
    Revocation(Revocation),
}

impl LogEntry {
    /// The entry's bytes, as logged.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Receipt(r) => r.encode(),
            Self::Commitment(c) => c.encode(),
            Self::Certificate(der) => [CERTIFICATE, der].concat(),
            Self::Revocation(r) => {
                let mut b = BytesMut::new();
                b.put_slice(REVOCATION);
                put_str(&mut b, &r.person);
                put_str(&mut b, &r.serial_hex);
                b.put_u64(r.revoked_at);
                b.to_vec()
            }
        }
    }

    /// Reads an entry's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if let Some(der) = bytes.strip_prefix(CERTIFICATE) {
            return Ok(Self::Certificate(der.to_vec()));
        }
        if let Some(rest) = bytes.strip_prefix(REVOCATION) {
            let mut r = Reader(Bytes::copy_from_slice(rest));
            let rev = (|| {
                Ok::<_, crate::msg::DecodeError>(Revocation {
                    person: r.str()?,
                    serial_hex: r.str()?,
                    revoked_at: r.u64()?,
                })
            })()
            .map_err(|e| format!("revocation entry: {}", e.0))?;
            if !r.is_empty() {
                return Err("revocation entry: trailing bytes".into());
            }
            return Ok(Self::Revocation(rev));
        }
        if let Some(c) = CommitmentBody::decode(bytes) {
            return c.map(Self::Commitment);
        }
        ReceiptBody::decode(bytes)
            .map(Self::Receipt)
            .map_err(|e| format!("not an entry of a handin log: {e}"))
    }
}
