//! Checking a server's certificate outside a TLS handshake: the certificate said to have signed
//! a receipt, or one a student pins as Blackboard's.
//!
//! In a handshake rustls checks the server's certificate against the CUHK root and the name the
//! client dialled. A certificate handed over as a file gets the same chain and purpose checks
//! here (rustls's WebPKI verifier, at a time the caller chooses), and the caller then decides
//! whether it is the server it expects, by the names and fingerprint this returns.

use super::certificate_info;
use core::net::IpAddr;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, RootCertStore};
use std::time::SystemTime;
use x509_parser::prelude::*;

/// A server certificate that chains to the CUHK root, as a person can recognise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    /// The subject, as `CN=..., O=...`.
    pub subject: String,
    /// The DNS names and IP addresses it is valid for (subjectAltName).
    pub names: Vec<String>,
    /// SHA-256 of the certificate, as `openssl x509 -fingerprint -sha256` prints it.
    pub fingerprint: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

/// Why a certificate is not a server certificate of the CUHK root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerCertError {
    /// It does not parse.
    #[error("the certificate does not parse: {0}")]
    Malformed(String),
    /// It is not a server's certificate: a CA, a student's (clientAuth), or without serverAuth
    /// or without names.
    #[error("not a server certificate: {0}")]
    NotAServer(String),
    /// It does not chain to the given root.
    #[error("not issued by the CUHK root: {0}")]
    NotFromRoot(String),
    /// It chains to the root but was not valid at the time asked about.
    #[error("the certificate was not valid at that time")]
    OutsideValidity,
}

/// The SHA-256 fingerprint of a certificate (DER): 32 colon-separated upper-case hex bytes.
pub fn fingerprint(der: &[u8]) -> String {
    super::Fingerprint::of(der).to_string()
}

/// Checks that `chain` (end-entity first, then any intermediates) is a server certificate
/// issued under `root` and valid at `at`: not a CA, serverAuth and not clientAuth, at least one
/// name, a chain that verifies. Whether it is the server the caller expects is the caller's
/// question: compare [`ServerCertificate::names`] or the fingerprint.
pub fn check_server_certificate(
    chain: &[CertificateDer<'_>],
    root: &CertificateDer<'static>,
    at: SystemTime,
) -> Result<ServerCertificate, ServerCertError> {
    let Some((end_entity, intermediates)) = chain.split_first() else {
        return Err(ServerCertError::Malformed("no certificate".into()));
    };
    let names = server_names(end_entity)?;
    let info =
        certificate_info(end_entity).map_err(|e| ServerCertError::Malformed(e.to_string()))?;
    let first = names
        .iter()
        .find_map(|n| ServerName::try_from(n.clone()).ok())
        .ok_or_else(|| ServerCertError::NotAServer("it names no server".into()))?;
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).map_err(|e| {
        ServerCertError::NotFromRoot(format!("the CUHK root certificate is not usable: {e}"))
    })?;
    let verifier =
        WebPkiServerVerifier::builder_with_provider(roots.into(), crate::config::provider())
            .build()
            .map_err(|e| ServerCertError::NotFromRoot(format!("the CUHK root certificate: {e}")))?;
    // The name is the certificate's own: the chain and purpose are checked here, the identity
    // of the server by the caller.
    let verify = |t: SystemTime| {
        let when = UnixTime::since_unix_epoch(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default(),
        );
        verifier
            .verify_server_cert(end_entity, intermediates, &first, &[], when)
            .map(|_| ())
            .map_err(classify)
    };
    if let Err(e) = verify(at) {
        // Report what is wrong at any time (another CA, say) before a time outside validity.
        if e == ServerCertError::OutsideValidity {
            verify(info.not_before)?;
        }
        return Err(e);
    }
    Ok(ServerCertificate {
        subject: info.subject,
        names,
        fingerprint: fingerprint(end_entity),
        not_before: info.not_before,
        not_after: info.not_after,
    })
}

fn classify(e: rustls::Error) -> ServerCertError {
    match e {
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => ServerCertError::OutsideValidity,
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => ServerCertError::NotFromRoot("another CA issued it".into()),
        rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose) => {
            ServerCertError::NotAServer("it is not for server authentication".into())
        }
        other => ServerCertError::NotFromRoot(other.to_string()),
    }
}

