//! The revoked set, loaded from a CRL whose signature was checked once, at load time.
//!
//! Servers check every connection's peer serial against this set, resumed or not: a TLS 1.3
//! session resumed from a ticket skips the TLS library's own revocation check.

use super::{normalize_serial, serial_hex};
use std::collections::HashSet;
use x509_parser::prelude::*;

/// Why a CRL was not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RevocationError(pub String);

/// A set of revoked serials from one CA.
#[derive(Debug, Clone, Default)]
pub struct Revocations {
    serials: HashSet<Vec<u8>>,
    number: Option<Vec<u8>>,
}

impl Revocations {
    /// Nothing revoked.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Loads a CRL (PEM or DER), checking that `ca_der` issued and signed it.
    pub fn from_crl(crl: &[u8], ca_der: &[u8]) -> Result<Self, RevocationError> {
        let der = super::from_pem_or_der(crl, "X509 CRL")
            .map_err(|e| RevocationError(format!("CRL: {e}")))?
            .remove(0);
        let (rest, crl) = CertificateRevocationList::from_der(&der)
            .map_err(|e| RevocationError(format!("CRL does not parse: {e}")))?;
        if !rest.is_empty() {
            return Err(RevocationError("bytes after the CRL".into()));
        }
        let (_, ca) = X509Certificate::from_der(ca_der)
            .map_err(|e| RevocationError(format!("CA certificate does not parse: {e}")))?;
        if crl.issuer() != ca.subject() {
            return Err(RevocationError(format!(
                "CRL issued by {}, not by the CA {}",
                crl.issuer(),
                ca.subject()
            )));
        }
        crl.verify_signature(ca.public_key())
            .map_err(|_| RevocationError("CRL signature does not verify with the CA key".into()))?;
        let serials = crl
            .iter_revoked_certificates()
            .map(|r| normalize_serial(r.raw_serial()))
            .collect();
        Ok(Self {
            serials,
            number: crl.crl_number().map(|n| n.to_bytes_be()),
        })
    }

    /// Whether a certificate serial (any encoding, leading zeros or not) is revoked.
    pub fn is_revoked(&self, raw_serial: &[u8]) -> bool {
        !self.serials.is_empty() && self.serials.contains(&normalize_serial(raw_serial))
    }

    /// How many serials are revoked.
    pub fn len(&self) -> usize {
        self.serials.len()
    }

    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.serials.is_empty()
    }

    /// The CRL number, as hex, if the CRL had one.
    pub fn number_hex(&self) -> Option<String> {
        self.number.as_deref().map(serial_hex)
    }
}
