//! `student verify-receipt`: whether a receipt file is Blackboard's word.
//!
//! A signature proves only that someone holding the certificate's key signed. So the
//! certificate must be one only Blackboard holds the key of: issued by the CUHK root, as a
//! server certificate (serverAuth, not a student's clientAuth certificate), valid when the
//! receipt says Blackboard received the file, and, when the profile pinned Blackboard's
//! certificate, that one or one the profile has recorded since.

use super::pin::{self, Standing};
use super::{Profile, StudentError};
use crate::rfc3339;
use handin_core::pki::{
    check_server_certificate, from_pem_or_der, ServerCertError, ServerCertificate,
};
use handin_core::rustls::pki_types::CertificateDer;
use handin_core::{Receipt, ReceiptBody};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A receipt that verified, and whose key signed it.
#[derive(Debug)]
pub struct Verified {
    /// What the receipt attests.
    pub body: ReceiptBody,
    /// The certificate whose key signed it.
    pub signer: ServerCertificate,
    /// How the profile knows that certificate.
    pub standing: Standing,
}

fn invalid<T>(why: String) -> Result<T, StudentError> {
    Err(StudentError(format!("the receipt is NOT valid: {why}")))
}

/// Verifies the receipt file `receipt` as signed by the certificate in `blackboard_cert`, which
/// must be a Blackboard certificate of the CUHK root in `ca` (default: the profile's `ca.crt`).
pub fn verify_receipt(
    profile: &Profile,
    receipt: &Path,
    blackboard_cert: &Path,
    ca: Option<&Path>,
) -> Result<Verified, StudentError> {
    let text = std::fs::read(receipt)
        .map_err(|e| StudentError(format!("cannot read {}: {e}", receipt.display())))?;
    let parsed =
        Receipt::from_pem(&text).map_err(|e| StudentError(format!("not a receipt: {e}")))?;
    let cert_pem = std::fs::read(blackboard_cert)
        .map_err(|e| StudentError(format!("cannot read {}: {e}", blackboard_cert.display())))?;
    let chain: Vec<CertificateDer<'static>> = from_pem_or_der(&cert_pem, "CERTIFICATE")
        .map_err(|e| {
            StudentError(format!(
                "{} is not a certificate: {e}",
                blackboard_cert.display()
            ))
        })?
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let root = root(profile, ca)?;

    let body = match parsed.verify(&chain[0]) {
        Ok(b) => b,
        Err(e) => return invalid(format!("{e}{}", known_signer(profile, &parsed))),
    };
    let received = SystemTime::UNIX_EPOCH + Duration::from_secs(body.received_at);
    let shown = blackboard_cert.display();
    let signer = match check_server_certificate(&chain, &root.0, received) {
        Ok(s) => s,
        Err(ServerCertError::NotAServer(m)) => {
            return invalid(format!(
                "it is signed with {shown}, which is not a server certificate ({m}); only Blackboard's certificate vouches for a receipt"
            ))
        }
        Err(ServerCertError::NotFromRoot(m)) => {
            return invalid(format!(
                "it is signed with {shown}, which is not from the CUHK root in {} ({m})",
                root.1
            ))
        }
        Err(ServerCertError::OutsideValidity) => {
            return invalid(format!(
                "it says Blackboard received the file at {}, when {shown} ({}) was not valid",
                rfc3339(received),
                pin::describe(&chain[0])
            ))
        }
        Err(e @ ServerCertError::Malformed(_)) => {
            return Err(StudentError(format!("{shown}: {e}")))
        }
    };
    match pin::standing(profile, &chain[0])? {
        Ok(standing) => Ok(Verified {
            body,
            signer,
            standing,
        }),
        Err(pinned) => invalid(format!(
            "it is signed by {}, which is neither the Blackboard certificate your profile pinned ({pinned}) nor one it has seen since; if CUHK issued it to Blackboard, pin it with `student pin-blackboard {shown}` and verify again",
            pin::describe_server(&signer)
        )),
    }
}

/// If a Blackboard certificate the profile knows (pinned or recorded) signed `receipt`, a hint
/// to verify with that one; else nothing.
fn known_signer(profile: &Profile, receipt: &Receipt) -> String {
    let recorded = std::fs::read_dir(profile.blackboard_seen())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()));
    std::iter::once(profile.blackboard_cert())
        .chain(recorded)
        .find(|path| {
            std::fs::read(path)
                .ok()
                .and_then(|pem| from_pem_or_der(&pem, "CERTIFICATE").ok())
                .is_some_and(|certs| receipt.verify(&certs[0]).is_ok())
        })
        .map(|path| {
            format!(
                "; it verifies with {}, a Blackboard certificate your profile knows: pass that as --blackboard-cert",
                path.display()
            )
        })
        .unwrap_or_default()
}

/// The CUHK root: `--ca`, else the profile's `ca.crt`; with where it came from.
fn root(
    profile: &Profile,
    ca: Option<&Path>,
) -> Result<(CertificateDer<'static>, String), StudentError> {
    let path = ca.map(Path::to_path_buf).unwrap_or_else(|| profile.ca());
    let pem = std::fs::read(&path).map_err(|e| match ca {
        Some(_) => StudentError(format!("cannot read {}: {e}", path.display())),
        None => StudentError(format!(
            "cannot read the CUHK root certificate {} ({e}): pass --ca with CUHK's ca.crt, or --profile with your enrolled profile",
            path.display()
        )),
    })?;
    let der = from_pem_or_der(&pem, "CERTIFICATE")
        .map_err(|e| StudentError(format!("{} is not a certificate: {e}", path.display())))?
        .remove(0);
    Ok((CertificateDer::from(der), path.display().to_string()))
}
