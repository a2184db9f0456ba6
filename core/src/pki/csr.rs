//! CSR policy: parse, check the key and algorithm, verify proof of possession, read the ID.
//!
//! Only the CSR's public key and requested common name are ever used. Extensions it asks for
//! (`CA:TRUE`, key usages, anything) are ignored: the certificate is built from scratch by
//! [`super::Ca::issue_student`].

use super::StudentId;
use crate::error::RefusalCode;
use std::fmt;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_MD5WITHRSAENC,
    OID_PKCS1_RSAENCRYPTION, OID_PKCS1_SHA1WITHRSA, OID_PKCS1_SHA256WITHRSA,
    OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA, OID_SHA1_WITH_RSA, OID_SIG_ECDSA_WITH_SHA256,
    OID_SIG_ECDSA_WITH_SHA384,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// The kind of key in an accepted CSR.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// RSA with this many modulus bits.
    Rsa(usize),
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EcdsaP256 => f.write_str("ECDSA P-256"),
            Self::EcdsaP384 => f.write_str("ECDSA P-384"),
            Self::Rsa(bits) => write!(f, "RSA {bits}"),
        }
    }
}

/// Why a CSR was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    /// Not a CSR, or trailing garbage.
    #[error("the CSR is malformed: {0}")]
    Malformed(String),
    /// The CSR's signature does not verify with its own key (no proof of possession).
    #[error("the CSR's signature does not verify with its own key (no proof of possession)")]
    BadSignature,
    /// The key type or size is not allowed.
    #[error("key not allowed: {0}; use ECDSA P-256 (the default), P-384 or RSA 2048+")]
    WeakKey(String),
    /// The signature algorithm is not allowed (SHA-1, MD5, unknown).
    #[error("signature algorithm not allowed: {0}; sign the CSR with SHA-256 or better")]
    WeakAlgorithm(String),
    /// The subject has no usable common name.
    #[error("the CSR's subject is not usable: {0}")]
    BadSubject(String),
    /// The CSR's common name is a different student ID than the one enrolling.
    #[error("the CSR is for student {csr}, but you are enrolling as {expected}")]
    IdMismatch {
        /// The ID in the CSR.
        csr: String,
        /// The ID that was expected.
        expected: String,
    },
}

impl CsrError {
    /// The refusal code sent to the peer for this error.
    pub fn code(&self) -> RefusalCode {
        match self {
            Self::Malformed(_) | Self::BadSignature | Self::BadSubject(_) => {
                RefusalCode::CsrInvalid
            }
            Self::WeakKey(_) | Self::WeakAlgorithm(_) => RefusalCode::WeakKey,
            Self::IdMismatch { .. } => RefusalCode::CsrIdMismatch,
        }
    }
}

/// A CSR that passed the policy: its key, and the student ID it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCsr {
    student_id: StudentId,
    kind: KeyKind,
    spki: Vec<u8>,
    public_key: Vec<u8>,
}

impl CheckedCsr {
    /// The student ID from the CSR's common name.
    pub fn student_id(&self) -> &StudentId {
        &self.student_id
    }

    /// The key type.
    pub fn key_kind(&self) -> KeyKind {
        self.kind
    }

    /// The DER SubjectPublicKeyInfo from the CSR.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }
}

impl rcgen::PublicKeyData for CheckedCsr {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.kind {
            KeyKind::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyKind::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

/// Checks a CSR (PEM or DER) against CUHK's policy.
///
/// In order: it parses with nothing trailing; the signature algorithm is SHA-256 or better
/// (SHA-1 and MD5 are refused by name); the key is P-256, P-384 or RSA of at least 2048 bits;
/// the signature verifies with the CSR's own key; the common name is a 10-digit student ID; and,
/// when `expected` is given, it is that ID.
pub fn check_csr(input: &[u8], expected: Option<&StudentId>) -> Result<CheckedCsr, CsrError> {
    let der = super::from_pem_or_der(input, "CERTIFICATE REQUEST")
        .map_err(CsrError::Malformed)?
        .remove(0);
    let (rest, csr) =
        X509CertificationRequest::from_der(&der).map_err(|e| CsrError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CsrError::Malformed(format!(
            "{} bytes after the CSR",
            rest.len()
        )));
    }

    let alg = &csr.signature_algorithm.algorithm;
    if *alg == OID_PKCS1_SHA1WITHRSA
        || *alg == OID_SHA1_WITH_RSA
        || alg.to_id_string() == "1.2.840.10045.4.1"
    {
        return Err(CsrError::WeakAlgorithm("SHA-1".into()));
    }
    if *alg == OID_PKCS1_MD5WITHRSAENC {
        return Err(CsrError::WeakAlgorithm("MD5".into()));
    }
    let info = &csr.certification_request_info;
    let spki = &info.subject_pki;
    let key_alg = &spki.algorithm.algorithm;
    let kind = if *key_alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        match curve {
            Some(c) if c == OID_EC_P256 => KeyKind::EcdsaP256,
            Some(c) if c == OID_NIST_EC_P384 => KeyKind::EcdsaP384,
            Some(c) => return Err(CsrError::WeakKey(format!("elliptic curve {c}"))),
            None => return Err(CsrError::WeakKey("elliptic curve not named".into())),
        }
    } else if *key_alg == OID_PKCS1_RSAENCRYPTION {
        match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => {
                let bits = rsa.key_size();
                if bits < MIN_RSA_BITS {
                    return Err(CsrError::WeakKey(format!("RSA {bits} bits is too small")));
                }
                KeyKind::Rsa(bits)
            }
            _ => return Err(CsrError::Malformed("RSA key does not parse".into())),
        }
    } else {
        return Err(CsrError::WeakKey(format!("key algorithm {key_alg}")));
    };
    let alg_ok = match kind {
        KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {
            *alg == OID_SIG_ECDSA_WITH_SHA256 || *alg == OID_SIG_ECDSA_WITH_SHA384
        }
        KeyKind::Rsa(_) => {
            *alg == OID_PKCS1_SHA256WITHRSA
                || *alg == OID_PKCS1_SHA384WITHRSA
                || *alg == OID_PKCS1_SHA512WITHRSA
        }
    };
    if !alg_ok {
        return Err(CsrError::WeakAlgorithm(format!("{alg} with a {kind} key")));
    }
    csr.verify_signature().map_err(|_| CsrError::BadSignature)?;

    let mut cns = info.subject.iter_common_name();
    let cn = cns
        .next()
        .ok_or_else(|| CsrError::BadSubject("no common name (CN)".into()))?;
    if cns.next().is_some() {
        return Err(CsrError::BadSubject("more than one common name".into()));
    }
    let cn = cn
        .as_str()
        .map_err(|_| CsrError::BadSubject("the common name is not text".into()))?;
    let student_id = StudentId::parse(cn).map_err(|_| {
        CsrError::BadSubject(format!(
            "the common name {cn:?} is not a 10-digit student ID"
        ))
    })?;
    if let Some(expected) = expected {
        if *expected != student_id {
            return Err(CsrError::IdMismatch {
                csr: student_id.to_string(),
                expected: expected.to_string(),
            });
        }
    }
    Ok(CheckedCsr {
        student_id,
        kind,
        spki: spki.raw.to_vec(),
        public_key: spki.subject_public_key.data.to_vec(),
    })
}
