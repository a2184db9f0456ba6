//! CSR policy: parse, check the key and algorithm, verify proof of possession, read the ID.
//!
//! The ID is the subject's common name: a 10-digit student ID or a staff login
//! ([`PersonId`]). Only the CSR's public key and that common name are ever used. Extensions it
//! asks for (`CA:TRUE`, key usages, anything) are ignored: the certificate is built from
//! scratch by [`super::Ca::issue_person`].

use super::{PersonId, StudentId};
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
    /// The CSR's common name is a different ID than the one enrolling.
    #[error(
        "the CSR is for {}, but you are enrolling as {expected}",
        described(csr)
    )]
    IdMismatch {
        /// The ID in the CSR.
        csr: String,
        /// The ID that was expected.
        expected: String,
    },
}

/// An ID with its kind in front (`student 1155000001`, `staff login prof.lee`); text that is
/// neither is shown quoted.
fn described(id: &str) -> String {
    match PersonId::parse(id) {
        Ok(p) => format!("{} {p}", p.kind()),
        Err(_) => format!("{id:?}"),
    }
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

/// A CSR that passed the policy: its key, and the ID (student ID or staff login) it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCsr {
    person: PersonId,
    kind: KeyKind,
    spki: Vec<u8>,
    public_key: Vec<u8>,
}

impl CheckedCsr {
    /// The ID from the CSR's common name: a student ID or a staff login.
    pub fn person(&self) -> &PersonId {
        &self.person
    }

    /// The student ID from the CSR's common name, if it is one (not a staff login).
    pub fn student_id(&self) -> Option<&StudentId> {
        self.person.student()
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

/// Checks a CSR (PEM or DER) against CUHK's policy: [`check_person_csr`] with, when
/// `expected` is given, that student's ID. Without `expected`, the CSR may be for any ID CUHK
/// certifies, a student ID or a staff login.
pub fn check_csr(input: &[u8], expected: Option<&StudentId>) -> Result<CheckedCsr, CsrError> {
    check_person_csr(input, expected.map(PersonId::from).as_ref())
}

/// Checks a CSR (PEM or DER) against CUHK's policy.
///
/// In order: it parses with nothing trailing; the signature algorithm is SHA-256 or better
/// (SHA-1 and MD5 are refused by name); the key is P-256, P-384 or RSA of 2048 to 8192 bits
/// ([`MIN_RSA_BITS`], [`MAX_RSA_BITS`]); the signature verifies with the CSR's own key; the
/// subject has exactly one common name, which is a 10-digit student ID or a staff login
/// ([`PersonId::parse`]: nothing is trimmed or case-folded); and, when `expected` is given, it
/// is that very ID.
pub fn check_person_csr(input: &[u8], expected: Option<&PersonId>) -> Result<CheckedCsr, CsrError> {
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
    let person = PersonId::parse(cn).map_err(|_| {
        CsrError::BadSubject(format!(
            "the common name {cn:?} is neither a 10-digit student ID nor a staff login"
        ))
    })?;
    if let Some(expected) = expected {
        if *expected != person {
            return Err(CsrError::IdMismatch {
                csr: person.to_string(),
                expected: expected.to_string(),
            });
        }
    }
    Ok(CheckedCsr {
        person,
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

    /// A real P-256 CSR whose subject has these common names, in order.
    fn csr_with_cns(cns: &[&str]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a key");
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        for (i, cn) in cns.iter().enumerate() {
            // rcgen keeps one value per attribute type: a second CN goes in as a raw OID.
            if i == 0 {
                dn.push(DnType::CommonName, *cn);
            } else {
                dn.push(DnType::CustomDnType(vec![2, 5, 4, 3]), *cn);
            }
        }
        params.distinguished_name = dn;
        params
            .serialize_request(&key)
            .expect("a CSR")
            .der()
            .to_vec()
    }

    #[test]
    fn a_staff_login_csr_passes_for_that_login_only() {
        let lee = PersonId::parse("prof.lee").expect("a login");
        let csr = check_person_csr(&csr_with_cns(&["prof.lee"]), Some(&lee)).expect("accepted");
        assert_eq!(csr.person(), &lee);
        assert_eq!(csr.student_id(), None);
        // Without an expected ID, any ID CUHK certifies passes.
        let any = check_csr(&csr_with_cns(&["prof.lee"]), None).expect("accepted");
        assert_eq!(any.person(), &lee);

        let chan = PersonId::parse("prof.chan").expect("a login");
        let err = check_person_csr(&csr_with_cns(&["prof.lee"]), Some(&chan)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the CSR is for staff login prof.lee, but you are enrolling as prof.chan"
        );
        assert_eq!(err.code(), RefusalCode::CsrIdMismatch);
        let alice = StudentId::parse("1155000001").expect("an ID");
        let err = check_csr(&csr_with_cns(&["prof.lee"]), Some(&alice)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the CSR is for staff login prof.lee, but you are enrolling as 1155000001"
        );
        let err = check_person_csr(&csr_with_cns(&["1155000001"]), Some(&lee)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the CSR is for student 1155000001, but you are enrolling as prof.lee"
        );
    }

    #[test]
    fn a_common_name_that_is_almost_a_login_is_refused() {
        for cn in [
            "Prof.Lee",
            "PROF.LEE",
            "prof.lee ",
            "prof.lee\n",
            "prof.lee\0",
            "prof/lee",
            "prof_lee",
            "p",
            "-prof",
            "pr\u{200b}of",
            "\u{ff50}rof",
            "prof.l\u{0435}e",
            "a23456789012345678901234567890123",
        ] {
            let err = check_csr(&csr_with_cns(&[cn]), None).unwrap_err();
            assert!(matches!(err, CsrError::BadSubject(_)), "{cn:?}: {err:?}");
            assert_eq!(err.code(), RefusalCode::CsrInvalid);
            assert!(!err.to_string().contains(['\n', '\0']), "{err}");
        }
        // Two common names, whatever they are, are refused: which one would be the ID?
        let err = check_csr(&csr_with_cns(&["prof.lee", "1155000001"]), None).unwrap_err();
        assert!(matches!(err, CsrError::BadSubject(_)), "{err:?}");
    }
}
