//! Receipts: Blackboard's signed statement that it stored a submission.
//!
//! A receipt is a canonical byte encoding of [`ReceiptBody`] and a signature over those bytes
//! by Blackboard's certificate key (the envelope of [`crate::signed`]), and, since Blackboard
//! logs its receipts, the proof that its log holds the body ([`LogProof`]). Anyone holding
//! Blackboard's certificate can check it offline with [`Receipt::verify`]; the student keeps it
//! as proof of what was handed in, and when.
//!
//! Body encoding (integers big-endian; `str` = u16 length + UTF-8):
//!
//! ```text
//! body/1 = "handin-receipt/1" | str id | str student_id | str course | str assignment
//!          | str file_name | u64 size | [32] sha256 | u64 received_at | u64 due_at
//!          | u8 late | u32 version
//! body/2 = "handin-receipt/2" | the fields of body/1
//!          | u8 committed | u64 committed_at | str log
//! ```
//!
//! Version 2 is written whenever the receipt is logged (`log` is the log's verifier key) or
//! made on time by a commitment (`committed_at`); version 1 receipts still verify.

use crate::logs::{Commitment, CommitmentBody, LogProof};
use crate::msg::{Reader, SubmissionEntry};
use crate::pki::to_pem;
use crate::signed::Envelope;
use crate::tlog::{Checkpoint, NoteVerifier};
use bytes::{BufMut, Bytes, BytesMut};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::SigningKey;
use std::fmt;
use std::sync::Arc;

const MAGIC: &[u8] = b"handin-receipt/1";
const MAGIC2: &[u8] = b"handin-receipt/2";
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
    /// Received after the due time (and not made on time by a commitment).
    pub late: bool,
    /// Version of this file name for this assignment (1, 2, ...).
    pub version: u32,
    /// When the student committed to these bytes, if a commitment made the submission on time
    /// (seconds since the Unix epoch).
    pub committed_at: Option<u64>,
    /// The verifier key of the log that holds this receipt (empty: not logged).
    pub log: String,
}

impl ReceiptBody {
    /// What Blackboard attests for a stored submission `entry` to an assignment due at
    /// `due_at` (seconds since the Unix epoch): the entry's fields and the due time; neither
    /// committed nor logged.
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
            committed_at: None,
            log: String::new(),
        }
    }

    /// The canonical encoding that is signed (and logged).
    pub fn encode(&self) -> Vec<u8> {
        let v2 = self.committed_at.is_some() || !self.log.is_empty();
        let mut b = BytesMut::new();
        b.put_slice(if v2 { MAGIC2 } else { MAGIC });
        for s in [
            &self.id,
            &self.student_id,
            &self.course,
            &self.assignment,
            &self.file_name,
        ] {
            put_str(&mut b, s);
        }
        b.put_u64(self.size);
        b.put_slice(&self.sha256);
        b.put_u64(self.received_at);
        b.put_u64(self.due_at);
        b.put_u8(u8::from(self.late));
        b.put_u32(self.version);
        if v2 {
            b.put_u8(u8::from(self.committed_at.is_some()));
            b.put_u64(self.committed_at.unwrap_or(0));
            put_str(&mut b, &self.log);
        }
        b.to_vec()
    }

    /// Reads a body of either version.
    pub fn decode(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let bad = |m: &str| ReceiptError(format!("receipt body: {m}"));
        let (v2, rest) = match (bytes.strip_prefix(MAGIC2), bytes.strip_prefix(MAGIC)) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(bad("not a handin receipt (magic)")),
        };
        let mut r = Reader(Bytes::copy_from_slice(rest));
        let body = (|| {
            let mut body = Self {
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
                committed_at: None,
                log: String::new(),
            };
            if v2 {
                let committed = r.bool()?;
                let at = r.u64()?;
                if !committed && at != 0 {
                    return Err(crate::msg::DecodeError(
                        "a commitment time without its flag".into(),
                    ));
                }
                body.committed_at = committed.then_some(at);
                body.log = r.str()?;
            }
            Ok::<_, crate::msg::DecodeError>(body)
        })()
        .map_err(|e| bad(&e.0))?;
        if !r.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(body)
    }
}

fn put_str(b: &mut BytesMut, s: &str) {
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    b.put_u16(s.len() as u16);
    b.put_slice(s);
}

/// A receipt could not be made, read or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReceiptError(pub String);

/// A signed receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    env: Envelope,
}

