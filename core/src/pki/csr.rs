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
/// The largest RSA modulus accepted, in bits: the largest the TLS library verifies signatures
/// with, so a certificate for a larger key could never authenticate. Refused before any
/// signature is checked, so that nobody can make CUHK spend time on a huge key.
pub const MAX_RSA_BITS: usize = 8192;

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
    #[error("key not allowed: {0}; use ECDSA P-256 (the default), P-384 or RSA of {MIN_RSA_BITS} to {MAX_RSA_BITS} bits")]
    WeakKey(String),
    /// The RSA key has this many bits, more than [`MAX_RSA_BITS`].
    #[error("the CSR's RSA key is {0} bits: at most {MAX_RSA_BITS} are accepted; use ECDSA P-256 (the default), P-384 or RSA of {MIN_RSA_BITS} to {MAX_RSA_BITS} bits")]
    RsaKeyTooLarge(usize),
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
            Self::WeakKey(_) | Self::RsaKeyTooLarge(_) | Self::WeakAlgorithm(_) => {
                RefusalCode::WeakKey
            }
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

/// The size in bits of an RSA modulus given as a big-endian unsigned integer (leading zero
/// bytes, as DER puts before a high bit, do not count).
fn modulus_bits(modulus: &[u8]) -> usize {
    let start = modulus
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(modulus.len());
    match modulus.get(start) {
        Some(first) => (modulus.len() - start) * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// Checks a CSR (PEM or DER) against CUHK's policy.
///
/// In order: it parses with nothing trailing; the signature algorithm is SHA-256 or better
/// (SHA-1 and MD5 are refused by name); the key is P-256, P-384 or RSA of 2048 to 8192 bits
/// ([`MIN_RSA_BITS`], [`MAX_RSA_BITS`]); the signature verifies with the CSR's own key; the common name is a 10-digit student ID; and,
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
                let bits = modulus_bits(rsa.modulus);
                if bits < MIN_RSA_BITS {
                    return Err(CsrError::WeakKey(format!("RSA {bits} bits is too small")));
                }
                if bits > MAX_RSA_BITS {
                    return Err(CsrError::RsaKeyTooLarge(bits));
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

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, PublicKeyData, SigningKey};

    /// An RSA "key" with a modulus of `bits` bits that signs nothing: its CSRs carry a signature
    /// that never verifies, so a refusal other than `BadSignature` was decided before the
    /// signature was checked.
    struct UnsignedRsa {
        public_key: Vec<u8>,
    }

    fn der_len(n: usize) -> Vec<u8> {
        match n {
            0..=0x7f => vec![n as u8],
            0x80..=0xff => vec![0x81, n as u8],
            _ => vec![0x82, (n >> 8) as u8, n as u8],
        }
    }

    fn der(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend(der_len(body.len()));
        out.extend(body);
        out
    }

    impl UnsignedRsa {
        fn with_bits(bits: usize) -> Self {
            // Exactly `bits` bits, odd; a leading zero byte keeps a high top bit positive.
            let mut modulus = vec![0u8; bits.div_ceil(8)];
            modulus[0] = 0x80 >> ((8 - bits % 8) % 8);
            if let Some(last) = modulus.last_mut() {
                *last |= 1;
            }
            if modulus[0] & 0x80 != 0 {
                modulus.insert(0, 0);
            }
            let mut body = der(0x02, &modulus);
            body.extend(der(0x02, &[0x01, 0x00, 0x01]));
            Self {
                public_key: der(0x30, &body),
            }
        }
    }

    impl PublicKeyData for UnsignedRsa {
        fn der_bytes(&self) -> &[u8] {
            &self.public_key
        }

        fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
            &rcgen::PKCS_RSA_SHA256
        }
    }

    impl SigningKey for UnsignedRsa {
        fn sign(&self, _msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
            Ok(vec![0x42; 256])
        }
    }

    fn csr_with_rsa_bits(bits: usize) -> Vec<u8> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "1155000001");
        params.distinguished_name = dn;
        let csr = params.serialize_request(&UnsignedRsa::with_bits(bits));
        csr.map(|c| c.der().to_vec()).unwrap_or_default()
    }

    #[test]
    fn an_rsa_key_over_the_maximum_is_refused_by_its_size_before_the_signature_is_checked() {
        for bits in [MAX_RSA_BITS + 1, 9216, 16384] {
            let err = check_csr(&csr_with_rsa_bits(bits), None).unwrap_err();
            assert_eq!(err, CsrError::RsaKeyTooLarge(bits));
            assert_eq!(err.code(), RefusalCode::WeakKey);
            let text = err.to_string();
            assert!(
                text.contains(&format!(
                    "RSA key is {bits} bits: at most 8192 are accepted"
                )),
                "{text}"
            );
        }
        // At the limits, the size passes and the (absent) proof of possession is what fails.
        for bits in [MIN_RSA_BITS, MAX_RSA_BITS] {
            let err = check_csr(&csr_with_rsa_bits(bits), None).unwrap_err();
            assert_eq!(err, CsrError::BadSignature, "{bits} bits");
        }
        let err = check_csr(&csr_with_rsa_bits(MIN_RSA_BITS - 1), None).unwrap_err();
        assert!(matches!(err, CsrError::WeakKey(_)), "{err:?}");
    }

    #[test]
    fn the_modulus_size_counts_significant_bits_only() {
        assert_eq!(modulus_bits(&[]), 0);
        assert_eq!(modulus_bits(&[0, 0]), 0);
        assert_eq!(modulus_bits(&[0x01]), 1);
        assert_eq!(modulus_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(modulus_bits(&[0x7f, 0xff]), 15);
        assert_eq!(modulus_bits(&[0x00, 0x00, 0x01, 0x00]), 9);
    }
}