/// The names of a certificate that is for server authentication only, not a CA.
fn server_names(der: &[u8]) -> Result<Vec<String>, ServerCertError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| ServerCertError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(ServerCertError::Malformed(
            "bytes after the certificate".into(),
        ));
    }
    if cert.is_ca() {
        return Err(ServerCertError::NotAServer("it is a CA certificate".into()));
    }
    let eku = cert
        .extended_key_usage()
        .map_err(|e| ServerCertError::Malformed(format!("extended key usage: {e}")))?
        .ok_or_else(|| ServerCertError::NotAServer("it has no extended key usage".into()))?;
    if eku.value.client_auth || eku.value.any {
        return Err(ServerCertError::NotAServer(
            "it is for client authentication, as a student's certificate is".into(),
        ));
    }
    if !eku.value.server_auth {
        return Err(ServerCertError::NotAServer(
            "it is not for server authentication".into(),
        ));
    }
    let san = cert
        .subject_alternative_name()
        .map_err(|e| ServerCertError::Malformed(format!("subjectAltName: {e}")))?;
    let names = san
        .map(|s| {
            s.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    GeneralName::IPAddress(b) => ip(b).map(|a| a.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(names)
}

fn ip(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{check_csr, new_student_key, Ca, ServerName as Name, StudentId};
    use std::time::Duration;

    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn ca() -> Ca {
        Ca::generate("Test Root", now(), 10 * YEAR).expect("a CA")
    }

    fn server(ca: &Ca, cn: &str) -> CertificateDer<'static> {
        let names = [
            Name::Dns("localhost".into()),
            Name::Ip([127, 0, 0, 1].into()),
        ];
        ca.issue_server(cn, &names, now(), YEAR)
            .expect("a server certificate")
            .cert
    }

    #[test]
    fn a_server_certificate_of_the_root_passes_with_its_names() {
        let ca = ca();
        let cert = server(&ca, "Blackboard");
        let c = check_server_certificate(std::slice::from_ref(&cert), ca.cert(), now())
            .expect("a server certificate");
        assert!(c.subject.contains("CN=Blackboard"), "{}", c.subject);
        assert_eq!(c.names, ["localhost", "127.0.0.1"]);
        assert_eq!(c.fingerprint.len(), 32 * 3 - 1);
        assert_eq!(c.fingerprint, fingerprint(&cert));
    }

    #[test]
    fn another_roots_certificate_fails() {
        let (ca, other) = (ca(), ca());
        let cert = server(&other, "Blackboard");
        assert!(matches!(
            check_server_certificate(&[cert], ca.cert(), now()),
            Err(ServerCertError::NotFromRoot(_))
        ));
    }

    #[test]
    fn another_roots_certificate_fails_as_such_at_any_time() {
        let (ca, other) = (ca(), ca());
        let cert = server(&other, "Blackboard");
        assert!(matches!(
            check_server_certificate(&[cert], ca.cert(), now() - YEAR),
            Err(ServerCertError::NotFromRoot(_))
        ));
    }

    #[test]
    fn the_root_itself_is_not_a_server() {
        let ca = ca();
        assert!(matches!(
            check_server_certificate(&[ca.cert().clone()], ca.cert(), now()),
            Err(ServerCertError::NotAServer(_))
        ));
    }

    #[test]
    fn a_student_certificate_is_not_a_server() {
        let ca = ca();
        let id = StudentId::parse("1155000001").expect("an id");
        let key = new_student_key(&id).expect("a key");
        let csr = check_csr(&key.csr_der, Some(&id)).expect("a CSR");
        let cert = ca
            .issue_student(&csr, now(), YEAR)
            .expect("a student certificate");
        let err = check_server_certificate(&[cert], ca.cert(), now()).expect_err("a student's");
        assert!(matches!(err, ServerCertError::NotAServer(_)), "{err}");
        assert!(err.to_string().contains("client authentication"), "{err}");
    }

    #[test]
    fn validity_is_judged_at_the_time_given() {
        let ca = ca();
        let cert = server(&ca, "Blackboard");
        let at = |t| check_server_certificate(std::slice::from_ref(&cert), ca.cert(), t);
        assert!(at(now() + YEAR / 2).is_ok());
        assert_eq!(at(now() + 2 * YEAR), Err(ServerCertError::OutsideValidity));
        assert_eq!(
            at(now() - Duration::from_secs(7 * 24 * 3600)),
            Err(ServerCertError::OutsideValidity)
        );
    }
}
