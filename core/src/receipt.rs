//! Receipts: Blackboard's signed statement that it stored a submission.
//!
//! A receipt is a canonical byte encoding of [`ReceiptBody`] and a signature over those bytes
//! by Blackboard's certificate key. Anyone holding Blackboard's certificate can check it with
//! [`Receipt::verify`]; the student keeps it as proof of what was handed in, and when.
//!
//! Encoding (integers big-endian; `str` = u16 length + UTF-8):
//!
//! ```text
//! receipt = u32 body_len | body | u16 signature_scheme | u16 sig_len | signature
//! body    = "handin-receipt/1" | str id | str student_id | str course | str assignment
//!           | str file_name | u64 size | [32] sha256 | u64 received_at | u64 due_at
//!           | u8 late | u32 version
//! ```
//!
//! `signature_scheme` is the TLS SignatureScheme code point (0x0403 = ECDSA P-256 SHA-256).

use crate::msg::{Reader, SubmissionEntry};
use crate::pki::to_pem;
use aws_lc_rs::signature;
use bytes::{BufMut, Bytes, BytesMut};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::SigningKey;
use rustls::SignatureScheme;
use std::fmt;
use std::sync::Arc;
use x509_parser::prelude::*;

const MAGIC: &[u8] = b"handin-receipt/1";
/// PEM label of a receipt file.
pub const PEM_LABEL: &str = "HANDIN RECEIPT";

/// What Blackboard attests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptBody {
    /// Submission identifier.
    pub id: String,
    /// The authenticated student.
    pub student_id: String,
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// File name.
    pub file_name: String,
    /// Bytes stored.
    pub size: u64,
    /// SHA-256 of the bytes stored.
    pub sha256: [u8; 32],
    /// When Blackboard received the last byte, seconds since the Unix epoch.
    pub received_at: u64,
    /// The assignment's due time, seconds since the Unix epoch.
    pub due_at: u64,
    /// Received after the due time.
    pub late: bool,
    /// Version of this file name for this assignment (1, 2, ...).
    pub version: u32,
}

impl ReceiptBody {
    /// What Blackboard attests for a stored submission `entry` to an assignment due at
    /// `due_at` (seconds since the Unix epoch): the entry's fields and the due time.
    pub fn for_entry(entry: &SubmissionEntry, due_at: u64) -> Self {
        Self {
            id: entry.id.clone(),
            student_id: entry.student_id.clone(),
            course: entry.course.clone(),
            assignment: entry.assignment.clone(),
            file_name: entry.file_name.clone(),
            size: entry.size,
            sha256: entry.sha256,
            received_at: entry.received_at,
            due_at,
            late: entry.late,
            version: entry.version,
        }
    }

    /// The canonical encoding that is signed.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_slice(MAGIC);
        for s in [
            &self.id,
            &self.student_id,
            &self.course,
            &self.assignment,
            &self.file_name,
        ] {
            let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
            b.put_u16(s.len() as u16);
            b.put_slice(s);
        }
        b.put_u64(self.size);
        b.put_slice(&self.sha256);
        b.put_u64(self.received_at);
        b.put_u64(self.due_at);
        b.put_u8(u8::from(self.late));
        b.put_u32(self.version);
        b.to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let bad = |m: &str| ReceiptError(format!("receipt body: {m}"));
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("not a handin receipt (magic)"))?;
        let mut r = Reader(Bytes::copy_from_slice(rest));
        let body = (|| {
            Ok::<_, crate::msg::DecodeError>(Self {
                id: r.str()?,
                student_id: r.str()?,
                course: r.str()?,
                assignment: r.str()?,
                file_name: r.str()?,
                size: r.u64()?,
                sha256: r.hash()?,
                received_at: r.u64()?,
                due_at: r.u64()?,
                late: r.bool()?,
                version: r.u32()?,
            })
        })()
        .map_err(|e| bad(&e.0))?;
        if !r.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(body)
    }
}

/// A receipt could not be made, read or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReceiptError(pub String);

/// A signed receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    body: Vec<u8>,
    scheme: u16,
    signature: Vec<u8>,
}

impl Receipt {
    /// Decodes a receipt's bytes (not yet verified).
    pub fn decode(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let mut r = Reader(Bytes::copy_from_slice(bytes));
        let bad = |e: crate::msg::DecodeError| ReceiptError(format!("receipt: {}", e.0));
        let body = r.bytes().map_err(bad)?.to_vec();
        let scheme = r.u16().map_err(bad)?;
        let n = r.u16().map_err(bad)? as usize;
        if r.0.len() < n {
            return Err(ReceiptError("receipt: truncated signature".into()));
        }
        let signature = r.0.split_to(n).to_vec();
        if !r.is_empty() {
            return Err(ReceiptError("receipt: trailing bytes".into()));
        }
        Ok(Self {
            body,
            scheme,
            signature,
        })
    }

