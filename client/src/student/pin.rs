//! Blackboard's certificate as the profile knows it.
//!
//! The first certificate a Blackboard connection presents is pinned in `blackboard.crt`. A
//! later connection that presents another one (TLS already checked that the CUHK root issued
//! it for the address dialled) goes ahead, since CUHK renews Blackboard's certificate from time
//! to time, but the pinned one stays: the new one is recorded in `blackboard-seen/` and the
//! student is told, on every connection, until they pin it with `student pin-blackboard`.
//! Receipts verify with the pinned certificate or a recorded one, whichever signed them.

use crate::printable;
use crate::rfc3339;
use crate::session::{first_cert, Profile, StudentError};
use handin_core::pki::{
    certificate_info, check_server_certificate, fingerprint, from_pem_or_der, to_pem,
    ServerCertificate,
};
use handin_core::rustls::pki_types::CertificateDer;
use handin_files::{self as fsio, PUBLIC};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

impl Profile {
    /// Blackboard's certificates seen after the pinned one, `FINGERPRINT.crt` each.
    pub fn blackboard_seen(&self) -> PathBuf {
        self.dir().join("blackboard-seen")
    }

    /// Where a certificate other than the pinned one is recorded.
    pub fn recorded_blackboard_cert(&self, der: &[u8]) -> PathBuf {
        self.blackboard_seen()
            .join(format!("{}.crt", fingerprint(der).replace(':', "")))
    }