/// What a verified receipt proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// What Blackboard attests.
    pub body: ReceiptBody,
    /// The checkpoint of Blackboard's log that the receipt's proof leads to (`None`: the
    /// receipt was not logged).
    pub checkpoint: Option<Checkpoint>,
}

impl Receipt {
    /// Decodes a receipt's bytes (not yet verified).
    pub fn decode(bytes: &[u8]) -> Result<Self, ReceiptError> {
        Envelope::decode(bytes, "receipt")
            .map(|env| Self { env })
            .map_err(ReceiptError)
    }

    /// The receipt's bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.env.encode()
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

    /// The signed body's bytes: the entry Blackboard's log holds.
    pub fn body_bytes(&self) -> &[u8] {
        &self.env.body
    }

    /// Its log proof, if it has one.
    pub fn log_proof(&self) -> Option<&LogProof> {
        self.env.log.as_deref()
    }

    /// Attaches the proof that Blackboard's log holds it.
    pub fn with_log(mut self, proof: LogProof) -> Self {
        self.env.log = Some(Box::new(proof));
        self
    }

    /// Checks the signature with Blackboard's certificate and returns what it attests; a
    /// logged receipt's log proof is checked too ([`Receipt::verify_logged`]).
    pub fn verify(&self, blackboard_cert: &[u8]) -> Result<ReceiptBody, ReceiptError> {
        self.verify_logged(blackboard_cert).map(|v| v.body)
    }

    /// Checks only the signature with Blackboard's certificate (not the log proof), and returns
    /// what the receipt attests: to tell an altered or foreign receipt from one whose log proof
    /// fails. [`Receipt::verify_logged`] checks both.
    pub fn verify_signature(&self, blackboard_cert: &[u8]) -> Result<ReceiptBody, ReceiptError> {
        self.env
            .check_signature(blackboard_cert, "receipt")
            .map_err(ReceiptError)?;
        ReceiptBody::decode(&self.env.body)
    }

    /// Checks the signature with Blackboard's certificate and, if the body names a log, that
    /// the attached proof leads from the body to a checkpoint signed by that log's key; all
    /// offline.
    pub fn verify_logged(&self, blackboard_cert: &[u8]) -> Result<Verified, ReceiptError> {
        self.env
            .check_signature(blackboard_cert, "receipt")
            .map_err(ReceiptError)?;
        let body = ReceiptBody::decode(&self.env.body)?;
        if body.log.is_empty() {
            return Ok(Verified {
                body,
                checkpoint: None,
            });
        }
        let verifier = NoteVerifier::from_vkey(&body.log)
            .map_err(|e| ReceiptError(format!("the receipt's log key: {e}")))?;
        let proof = self.log_proof().ok_or_else(|| {
            ReceiptError("the receipt names a log but carries no proof of inclusion".into())
        })?;
        let checkpoint = proof
            .verify(&self.env.body, &verifier)
            .map_err(|e| ReceiptError(format!("the receipt's log proof: {e}")))?;
        Ok(Verified {
            body,
            checkpoint: Some(checkpoint),
        })
    }

    /// What the receipt says, without checking the signature (for display only).
    pub fn body_unverified(&self) -> Result<ReceiptBody, ReceiptError> {
        ReceiptBody::decode(&self.env.body)
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
            committed_at: None,
            log: String::new(),
        };
        signer
            .sign(&probe)?
            .verify(&signer.cert)
            .map_err(|_| ReceiptError("the receipt key does not match the certificate".into()))?;
        Ok(signer)
    }

    /// Signs a receipt body.
    pub fn sign(&self, body: &ReceiptBody) -> Result<Receipt, ReceiptError> {
        self.sign_receipt_bytes(body.encode())
    }

    /// Signs a receipt body given by its bytes (as logged).
    pub fn sign_receipt_bytes(&self, body: Vec<u8>) -> Result<Receipt, ReceiptError> {
        Envelope::sign(self.key.as_ref(), body)
            .map(|env| Receipt { env })
            .map_err(ReceiptError)
    }

    /// Signs a commitment body given by its bytes (as logged).
    pub fn sign_commitment_bytes(&self, body: Vec<u8>) -> Result<Commitment, ReceiptError> {
        Envelope::sign(self.key.as_ref(), body)
            .map(|env| Commitment { env })
            .map_err(ReceiptError)
    }

    /// Signs a commitment body.
    pub fn sign_commitment(&self, body: &CommitmentBody) -> Result<Commitment, ReceiptError> {
        self.sign_commitment_bytes(body.encode())
    }

    /// The certificate whose key signs.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.cert
    }
}
