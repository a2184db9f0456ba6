//! `student verify-receipt`: whether a receipt file is Blackboard's word.
//!
//! A signature proves only that someone holding the certificate's key signed. So the
//! certificate must be one only Blackboard holds the key of: issued by the CUHK root, as a
//! server certificate (serverAuth, not a student's clientAuth certificate), valid when the
//! receipt says Blackboard received the file, and, when the profile pinned Blackboard's
//! certificate, that one or one the profile has recorded since. A logged receipt's proof that
//! Blackboard's log holds it must verify too (offline, against the log key the receipt names);
//! whether it is still there is `student audit`'s question. Once the profile pinned the log's
//! key, a receipt naming another key, or naming none though received after the pin, is not
//! valid either.

use super::pin::{self, Standing};
use super::{Profile, StudentError};
use crate::logs::{pinned_at, pinned_vkey, Log};
use crate::rfc3339;
use handin_core::pki::{
    check_server_certificate, from_pem_or_der, ServerCertError, ServerCertificate,
};
use handin_core::rustls::pki_types::CertificateDer;
use handin_core::tlog::{Checkpoint, NoteVerifier};
use handin_core::{Receipt, ReceiptBody};
use std::path::{Path, PathBuf};
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
    /// Where Blackboard's log holds it (`None`: a receipt of before the logs).
    pub log: Option<LoggedAt>,
}

/// Where a receipt sits in Blackboard's log, as its own proof shows, checked offline.
#[derive(Debug, Clone)]
pub struct LoggedAt {
    /// The checkpoint the proof leads to (origin, size, root).
    pub checkpoint: Checkpoint,
    /// The receipt's index in the log.
    pub index: u64,
    /// The log's key, as the receipt names it.
    pub vkey: String,
    /// How the profile knows that key.
    pub key: LogKey,
}

/// How the profile knows the log key a receipt names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKey {
    /// It is the key the profile pinned for Blackboard's log.
    Pinned,
    /// The profile pinned no key for Blackboard's log.
    NoPin,
}

fn invalid<T>(why: String) -> Result<T, StudentError> {
    Err(StudentError::auth(format!(
        "the receipt is NOT valid: {why}"
    )))
}

/// Verifies the receipt file `receipt` as signed by the certificate in `blackboard_cert`
/// (default: the Blackboard certificate the profile pinned, or one it recorded since), which
/// must be a Blackboard certificate of the CUHK root in `ca` (default: the profile's `ca.crt`).
///
/// A receipt that does not verify is told apart as "signed by another key" (the certificate
/// saved with it, or one the profile knows, verifies it) or "altered" (the certificate that
/// signed it no longer does).
pub fn verify_receipt(
    profile: &Profile,
    receipt: &Path,
    blackboard_cert: Option<&Path>,
    ca: Option<&Path>,
) -> Result<Verified, StudentError> {
    let text = std::fs::read(receipt)
        .map_err(|e| StudentError::file(format!("cannot read {}: {e}", receipt.display())))?;
    let parsed = Receipt::from_pem(&text)
        .map_err(|e| StudentError::file(format!("{} is not a receipt: {e}", receipt.display())))?;
    let candidates = match blackboard_cert {
        Some(path) => vec![(path.to_path_buf(), read_chain(path)?)],
        None => profile_certificates(profile)?,
    };
    let root = root(profile, ca)?;
    // Whose key signed it first (an altered body or another key is told as such), then the
    // log proof: a signed receipt whose proof fails is not valid either.
    let Some((path, chain, body)) = candidates.iter().find_map(|(path, chain)| {
        parsed
            .verify_signature(&chain[0])
            .ok()
            .map(|b| (path, chain, b))
    }) else {
        let (path, chain) = &candidates[0];
        return invalid(why_not(profile, &parsed, &text, path, &chain[0]));
    };
    check_log_proof(&parsed, &body)?;
    let verified = parsed
        .verify_logged(&chain[0])
        .map_err(|e| StudentError::auth(format!("the receipt is NOT valid: {}", e.0)))?;
    let body = verified.body;
    let received = SystemTime::UNIX_EPOCH + Duration::from_secs(body.received_at);
    let shown = path.display();
    let signer = match check_server_certificate(chain, &root.0, received) {
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
            return Err(StudentError::file(format!("{shown}: {e}")))
        }
    };
    // Whose certificate signed before which log holds it: a receipt of another server is
    // told as such, whatever log it names.
    let standing = match pin::standing(profile, &chain[0])? {
        Ok(standing) => standing,
        Err(pinned) => return invalid(format!(
            "it is signed by {}, which is neither the Blackboard certificate your profile pinned ({pinned}) nor one it has seen since; if CUHK issued it to Blackboard, pin it with `student pin-blackboard {shown}` and verify again",
            pin::describe_server(&signer)
        )),
    };
    let log = match (verified.checkpoint, parsed.log_proof()) {
        (Some(checkpoint), Some(proof)) => Some(LoggedAt {
            checkpoint,
            index: proof.index,
            key: logged_key(profile, &body)?,
            vkey: body.log.clone(),
        }),
        _ => {
            logged_key(profile, &body)?;
            None
        }
    };
    Ok(Verified {
        body,
        signer,
        standing,
        log,
    })
}

