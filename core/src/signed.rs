//! The envelope of a statement Blackboard signs (a receipt, a commitment): the statement's
//! canonical bytes, a signature over them by Blackboard's certificate key, and, when the
//! statement was logged, the proof that it is in Blackboard's log ([`LogProof`]).
//!
//! ```text
//! envelope = u32 body_len | body | u16 signature_scheme | u16 sig_len | signature
//!            [ "tlog" | log_proof ]
//! ```
//!
//! `signature_scheme` is the TLS SignatureScheme code point (0x0403 = ECDSA P-256 SHA-256).
//! The log proof is not signed by the certificate key: the checkpoint in it is signed by the
//! log's key, which the body names, and the proof ties the body to that checkpoint.

use crate::logs::LogProof;
use crate::msg::Reader;
use aws_lc_rs::signature;
use bytes::{BufMut, Bytes, BytesMut};
use rustls::sign::SigningKey;
use rustls::SignatureScheme;
use x509_parser::prelude::*;

const LOG_TAG: &[u8] = b"tlog";

/// A signed statement, decoded but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub(crate) body: Vec<u8>,
    scheme: u16,
    signature: Vec<u8>,
    pub(crate) log: Option<Box<LogProof>>,
}

impl Envelope {
    /// Signs `body` with `key`.
    pub(crate) fn sign(key: &dyn SigningKey, body: Vec<u8>) -> Result<Self, String> {
        let signer = key
            .choose_scheme(&[
                SignatureScheme::ECDSA_NISTP256_SHA256,
                SignatureScheme::ECDSA_NISTP384_SHA384,
                SignatureScheme::ED25519,
                SignatureScheme::RSA_PSS_SHA256,
            ])
            .ok_or("the key has no supported signature scheme")?;
        let signature = signer.sign(&body).map_err(|e| format!("signing: {e}"))?;
        Ok(Self {
            body,
            scheme: u16::from(signer.scheme()),
            signature,
            log: None,
        })
    }

    /// Decodes an envelope (`what`: "receipt", "commitment", for messages).
    pub(crate) fn decode(bytes: &[u8], what: &str) -> Result<Self, String> {
        let mut r = Reader(Bytes::copy_from_slice(bytes));
        let bad = |e: crate::msg::DecodeError| format!("{what}: {}", e.0);
        let body = r.bytes().map_err(bad)?.to_vec();
        let scheme = r.u16().map_err(bad)?;
        let n = r.u16().map_err(bad)? as usize;
        if r.0.len() < n {
            return Err(format!("{what}: truncated signature"));
        }
        let signature = r.0.split_to(n).to_vec();
        let log = if r.is_empty() {
            None
        } else if r.0.starts_with(LOG_TAG) {
            let proof = LogProof::decode(&r.0[LOG_TAG.len()..])
                .map_err(|e| format!("{what}: its log proof: {e}"))?;
            Some(Box::new(proof))
        } else {
            return Err(format!("{what}: trailing bytes"));
        };
        Ok(Self {
            body,
            scheme,
            signature,
            log,
        })
    }

    /// The envelope's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_u32(self.body.len() as u32);
        b.put_slice(&self.body);
        b.put_u16(self.scheme);
        b.put_u16(self.signature.len() as u16);
        b.put_slice(&self.signature);
        if let Some(proof) = &self.log {
            b.put_slice(LOG_TAG);
            b.put_slice(&proof.encode());
        }
        b.to_vec()
    }

    /// Checks the signature with the signer's certificate (DER).
    pub(crate) fn check_signature(&self, cert_der: &[u8], what: &str) -> Result<(), String> {
        let (_, cert) = X509Certificate::from_der(cert_der)
            .map_err(|e| format!("Blackboard certificate does not parse: {e}"))?;
        let key = &cert.public_key().subject_public_key.data;
        let alg: &dyn signature::VerificationAlgorithm = match SignatureScheme::from(self.scheme) {
            SignatureScheme::ECDSA_NISTP256_SHA256 => &signature::ECDSA_P256_SHA256_ASN1,
            SignatureScheme::ECDSA_NISTP384_SHA384 => &signature::ECDSA_P384_SHA384_ASN1,
            SignatureScheme::RSA_PSS_SHA256 => &signature::RSA_PSS_2048_8192_SHA256,
            SignatureScheme::ED25519 => &signature::ED25519,
            other => return Err(format!("{what} signed with unsupported scheme {other:?}")),
        };
        signature::UnparsedPublicKey::new(alg, key)
            .verify(&self.body, &self.signature)
            .map_err(|_| {
                format!("{what} signature does not verify with this Blackboard certificate")
            })
    }
}
