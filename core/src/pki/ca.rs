//! The CUHK certificate authority: root generation, server certificates, personal
//! certificates (students and staff) and CRLs.

use super::csr::CheckedCsr;
use super::{random_serial, to_pem, PersonId, StudentId, UNIVERSITY};
use core::net::IpAddr;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PublicKeyData, RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;

/// A name a server certificate is valid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerName {
    /// A DNS name, such as `localhost`.
    Dns(String),
    /// An IP address, such as `127.0.0.1`.
    Ip(IpAddr),
}

impl ServerName {
    /// Parses an IP address if it is one, else takes a DNS name.
    pub fn parse(s: &str) -> Self {
        match s.parse::<IpAddr>() {
            Ok(ip) => Self::Ip(ip),
            Err(_) => Self::Dns(s.to_owned()),
        }
    }
}

/// A server certificate and its freshly generated key.
#[derive(Debug)]
pub struct IssuedServer {
    /// The certificate, DER.
    pub cert: CertificateDer<'static>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM. Write it with mode 0600.
    pub key_pem: String,
}

/// The CUHK root CA: its certificate and its signing key.
pub struct Ca {
    cert: CertificateDer<'static>,
    key: KeyPair,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Ca")
            .field("cert_len", &self.cert.len())
            .finish()
    }
}

/// A PKI operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PkiError(pub String);

fn pki(context: &str) -> impl Fn(rcgen::Error) -> PkiError + '_ {
    move |e| PkiError(format!("{context}: {e}"))
}

