//! Commitments: a student's promise, logged before an assignment's due time, of the bytes they
//! will hand in (file name, size, SHA-256). Blackboard signs the commitment and logs it; a
//! submission of exactly those bytes received after the due time but within the assignment's
//! grace period counts as on time, and its receipt says when the commitment was made.
//!
//! ```text
//! body = "handin-commitment/1" | str student_id | str course | str assignment
//!        | str file_name | u64 size | [32] sha256 | u64 committed_at | str log
//! ```
//!
//! `log` is the verifier key (C2SP vkey) of the log that holds the commitment.

use super::LogProof;
use crate::msg::Reader;
use crate::pki::to_pem;
use crate::signed::Envelope;
use crate::tlog::{Checkpoint, NoteVerifier};
use bytes::{BufMut, Bytes, BytesMut};

const MAGIC: &[u8] = b"handin-commitment/1";
/// PEM label of a commitment file.
pub const PEM_LABEL: &str = "HANDIN COMMITMENT";

/// What a commitment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentBody {
    /// The authenticated student.
    pub student_id: String,
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// File name.
    pub file_name: String,
    /// Size of the bytes committed to.
    pub size: u64,
    /// SHA-256 of the bytes committed to.
    pub sha256: [u8; 32],
    /// When Blackboard logged it, seconds since the Unix epoch.
    pub committed_at: u64,
    /// The verifier key of the log that holds it.
    pub log: String,
}

pub(crate) fn put_str(b: &mut BytesMut, s: &str) {
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    b.put_u16(s.len() as u16);
    b.put_slice(s);
}

impl CommitmentBody {
    /// The canonical encoding: what is signed and logged.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_slice(MAGIC);
        for s in [
            &self.student_id,
            &self.course,
            &self.assignment,
            &self.file_name,
        ] {
            put_str(&mut b, s);
        }
        b.put_u64(self.size);
        b.put_slice(&self.sha256);
        b.put_u64(self.committed_at);
        put_str(&mut b, &self.log);
        b.to_vec()
    }

    /// Reads a body; `None` if the bytes are not a commitment (another magic).
    pub fn decode(bytes: &[u8]) -> Option<Result<Self, String>> {
        let rest = bytes.strip_prefix(MAGIC)?;
        let mut r = Reader(Bytes::copy_from_slice(rest));
        let body = (|| {
            Ok::<_, crate::msg::DecodeError>(Self {
                student_id: r.str()?,
                course: r.str()?,
                assignment: r.str()?,
                file_name: r.str()?,
                size: r.u64()?,
                sha256: r.hash()?,
                committed_at: r.u64()?,
                log: r.str()?,
            })
        })()
        .map_err(|e| format!("commitment: {}", e.0));
        Some(match body {
            Ok(_) if !r.is_empty() => Err("commitment: trailing bytes".into()),
            other => other,
        })
    }
}

/// A signed commitment, with its log proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commitment {
    pub(crate) env: Envelope,
}

impl Commitment {
    /// Decodes a commitment's bytes (not yet verified).
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        Ok(Self {
            env: Envelope::decode(bytes, "commitment")?,
        })
    }

    /// The commitment's bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.env.encode()
    }

    /// As a PEM block, for a file.
    pub fn to_pem(&self) -> String {
        to_pem(PEM_LABEL, &self.encode())
    }

    /// Reads a commitment from a PEM file's text.
    pub fn from_pem(text: &[u8]) -> Result<Self, String> {
        let p = ::pem::parse(text).map_err(|e| format!("commitment file: {e}"))?;
        if p.tag() != PEM_LABEL {
            return Err(format!(
                "the file holds a {} block, not a {PEM_LABEL}",
                p.tag()
            ));
        }
        Self::decode(p.contents())
    }

    /// Its log proof, if it has one.
    pub fn log_proof(&self) -> Option<&LogProof> {
        self.env.log.as_deref()
    }

    /// Attaches the log proof.
    pub fn with_log(mut self, proof: LogProof) -> Self {
        self.env.log = Some(Box::new(proof));
        self
    }

    /// Checks the signature with Blackboard's certificate and the log proof against the log
    /// key the body names; answers the body and the checkpoint.
    pub fn verify(&self, blackboard_cert: &[u8]) -> Result<(CommitmentBody, Checkpoint), String> {
        self.env.check_signature(blackboard_cert, "commitment")?;
        let body = self.body_unverified()?;
        let verifier = NoteVerifier::from_vkey(&body.log)
            .map_err(|e| format!("the commitment's log key: {e}"))?;
        let proof = self
            .log_proof()
            .ok_or("the commitment carries no log proof")?;
        let checkpoint = proof
            .verify(&self.env.body, &verifier)
            .map_err(|e| format!("the commitment's log proof: {e}"))?;
        Ok((body, checkpoint))
    }

    /// What it says, unchecked (for display).
    pub fn body_unverified(&self) -> Result<CommitmentBody, String> {
        CommitmentBody::decode(&self.env.body)
            .unwrap_or_else(|| Err("not a handin commitment (magic)".into()))
    }
}
