//! The campus PKI: the CUHK root CA, server certificates, CSR policy, personal certificates
//! (students and staff), CRLs, and reading a person's identity back out of a verified
//! certificate.
//!
//! Everything here works on bytes (DER or PEM text) and takes the time as an argument.

mod ca;
mod csr;
mod fingerprint;
mod identity;
mod person;
mod revocation;
mod server_cert;

pub use ca::{
    new_person_key, new_student_key, Ca, IssuedServer, NewKey, PkiError, RevokedSerial, ServerName,
};
pub use csr::{
    check_csr, check_person_csr, CheckedCsr, CsrError, KeyKind, MAX_RSA_BITS, MIN_RSA_BITS,
};
pub use fingerprint::{Fingerprint, InvalidFingerprint};
pub use identity::{certificate_info, person_of, student_id_of, CertificateInfo, IdentityError};
pub use person::{InvalidPersonId, InvalidStaffLogin, PersonId, StaffLogin};
pub use revocation::{RevocationError, Revocations};
pub use server_cert::{check_server_certificate, fingerprint, ServerCertError, ServerCertificate};

use rustls::pki_types::pem::{Error as PemError, PemObject, SectionKind};
use std::fmt;
use std::time::{Duration, SystemTime};

/// The organisation name CUHK puts in every certificate it issues.
pub const UNIVERSITY: &str = "The Chinese University of Hong Kong";

/// The default lifetime of a personal certificate, a student's or a member of staff's (short,
/// by design).
pub const DEFAULT_STUDENT_LIFETIME: Duration = Duration::from_secs(120 * 24 * 3600);

/// A 10-digit student ID, checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StudentId(String);

impl StudentId {
    /// Parses a student ID: exactly ten ASCII digits.
    pub fn parse(s: &str) -> Result<Self, InvalidStudentId> {
        if s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidStudentId)
        }
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StudentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A student ID that is not ten digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a student ID is exactly 10 digits")]
pub struct InvalidStudentId;

/// Seconds since the Unix epoch (0 for times before it).
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Formats a time as RFC 3339 in UTC, to the second (`2026-12-01T15:59:00Z`).
pub fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::from(t))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "?".into())
}

/// Encodes DER as PEM with the given label.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    // rustls-pki-types reads PEM but does not write it.
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Reads every PEM block with `label` from text, skipping blocks of other kinds; DER input is
/// returned as one item. `label` is one of the PKI's: `CERTIFICATE`, `X509 CRL`, `CERTIFICATE
/// REQUEST`, `PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`, `PUBLIC KEY`.
pub fn from_pem_or_der(input: &[u8], label: &str) -> Result<Vec<Vec<u8>>, String> {
    if input.first() == Some(&0x30) {
        return Ok(vec![input.to_vec()]);
    }
    let kind = SectionKind::try_from(label.as_bytes())
        .map_err(|()| format!("{label} is not a kind of PEM block this program reads"))?;
    let mut found = Vec::new();
    for block in <(SectionKind, Vec<u8>)>::pem_slice_iter(input) {
        let (k, der) = block.map_err(|e| format!("not PEM or DER: {}", pem_error(&e)))?;
        if k == kind {
            found.push(der);
        }
    }
    if found.is_empty() {
        return Err(format!("no PEM block labelled {label}"));
    }
    Ok(found)
}

/// A PEM reading error in words (rustls-pki-types prints the bytes of a bad line as numbers).
pub(crate) fn pem_error(e: &PemError) -> String {
    match e {
        PemError::MissingSectionEnd { end_marker } => format!(
            "the {:?} block has no END line",
            String::from_utf8_lossy(end_marker)
                .chars()
                .take(40)
                .collect::<String>()
        ),
        PemError::IllegalSectionStart { .. } => "a BEGIN line is malformed".into(),
        PemError::Base64Decode(_) => "a block's base64 is damaged".into(),
        PemError::NoItemsFound => "none found".into(),
        other => other.to_string(),
    }
}

pub(crate) fn random_serial() -> [u8; 16] {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut s = [0u8; 16];
    // The system RNG failing is unrecoverable for a CA; an all-zero serial would be caught by
    // uniqueness checks downstream, but we make the failure loud instead.
    SystemRandom::new()
        .fill(&mut s)
        .expect("the system random number generator failed");
    // Positive, no leading zero byte: always 16 bytes on the wire, 126 random bits.
    s[0] = (s[0] & 0x7f) | 0x40;
    s
}

/// Strips leading zero bytes so two encodings of one serial compare equal.
pub(crate) fn normalize_serial(raw: &[u8]) -> Vec<u8> {
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    raw[start..].to_vec()
}

/// Formats a serial as colon-separated hex, as `openssl x509 -serial` shows it (without colons).
pub fn serial_hex(raw: &[u8]) -> String {
    data_encoding::HEXUPPER.encode(&normalize_serial(raw))
}