fn odt(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

impl Ca {
    /// Creates a new root CA with an ECDSA P-256 key, valid from `now` for `lifetime`.
    pub fn generate(
        common_name: &str,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<Self, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(pki("generating the CA key"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = ca_name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
        params.not_before = odt(now - Duration::from_secs(60));
        params.not_after = odt(now + lifetime);
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = params
            .self_signed(&key)
            .map_err(pki("self-signing the CA"))?;
        let cert = cert.der().clone();
        Self::from_parts(cert, key)
    }

    /// Loads a CA from its certificate and PKCS#8 key, both PEM.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let cert = super::from_pem_or_der(cert_pem.as_bytes(), "CERTIFICATE")
            .map_err(|e| PkiError(format!("CA certificate: {e}")))?
            .remove(0);
        let key = KeyPair::from_pem(key_pem).map_err(pki("CA key"))?;
        Self::from_parts(CertificateDer::from(cert), key)
    }

    fn from_parts(cert: CertificateDer<'static>, key: KeyPair) -> Result<Self, PkiError> {
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert)
            .map_err(|e| PkiError(format!("CA certificate does not parse: {e}")))?;
        if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(PkiError(
                "the CA key does not match the CA certificate".into(),
            ));
        }
        let issuer_key = KeyPair::from_pem(&key.serialize_pem()).map_err(pki("CA key"))?;
        let issuer = Issuer::from_ca_cert_der(&cert, issuer_key).map_err(pki("CA certificate"))?;
        Ok(Self { cert, key, issuer })
    }

    /// The CA certificate, DER.
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        to_pem("CERTIFICATE", &self.cert)
    }

    /// The CA private key, PKCS#8 PEM. Write it with mode 0600; never log it.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// Issues a server certificate (serverAuth only) for `names`, with a new P-256 key.
    pub fn issue_server(
        &self,
        common_name: &str,
        names: &[ServerName],
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<IssuedServer, PkiError> {
        if names.is_empty() {
            return Err(PkiError(
                "a server certificate needs at least one name".into(),
            ));
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(pki("generating the server key"))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, UNIVERSITY);
        params.distinguished_name = dn;
        params.subject_alt_names = names
            .iter()
            .map(|n| match n {
                ServerName::Dns(d) => rcgen::string::Ia5String::try_from(d.as_str())
                    .map(SanType::DnsName)
                    .map_err(|e| PkiError(format!("server name {d:?}: {e}"))),
                ServerName::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            })
            .collect::<Result<_, _>>()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.finish_params(&mut params, now, lifetime);
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(pki("signing the server certificate"))?;
        Ok(IssuedServer {
            cert_pem: cert.pem(),
            cert: cert.der().clone(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Issues a personal certificate for a CSR that passed [`super::check_person_csr`]: a
    /// student's (CN = the student ID) or a member of staff's (CN = the staff login).
    ///
    /// The certificate is built from scratch: subject CN = the CSR's ID and O = the
    /// university, clientAuth only, not a CA, a random 127-bit serial, valid from `now` (less a
    /// minute of clock skew) for `lifetime`. Nothing else the CSR asked for is copied. The
    /// certificate says who the holder is, never what they may do.
    pub fn issue_person(
        &self,
        csr: &CheckedCsr,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<CertificateDer<'static>, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = person_name(csr.person());
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.finish_params(&mut params, now, lifetime);
        let cert = params
            .signed_by(csr, &self.issuer)
            .map_err(pki(match csr.person() {
                PersonId::Student(_) => "signing the student certificate",
                PersonId::Staff(_) => "signing the staff certificate",
            }))?;
        Ok(cert.der().clone())
    }

    /// The same as [`Ca::issue_person`] (the name predates staff certificates): the CSR's ID
    /// becomes the CN, whether a student ID or a staff login.
    pub fn issue_student(
        &self,
        csr: &CheckedCsr,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<CertificateDer<'static>, PkiError> {
        self.issue_person(csr, now, lifetime)
    }

    /// Builds a CRL listing `revoked`, signed by this CA.
    ///
    /// `number` must grow with every CRL published; `next_update` tells relying parties when
    /// to fetch a fresh one.
    pub fn crl(
        &self,
        revoked: &[RevokedSerial],
        number: u64,
        now: SystemTime,
        next_update: Duration,
    ) -> Result<CertificateRevocationListDer<'static>, PkiError> {
        let params = CertificateRevocationListParams {
            this_update: odt(now),
            next_update: odt(now + next_update),
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&r.serial),
                    revocation_time: odt(r.revoked_at),
                    reason_code: Some(RevocationReason::Unspecified),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&self.issuer)
            .map_err(pki("signing the CRL"))?;
        Ok(crl.der().clone())
    }

    fn finish_params(&self, params: &mut CertificateParams, now: SystemTime, lifetime: Duration) {
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
        params.not_before = odt(now - Duration::from_secs(60));
        params.not_after = odt(now + lifetime);
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
    }
}

/// One revoked certificate, for [`Ca::crl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSerial {
    /// The certificate's serial, big-endian bytes.
    pub serial: Vec<u8>,
    /// When it was revoked.
    pub revoked_at: SystemTime,
}

/// A fresh key pair and a CSR for it, as `student enroll` and `staff enroll` make them.
#[derive(Debug)]
pub struct NewKey {
    /// The private key, PKCS#8 PEM. Write it with mode 0600; never log it.
    pub key_pem: String,
    /// The private key, PKCS#8 DER.
    pub key_der: Vec<u8>,
    /// The CSR (CN = the student ID or staff login), DER.
    pub csr_der: Vec<u8>,
}

/// Makes an ECDSA P-256 key pair and a CSR whose subject CN is the student's ID.
pub fn new_student_key(id: &StudentId) -> Result<NewKey, PkiError> {
    new_person_key(&PersonId::from(id))
}

/// Makes an ECDSA P-256 key pair and a CSR whose subject CN is `id`, a student ID or a staff
/// login.
pub fn new_person_key(id: &PersonId) -> Result<NewKey, PkiError> {
    let key =
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(pki("generating the key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = person_name(id);
    let csr = params
        .serialize_request(&key)
        .map_err(pki("making the CSR"))?;
    Ok(NewKey {
        key_pem: key.serialize_pem(),
        key_der: key.serialize_der(),
        csr_der: csr.der().to_vec(),
    })
}

fn ca_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, UNIVERSITY);
    dn
}

fn person_name(id: &PersonId) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, id.as_str());
    dn.push(DnType::OrganizationName, UNIVERSITY);
    dn
}
