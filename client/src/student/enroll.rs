//! Enrollment and renewal at CUHK: the key and CSR (made here, or given from `openssl req`),
//! the exchange, and the identity saved in the profile only once it is known to go together.
//!
//! Written once for anyone CUHK certifies ([`PersonId`]): a student enrolls with a student ID
//! (`student enroll`), a member of staff with a staff login or, for a TA, a student ID (`staff
//! enroll`, through [`crate::staff::enroll`]). Both write the same profile.

use crate::error::ErrorKind;
use crate::printable;
use crate::session::{
    client_config, fail, first_cert, key_log, nothing_more, Profile, Remote, Session, StudentError,
};
use handin_core::bootstrap::{Bootstrap, Found};
use handin_core::enroll::EnrollClientProtocol;
use handin_core::pki::{from_pem_or_der, new_person_key, to_pem, Fingerprint, PersonId, StudentId};
use handin_core::rustls::pki_types::CertificateDer;
use handin_core::{ClientConfig, EnrollClient, EnrollClientEvent, Identity, Role, UsageError};
use handin_files::{self as fsio, PRIVATE, PUBLIC};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where a CSR and key made elsewhere (`openssl req`) come from.
#[derive(Debug)]
pub struct ExternalKey {
    /// The CSR file (PEM or DER).
    pub csr: PathBuf,
    /// The private key file (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How an enrolling client comes to trust the CUHK root, which it then keeps in the profile
/// (`ca.crt`).
#[derive(Debug, Clone)]
pub enum Trust {
    /// The root certificate, handed over as a file (`--ca`).
    CaFile(PathBuf),
    /// Only the root's SHA-256 fingerprint (`--fingerprint`, from `cuhk fingerprint`): CUHK
    /// presents the root in its TLS chain, and it is trusted only if its fingerprint is this
    /// one and CUHK's certificate verifies against it.
    Fingerprint(Fingerprint),
}

/// What enrollment produced.
#[derive(Debug)]
pub struct Enrolled {
    /// The person certified: a student ID or a staff login.
    pub id: PersonId,
    /// The certificate's subject.
    pub subject: String,
    /// Serial in hex.
    pub serial: String,
    /// End of validity.
    pub not_after: SystemTime,
    /// The fingerprint of the CUHK root saved in the profile.
    pub root: Fingerprint,
}

/// Enrolls student `id` at CUHK with a one-time `code`, trusting the CUHK root as `trust`
/// says, and saves the identity and the root in `profile`.
pub fn enroll(
    remote: &Remote,
    profile: &Profile,
    id: &StudentId,
    code: &str,
    trust: &Trust,
    external: Option<&ExternalKey>,
) -> Result<Enrolled, StudentError> {
    enroll_person(remote, profile, &PersonId::from(id), code, trust, external)
}

/// Enrolls `id`, a student ID or a staff login, at CUHK with a one-time `code`, trusting the
/// CUHK root as `trust` says, and saves the identity and the root in `profile` (replacing one
/// that is there, as a new enrollment does). Nothing is saved unless CUHK issued a certificate.
///
/// The key is made here (ECDSA P-256), unless `external` gives a CSR and key made elsewhere;
/// either way the CSR is checked against CUHK's policy for `id` before the one-time code is
/// used, and the issued certificate must go with the key before anything is saved.
pub(crate) fn enroll_person(
    remote: &Remote,
    profile: &Profile,
    id: &PersonId,
    code: &str,
    trust: &Trust,
    external: Option<&ExternalKey>,
) -> Result<Enrolled, StudentError> {
    // A root file that cannot be read fails here, before a key is made.
    let anchor = match trust {
        Trust::CaFile(ca_file) => Anchor::Root(read_ca(ca_file)?),
        Trust::Fingerprint(pin) => Anchor::Pin(*pin),
    };
    let (csr_der, key_pem) = match external {
        Some(x) => {
            let csr = std::fs::read(&x.csr)
                .map_err(|e| StudentError::file(format!("cannot read {}: {e}", x.csr.display())))?;
            let csr = from_pem_or_der(&csr, "CERTIFICATE REQUEST")
                .map_err(|e| StudentError::file(format!("{} is not a CSR: {e}", x.csr.display())))?
                .remove(0);
            let key = std::fs::read(&x.key)
                .map_err(|e| StudentError::file(format!("cannot read {}: {e}", x.key.display())))?;
            (csr, key)
        }
        None => {
            let k = new_person_key(id)
                .map_err(|e| StudentError::other(format!("making your key: {e}")))?;
            (k.csr_der, k.key_pem.into_bytes())
        }
    };
    // Fail early, before using the one-time code, if the CSR is not acceptable.
    handin_core::pki::check_person_csr(&csr_der, Some(id))
        .map_err(|e| StudentError::file(format!("your CSR would be refused: {e}")))?;
    let request = |c: &mut EnrollClient| c.enroll(id, code, &csr_der);
    let (ca, chain) = match anchor {
        Anchor::Root(ca) => {
            let config = client_config(Role::Enroll, ca.clone(), None)?;
            (ca, run_enroll(remote, &config, request)?)
        }
        Anchor::Pin(pin) => bootstrap_enroll(remote, pin, request)?,
    };
    // The key must go with the certificate: refuse to save a pair that does not match.
    Identity::from_pem(chain_pem(&chain).as_bytes(), &key_pem)
        .and_then(|i| ClientConfig::new(Role::Submit, ca.clone(), Some(i)))
        .map_err(|e| {
            StudentError::auth(format!(
                "the issued certificate does not go with your key: {e}"
            ))
        })?;
    save_identity(profile, &ca, &chain, &key_pem)?;
    describe(&chain, &ca)
}

/// What an enrollment trusts: a root in hand, or the fingerprint of the root CUHK will send.
enum Anchor {
    Root(CertificateDer<'static>),
    Pin(Fingerprint),
}

fn read_ca(ca_file: &Path) -> Result<CertificateDer<'static>, StudentError> {
    let ca_pem = std::fs::read(ca_file).map_err(|e| {
        StudentError::file(format!(
            "cannot read the CA certificate {}: {e}",
            ca_file.display()
        ))
    })?;
    first_cert(&ca_pem, ca_file)
}

/// Enrolls over a connection that trusts only the root with fingerprint `pin`, which CUHK
/// presents in its chain; returns that root and the issued chain.
fn bootstrap_enroll(
    remote: &Remote,
    pin: Fingerprint,
    request: impl FnOnce(&mut EnrollClient) -> Result<(), UsageError>,
) -> Result<(CertificateDer<'static>, Vec<CertificateDer<'static>>), StudentError> {
    let (config, bootstrap) = ClientConfig::bootstrap(Role::Enroll, pin, None)
        .map_err(|e| StudentError::other(format!("TLS setup: {e}")))?;
    let config = key_log(config, |c, k| Ok(c.with_key_log(k)))?;
    let chain = run_enroll(remote, &config, request)
        .map_err(|e| pin_refused(&bootstrap, remote).unwrap_or(e))?;
    let root = bootstrap.root().ok_or_else(|| {
        pin_refused(&bootstrap, remote).unwrap_or(StudentError::auth(
            "CUHK's root certificate was not verified: enroll again",
        ))
    })?;
    Ok((root, chain))
}

/// What to say when CUHK did not present the root with the pinned fingerprint.
fn pin_refused(bootstrap: &Bootstrap, remote: &Remote) -> Option<StudentError> {
    let Found::Mismatch(presented) = bootstrap.found() else {
        return None;
    };
    let presented: Vec<String> = presented.iter().map(|f| f.to_string()).collect();
    Some(StudentError::auth(format!(
        "CUHK at {} presented no certificate with the SHA-256 fingerprint {} (it presented {}):          check the fingerprint you were given (`cuhk fingerprint` prints the root's) and the          address; nothing was saved",
        remote.addr,
        bootstrap.fingerprint(),
        presented.join(" and ")
    )))
}

/// Renews the certificate in the profile over mutual TLS, with a new key: a student's or a
/// member of staff's (the new certificate is for the same ID).
pub fn renew(remote: &Remote, profile: &Profile) -> Result<Enrolled, StudentError> {
    let ca = profile.ca_der()?;
    let identity = profile.identity()?;
    let (id, _) = handin_core::pki::person_of(&identity.chain[0])
        .map_err(|e| StudentError::file(e.to_string()))?;
    let key =
        new_person_key(&id).map_err(|e| StudentError::other(format!("making your key: {e}")))?;
    let config = client_config(Role::Enroll, ca.clone(), Some(identity))?;
    let chain = run_enroll(remote, &config, |c| c.renew(&key.csr_der))?;
    save_identity(profile, &ca, &chain, key.key_pem.as_bytes())?;
    describe(&chain, &ca)
}

/// The ID `student enroll` was given (`--id` or at the prompt), white space around it ignored:
/// a 10-digit student ID. A staff login is refused with a pointer to `staff enroll`.
pub fn student_enroll_id(text: &str) -> Result<StudentId, StudentError> {
    let text = text.trim();
    match PersonId::parse(text) {
        Ok(PersonId::Student(id)) => Ok(id),
        Ok(PersonId::Staff(login)) => fail(
            ErrorKind::Usage,
            format!(
                "{login} is a staff login, not a student ID: teachers enroll with `staff enroll \
             --id {login}` (same code, same profile)"
            ),
        ),
        Err(_) => fail(
            ErrorKind::Usage,
            format!("{text:?} is not a student ID: it is exactly 10 digits"),
        ),
    }
}

/// Refuses to enroll into `profile` if it already holds a certificate that has not expired:
/// enrolling again would replace its key and certificate, while the old certificate stays
/// valid until CUHK revokes it. `student enroll` and `staff enroll` call this unless given `--force`.
pub fn refuse_enrolled(profile: &Profile) -> Result<(), StudentError> {
    let path = profile.cert();
    if path.symlink_metadata().is_err() {
        return Ok(());
    }
    let held = std::fs::read(&path)
        .ok()
        .and_then(|pem| from_pem_or_der(&pem, "CERTIFICATE").ok())
        .and_then(|certs| {
            let info = handin_core::pki::certificate_info(certs.first()?).ok()?;
            Some((
                info.subject,
                handin_core::pki::serial_hex(&info.serial),
                info.not_after,
            ))
        });
    // An expired certificate is valid nowhere: replacing it loses nothing.
    if held
        .as_ref()
        .is_some_and(|(_, _, not_after)| *not_after < SystemTime::now())
    {
        return Ok(());
    }
    let held = held.map_or_else(
        || String::from("a certificate"),
        |(subject, serial, not_after)| {
            format!(
                "the certificate of {} (serial {serial}, valid until {})",
                printable::text(&subject),
                crate::rfc3339(not_after)
            )
        },
    );
    fail(
        ErrorKind::File,
        format!(
            "{} already holds {held}: enrolling again replaces it, and the old certificate stays \
             valid until CUHK revokes it; pass --force to enroll anyway, or --profile DIR to \
             enroll into another profile",
            profile.dir().display()
        ),
    )
}

fn describe(
    chain: &[CertificateDer<'static>],
    ca: &CertificateDer<'static>,
) -> Result<Enrolled, StudentError> {
    let (id, info) =
        handin_core::pki::person_of(&chain[0]).map_err(|e| StudentError::other(e.to_string()))?;
    Ok(Enrolled {
        id,
        subject: info.subject,
        serial: handin_core::pki::serial_hex(&info.serial),
        not_after: info.not_after,
        root: Fingerprint::of(ca),
    })
}

fn chain_pem(chain: &[CertificateDer<'static>]) -> String {
    chain.iter().map(|c| to_pem("CERTIFICATE", c)).collect()
}

fn save_identity(
    profile: &Profile,
    ca: &CertificateDer<'static>,
    chain: &[CertificateDer<'static>],
    key_pem: &[u8],
) -> Result<(), StudentError> {
    let w = |path: PathBuf, bytes: &[u8], mode| {
        fsio::write_atomic(&path, bytes, mode)
            .map_err(|e| StudentError::file(format!("cannot write {}: {e}", path.display())))
    };
    fsio::create_dir(profile.dir(), 0o700).map_err(|e| {
        StudentError::file(format!("cannot create {}: {e}", profile.dir().display()))
    })?;
    w(profile.key(), key_pem, PRIVATE)?;
    w(profile.cert(), chain_pem(chain).as_bytes(), PUBLIC)?;
    w(profile.ca(), to_pem("CERTIFICATE", ca).as_bytes(), PUBLIC)?;
    // `student audit` tells the certificates CUHK issued to this profile from any other for
    // the same ID. The identity is saved already: a list that cannot be written is a warning
    // (the audit adds the certificate held then).
    if let Err(e) = crate::logs::remember_certificate(profile, &chain[0]) {
        eprintln!("warning: {e}");
    }
    Ok(())
}

fn run_enroll(
    remote: &Remote,
    config: &ClientConfig,
    request: impl FnOnce(&mut EnrollClient) -> Result<(), UsageError>,
) -> Result<Vec<CertificateDer<'static>>, StudentError> {
    Session::<EnrollClientProtocol>::open(remote, config, "CUHK")?.exchange(
        request,
        |ev| match ev {
            EnrollClientEvent::Issued { chain } => Some(Ok(chain)),
            EnrollClientEvent::Refused(r) => Some(fail(ErrorKind::Refused, enroll_refusal(&r))),
            _ => None,
        },
        nothing_more,
    )
}

fn enroll_refusal(r: &handin_core::Refusal) -> String {
    format!("enrollment refused: {}", printable::text(&r.reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_enroll_takes_a_student_id_and_sends_a_login_to_staff_enroll() {
        assert_eq!(
            student_enroll_id(" 1155000001\n")
                .map(|i| i.to_string())
                .ok(),
            Some("1155000001".to_owned())
        );
        let e = student_enroll_id("prof.lee").unwrap_err().to_string();
        assert_eq!(
            e,
            "prof.lee is a staff login, not a student ID: teachers enroll with `staff enroll --id \
             prof.lee` (same code, same profile)"
        );
        for bad in [
            "",
            "115500000",
            "11550000011",
            "Prof.Lee",
            "1155000001x",
            "lee\u{1b}[2J",
        ] {
            let e = student_enroll_id(bad).unwrap_err().to_string();
            assert!(
                e.ends_with("is not a student ID: it is exactly 10 digits"),
                "{e}"
            );
            assert!(
                !e.contains('\u{1b}'),
                "terminal escapes are not echoed: {e:?}"
            );
        }
    }
}