    /// The receipt's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_u32(self.body.len() as u32);
        b.put_slice(&self.body);
        b.put_u16(self.scheme);
        b.put_u16(self.signature.len() as u16);
        b.put_slice(&self.signature);
        b.to_vec()
    }

    /// The receipt as a PEM block (`-----BEGIN HANDIN RECEIPT-----`), for a file.
    pub fn to_pem(&self) -> String {
        to_pem(PEM_LABEL, &self.encode())
    }

    /// Reads a receipt from a PEM file's text.
    pub fn from_pem(text: &[u8]) -> Result<Self, ReceiptError> {
        // The pem crate, not rustls-pki-types: that one reads only the PKI's labels.
        let p = ::pem::parse(text).map_err(|e| ReceiptError(format!("receipt file: {e}")))?;
        if p.tag() != PEM_LABEL {
            return Err(ReceiptError(format!(
                "receipt file holds a {} block, not a {PEM_LABEL}",
                p.tag()
            )));
        }
        Self::decode(p.contents())
    }

    /// Checks the signature with Blackboard's certificate and returns what it attests.
    pub fn verify(&self, blackboard_cert: &[u8]) -> Result<ReceiptBody, ReceiptError> {
        let (_, cert) = X509Certificate::from_der(blackboard_cert)
            .map_err(|e| ReceiptError(format!("Blackboard certificate does not parse: {e}")))?;
        let key = &cert.public_key().subject_public_key.data;
        let alg: &dyn signature::VerificationAlgorithm = match SignatureScheme::from(self.scheme) {
            SignatureScheme::ECDSA_NISTP256_SHA256 => &signature::ECDSA_P256_SHA256_ASN1,
            SignatureScheme::ECDSA_NISTP384_SHA384 => &signature::ECDSA_P384_SHA384_ASN1,
            SignatureScheme::RSA_PSS_SHA256 => &signature::RSA_PSS_2048_8192_SHA256,
            SignatureScheme::ED25519 => &signature::ED25519,
            other => {
                return Err(ReceiptError(format!(
                    "receipt signed with unsupported scheme {other:?}"
                )))
            }
        };
        signature::UnparsedPublicKey::new(alg, key)
            .verify(&self.body, &self.signature)
            .map_err(|_| {
                ReceiptError(
                    "receipt signature does not verify with this Blackboard certificate".into(),
                )
            })?;
        ReceiptBody::decode(&self.body)
    }

    /// What the receipt says, without checking the signature (for display only).
    pub fn body_unverified(&self) -> Result<ReceiptBody, ReceiptError> {
        ReceiptBody::decode(&self.body)
    }
}

/// Signs receipts with Blackboard's key (the key of its TLS certificate).
#[derive(Clone)]
pub struct ReceiptSigner {
    key: Arc<dyn SigningKey>,
    cert: CertificateDer<'static>,
}

impl fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiptSigner").finish_non_exhaustive()
    }
}

impl ReceiptSigner {
    /// A signer from Blackboard's private key and certificate.
    pub fn new(
        key: &PrivateKeyDer<'_>,
        cert: CertificateDer<'static>,
    ) -> Result<Self, ReceiptError> {
        let key = crate::config::provider()
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| ReceiptError(format!("Blackboard key: {e}")))?;
        let signer = Self { key, cert };
        // Prove the key and the certificate belong together before anything is signed.
        let probe = ReceiptBody {
            id: "probe".into(),
            student_id: String::new(),
            course: String::new(),
            assignment: String::new(),
            file_name: String::new(),
            size: 0,
            sha256: [0; 32],
            received_at: 0,
            due_at: 0,
            late: false,
            version: 0,
        };
        signer
            .sign(&probe)?
            .verify(&signer.cert)
            .map_err(|_| ReceiptError("the receipt key does not match the certificate".into()))?;
        Ok(signer)
    }

    /// Signs a receipt body.
    pub fn sign(&self, body: &ReceiptBody) -> Result<Receipt, ReceiptError> {
        let signer = self
            .key
            .choose_scheme(&[
                SignatureScheme::ECDSA_NISTP256_SHA256,
                SignatureScheme::ECDSA_NISTP384_SHA384,
                SignatureScheme::ED25519,
                SignatureScheme::RSA_PSS_SHA256,
            ])
            .ok_or_else(|| ReceiptError("the key has no supported signature scheme".into()))?;
        let bytes = body.encode();
        let signature = signer
            .sign(&bytes)
            .map_err(|e| ReceiptError(format!("signing: {e}")))?;
        Ok(Receipt {
            body: bytes,
            scheme: u16::from(signer.scheme()),
            signature,
        })
    }

    /// The certificate whose key signs.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.cert
    }
}