/// How the profile knows the log key `body` names. Once a key is pinned, a receipt naming
/// another is not valid, nor is one naming none that Blackboard received after the pin (it
/// logs every receipt since).
fn logged_key(profile: &Profile, body: &ReceiptBody) -> Result<LogKey, StudentError> {
    let Some(pinned) = pinned_vkey(profile, Log::Blackboard)? else {
        return Ok(LogKey::NoPin);
    };
    if body.log.is_empty() {
        let at = pinned_at(profile, Log::Blackboard)?.unwrap_or(0);
        if body.received_at < at {
            return Ok(LogKey::NoPin);
        }
        return invalid(format!(
            "it names no log, yet Blackboard received the file at {}, after your profile pinned \
             Blackboard's log key ({}): every receipt since is logged, so Blackboard kept this \
             one out of its log; run `student audit`, and report it to the course staff",
            rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(body.received_at)),
            rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(at))
        ));
    }
    if body.log != pinned.vkey {
        return invalid(format!(
            "it names the log key {}, not the one your profile pinned for Blackboard's log ({}): \
             Blackboard's log as you know it does not hold it; report it to the course staff",
            body.log, pinned.vkey
        ));
    }
    Ok(LogKey::Pinned)
}

/// Checks a logged receipt's proof against the log key its `body` names, offline.
fn check_log_proof(receipt: &Receipt, body: &ReceiptBody) -> Result<(), StudentError> {
    if body.log.is_empty() {
        return Ok(());
    }
    let verifier = NoteVerifier::from_vkey(&body.log)
        .map_err(|e| StudentError::auth(format!("the receipt is NOT valid: its log key: {e}")))?;
    let Some(proof) = receipt.log_proof() else {
        return invalid(
            "it names Blackboard's log but carries no proof that the log holds it".into(),
        );
    };
    proof
        .verify(receipt.body_bytes(), &verifier)
        .map(|_| ())
        .or_else(|e| {
            invalid(format!(
                "its proof that Blackboard's log holds it does not verify: {e}"
            ))
        })
}

/// A certificate file's chain (at least one certificate).
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, StudentError> {
    let pem = std::fs::read(path)
        .map_err(|e| StudentError::file(format!("cannot read {}: {e}", path.display())))?;
    Ok(from_pem_or_der(&pem, "CERTIFICATE")
        .map_err(|e| StudentError::file(format!("{} is not a certificate: {e}", path.display())))?
        .into_iter()
        .map(CertificateDer::from)
        .collect())
}

/// The Blackboard certificates the profile knows, the pinned one first, then those recorded
/// since; refused if it pinned none.
fn profile_certificates(
    profile: &Profile,
) -> Result<Vec<(PathBuf, Vec<CertificateDer<'static>>)>, StudentError> {
    let pinned = profile.blackboard_cert();
    if pinned.symlink_metadata().is_err() {
        return Err(StudentError::file(format!(
            "your profile {} has no pinned Blackboard certificate ({} is missing; it is saved at \
             your first connection to Blackboard): pass --blackboard-cert FILE with Blackboard's \
             certificate",
            profile.dir().display(),
            pinned.display()
        )));
    }
    let mut found = vec![(pinned.clone(), read_chain(&pinned)?)];
    found.extend(
        recorded(profile).filter_map(|path| read_chain(&path).ok().map(|chain| (path, chain))),
    );
    Ok(found)
}

