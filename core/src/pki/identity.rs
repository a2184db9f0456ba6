//! Reading an identity out of a certificate that TLS already verified.

use super::{normalize_serial, PersonId, StudentId};
use std::time::{Duration, SystemTime};
use x509_parser::prelude::*;

/// Why a certificate is not a student identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdentityError(pub String);

/// What a log line or a user needs to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The subject, as `CN=..., O=...`.
    pub subject: String,
    /// The serial, big-endian without leading zeros.
    pub serial: Vec<u8>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

fn to_system_time(t: ASN1Time) -> SystemTime {
    let secs = t.timestamp();
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, IdentityError> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| IdentityError(format!("certificate does not parse: {e}")))?;
    if !rest.is_empty() {
        return Err(IdentityError("bytes after the certificate".into()));
    }
    Ok(cert)
}

/// Subject, serial and validity of a certificate.
pub fn certificate_info(der: &[u8]) -> Result<CertificateInfo, IdentityError> {
    let cert = parse(der)?;
    Ok(CertificateInfo {
        subject: cert.subject().to_string(),
        serial: normalize_serial(cert.raw_serial()),
        not_before: to_system_time(cert.validity().not_before),
        not_after: to_system_time(cert.validity().not_after),
    })
}

/// The student ID of a student certificate: [`person_of`], refusing a staff login.
pub fn student_id_of(der: &[u8]) -> Result<(StudentId, CertificateInfo), IdentityError> {
    match person_of(der)? {
        (PersonId::Student(id), info) => Ok((id, info)),
        (PersonId::Staff(login), _) => Err(IdentityError(format!(
            "the certificate of staff login {login} is not a student identity"
        ))),
    }
}

/// The person a certificate names: a student ID or a staff login.
///
/// Call this only on a certificate TLS verified against the CUHK root. It refuses anything that
/// is not a personal certificate as CUHK issues them: a CA, a certificate without the clientAuth
/// purpose or with the serverAuth purpose (a server's certificate), or one whose CN is neither a
/// 10-digit student ID nor a staff login.
pub fn person_of(der: &[u8]) -> Result<(PersonId, CertificateInfo), IdentityError> {
    let cert = parse(der)?;
    if cert.is_ca() {
        return Err(IdentityError(
            "a CA certificate is not a student identity".into(),
        ));
    }
    let eku = cert
        .extended_key_usage()
        .map_err(|e| IdentityError(format!("extended key usage does not parse: {e}")))?
        .ok_or_else(|| IdentityError("certificate has no extended key usage".into()))?;
    if !eku.value.client_auth {
        return Err(IdentityError(
            "certificate is not for client authentication (not a student certificate)".into(),
        ));
    }
    if eku.value.server_auth || eku.value.any {
        return Err(IdentityError(
            "a server certificate cannot be used as a student identity".into(),
        ));
    }
    let mut cns = cert.subject().iter_common_name();
    let cn = cns
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or_else(|| IdentityError("certificate has no common name".into()))?;
    if cns.next().is_some() {
        return Err(IdentityError(
            "certificate has more than one common name".into(),
        ));
    }
    let id = PersonId::parse(cn).map_err(|_| {
        IdentityError(format!(
            "common name {cn:?} is neither a student ID nor a staff login"
        ))
    })?;
    let org = cert
        .subject()
        .iter_organization()
        .next()
        .and_then(|o| o.as_str().ok());
    if org != Some(super::UNIVERSITY) {
        return Err(IdentityError(format!(
            "certificate's organisation is {org:?}, not {}",
            super::UNIVERSITY
        )));
    }
    let info = CertificateInfo {
        subject: cert.subject().to_string(),
        serial: normalize_serial(cert.raw_serial()),
        not_before: to_system_time(cert.validity().not_before),
        not_after: to_system_time(cert.validity().not_after),
    };
    Ok((id, info))
}