    /// The pinned certificate, if any (DER).
    fn pinned(&self) -> Result<Option<Vec<u8>>, StudentError> {
        let path = self.blackboard_cert();
        match std::fs::read(&path) {
            Ok(pem) => first_cert(&pem, &path).map(|c| Some(c.to_vec())).map_err(|e| {
                StudentError::file(format!(
                    "{e}: your pinned Blackboard certificate is damaged; pin it again with `student pin-blackboard FILE`"
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StudentError::file(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Records `der` in `blackboard-seen/` (kept as first written).
    fn record(&self, der: &[u8]) -> Result<PathBuf, StudentError> {
        let dir = self.blackboard_seen();
        let path = self.recorded_blackboard_cert(der);
        if !path.exists() {
            fsio::create_dir(&dir, 0o700)
                .map_err(|e| StudentError::file(format!("cannot create {}: {e}", dir.display())))?;
            fsio::write_atomic(&path, to_pem("CERTIFICATE", der).as_bytes(), PUBLIC)
                .map_err(|e| StudentError::file(format!("cannot write {}: {e}", path.display())))?;
        }
        Ok(path)
    }
}

/// One line about a certificate: subject, validity and fingerprint.
pub(super) fn describe(der: &[u8]) -> String {
    match certificate_info(der) {
        Ok(i) => format!(
            "{}, valid {} to {}, SHA-256 {}",
            printable::text(&i.subject),
            rfc3339(i.not_before),
            rfc3339(i.not_after),
            fingerprint(der)
        ),
        Err(e) => format!(
            "an unreadable certificate ({e}), SHA-256 {}",
            fingerprint(der)
        ),
    }
}

/// One line about a checked server certificate: subject, names, validity and fingerprint.
pub fn describe_server(c: &ServerCertificate) -> String {
    format!(
        "{} ({}), valid {} to {}, SHA-256 {}",
        printable::text(&c.subject),
        printable::text(&c.names.join(", ")),
        rfc3339(c.not_before),
        rfc3339(c.not_after),
        c.fingerprint
    )
}

/// After a connection Blackboard accepted: pins the certificate it presented if the profile
/// has none, and says so on stderr if it differs from the pinned one.
pub(super) fn observe(profile: &Profile, presented: &[u8]) {
    let outcome = profile.pinned().and_then(|pinned| match pinned {
        None => {
            fsio::write_atomic(
                &profile.blackboard_cert(),
                to_pem("CERTIFICATE", presented).as_bytes(),
                PUBLIC,
            )
            .map_err(|e| {
                StudentError::file(format!(
                    "cannot pin Blackboard's certificate in {}: {e}",
                    profile.blackboard_cert().display()
                ))
            })?;
            tracing::info!(certificate = %describe(presented), "pinned Blackboard's certificate");
            Ok(())
        }
        Some(p) if p == presented => Ok(()),
        Some(p) => {
            let recorded = profile.record(presented)?;
            eprintln!(
                "student: warning: Blackboard's certificate changed since your profile pinned it.\n  \
                 pinned:    {}\n  \
                 presented: {}\n  \
                 Your CUHK root issued the new one for this address, so the connection went ahead. It is recorded in {};\n  \
                 receipts it signed verify with that file. The pinned certificate is kept.\n  \
                 If CUHK renewed Blackboard's certificate, make the new one the pinned one:\n    \
                 student --profile {} pin-blackboard {}",
                describe(&p),
                describe(presented),
                recorded.display(),
                profile.dir().display(),
                recorded.display(),
            );
            Ok(())
        }
    });
    if let Err(e) = outcome {
        eprintln!("student: warning: {e}");
    }
}

/// How the profile knows a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// It is the pinned one.
    Pinned,
    /// It was seen on a connection after the pinned one, and recorded.
    Recorded,
    /// The profile pinned no Blackboard certificate.
    NoPin,
}

/// How the profile knows `der`: `Err` with the pinned certificate's description when it is
/// neither pinned nor recorded.
pub(super) fn standing(
    profile: &Profile,
    der: &[u8],
) -> Result<Result<Standing, String>, StudentError> {
    Ok(match profile.pinned()? {
        None => Ok(Standing::NoPin),
        Some(p) if p == der => Ok(Standing::Pinned),
        Some(_) if profile.recorded_blackboard_cert(der).exists() => Ok(Standing::Recorded),
        Some(p) => Err(describe(&p)),
    })
}

/// What `student pin-blackboard` did.
#[derive(Debug)]
pub struct Pinned {
    /// The certificate now pinned.
    pub certificate: ServerCertificate,
    /// The fingerprint of the one it replaced (kept in `blackboard-seen/`), if it replaced one.
    pub replaced: Option<String>,
    /// Whether it was already the pinned one.
    pub unchanged: bool,
}

/// Pins the Blackboard certificate in `file` (for example a renewed one recorded in
/// `blackboard-seen/`, or one obtained from CUHK), after checking that the profile's CUHK root
/// issued it as a server certificate valid now. The one pinned before is kept in
/// `blackboard-seen/`, so the receipts it signed still verify.
pub fn pin_blackboard(profile: &Profile, file: &Path) -> Result<Pinned, StudentError> {
    let pem = std::fs::read(file)
        .map_err(|e| StudentError::file(format!("cannot read {}: {e}", file.display())))?;
    let chain: Vec<CertificateDer<'static>> = from_pem_or_der(&pem, "CERTIFICATE")
        .map_err(|e| StudentError::file(format!("{} is not a certificate: {e}", file.display())))?
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let ca = profile.ca_der()?;
    let certificate = check_server_certificate(&chain, &ca, SystemTime::now()).map_err(|e| {
        StudentError::auth(format!(
            "{} cannot be pinned as Blackboard's certificate: {e}",
            file.display()
        ))
    })?;
    let new = chain[0].to_vec();
    let old = profile.pinned()?;
    if old.as_deref() == Some(&new[..]) {
        return Ok(Pinned {
            certificate,
            replaced: None,
            unchanged: true,
        });
    }
    if let Some(old) = &old {
        profile.record(old)?;
    }
    let path = profile.blackboard_cert();
    fsio::write_atomic(&path, to_pem("CERTIFICATE", &new).as_bytes(), PUBLIC)
        .map_err(|e| StudentError::file(format!("cannot write {}: {e}", path.display())))?;
    Ok(Pinned {
        certificate,
        replaced: old.map(|o| fingerprint(&o)),
        unchanged: false,
    })
}