/// The certificates recorded in `blackboard-seen/`.
fn recorded(profile: &Profile) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(profile.blackboard_seen())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
}

/// Why `receipt` (the file's `text`) does not verify with `cert` (from `path`): damaged, signed
/// by another key, or altered after it was signed.
fn why_not(profile: &Profile, receipt: &Receipt, text: &[u8], path: &Path, cert: &[u8]) -> String {
    let shown = path.display();
    if let Err(e) = receipt.body_unverified() {
        return format!("it is damaged ({e})");
    }
    // Receipts are saved with the certificate whose key signed them, after the receipt block.
    let saved = from_pem_or_der(text, "CERTIFICATE")
        .ok()
        .and_then(|certs| certs.into_iter().next());
    if let Some(saved) = saved {
        if receipt.verify_signature(&saved).is_ok() {
            return format!(
                "it was signed by another key: the certificate saved with it ({}) verifies it, \
                 {shown} ({}) does not{}",
                pin::describe(&saved),
                pin::describe(cert),
                known_as(profile, &saved)
            );
        }
        return if saved == cert {
            format!(
                "it was altered after it was signed: the key of {shown} ({}) signed it, and its \
                 signature no longer matches its contents",
                pin::describe(cert)
            )
        } else {
            "it was altered after it was signed: not even the certificate saved with it verifies \
             it any more"
                .to_owned()
        };
    }
    // An older receipt file, without its signer: a certificate the profile knows may tell.
    let known = std::iter::once(profile.blackboard_cert())
        .chain(recorded(profile))
        .filter(|p| p.as_path() != path)
        .find(|p| {
            read_chain(p)
                .ok()
                .is_some_and(|chain| receipt.verify_signature(&chain[0]).is_ok())
        });
    match known {
        Some(p) => format!(
            "it was signed by another key: it verifies with {}, a Blackboard certificate your \
             profile knows, not with {shown}; verify with --blackboard-cert {}",
            p.display(),
            p.display()
        ),
        None => format!(
            "its signature does not verify with {shown} ({}): either it was altered after it \
             was signed, or another key signed it (this receipt file does not carry the \
             certificate that signed it, so which cannot be told)",
            pin::describe(cert)
        ),
    }
}

/// If the profile knows `cert` (pinned or recorded), where; else a hint on what to do.
fn known_as(profile: &Profile, cert: &[u8]) -> String {
    let path = std::iter::once(profile.blackboard_cert())
        .chain(recorded(profile))
        .find(|p| {
            read_chain(p)
                .ok()
                .is_some_and(|chain| chain[0].as_ref() == cert)
        });
    match path {
        Some(p) => format!(
            "; it verifies with {}, a Blackboard certificate your profile knows: verify with \
             --blackboard-cert {}",
            p.display(),
            p.display()
        ),
        None => "; it is no Blackboard certificate your profile knows: ask the course staff \
                 which certificate is Blackboard's"
            .to_owned(),
    }
}

/// The CUHK root: `--ca`, else the profile's `ca.crt`; with where it came from.
fn root(
    profile: &Profile,
    ca: Option<&Path>,
) -> Result<(CertificateDer<'static>, String), StudentError> {
    let path = ca.map(Path::to_path_buf).unwrap_or_else(|| profile.ca());
    let pem = std::fs::read(&path).map_err(|e| match ca {
        Some(_) => StudentError::file(format!("cannot read {}: {e}", path.display())),
        None => StudentError::file(format!(
            "cannot read the CUHK root certificate {} ({e}): pass --ca with CUHK's ca.crt, or --profile with your enrolled profile",
            path.display()
        )),
    })?;
    let der = from_pem_or_der(&pem, "CERTIFICATE")
        .map_err(|e| StudentError::file(format!("{} is not a certificate: {e}", path.display())))?
        .remove(0);
    Ok((CertificateDer::from(der), path.display().to_string()))
}
