//! `export-p12`: the profile's private key, its certificate chain and the CUHK root as one
//! password-protected PKCS#12 file, the format browsers and the operating systems' key stores
//! import (Chromium and Firefox through NSS, macOS Keychain, Windows). Encrypted as OpenSSL 3
//! does by default: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for the key and the certificates, an
//! HMAC-SHA256 integrity MAC over the whole. The file is written with mode 0600, in full before
//! it appears, and never over an existing file unless asked to.

use super::output;
use crate::session::{Profile, StudentError};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{
    EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
};
use handin_core::pki::{certificate_info, person_of, Fingerprint};
use handin_core::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use handin_core::{ClientConfig, Role};
use handin_files::{self as fsio, PRIVATE};
use p12_keystore::{Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm};
use p12_keystore::{PrivateKey, PrivateKeyChain};
use std::io;
use std::path::{Path, PathBuf};

/// PBKDF2 iterations for the encryption and for the MAC key (OpenSSL 3's default is 2048;
/// more makes guessing the password of a stolen file slower, at a few milliseconds per import).
const ITERATIONS: u32 = 100_000;

/// Where the password that protects the file comes from.
#[derive(Debug, Clone)]
pub enum PasswordSource {
    /// The first line of this file (without its line ending).
    File(PathBuf),
    /// Asked twice on the terminal, without echo.
    Prompt,
}

/// What [`export_p12`] wrote.
#[derive(Debug, Clone)]
pub struct ExportedP12 {
    /// The file written.
    pub path: PathBuf,
    /// The certificate's subject, as `CN=..., O=...`.
    pub subject: String,
    /// The certificate's SHA-256 fingerprint (colon-separated upper-case hex, as `openssl x509
    /// -fingerprint -sha256` prints it).
    pub sha256: String,
}

/// Writes the profile's private key, certificate chain and CUHK root to `out` as a PKCS#12
/// file protected by the password `password` gives (asked only once the profile and `out` are
/// known to be usable). An existing `out` is replaced only if `overwrite`; the file is written
/// with mode 0600, durably, and appears only complete.
///
/// Errors: no certificate or key in the profile, `out` in the way or not writable, an
/// unreadable password file ([`crate::ErrorKind::File`]); an empty password, a mismatch at the
/// prompt, no terminal to ask on ([`crate::ErrorKind::Usage`]).
pub fn export_p12(
    profile: &Profile,
    out: &Path,
    password: &PasswordSource,
    overwrite: bool,
) -> Result<ExportedP12, StudentError> {
    let identity = profile.identity()?;
    let ca = profile.ca_der()?;
    let damaged = |what: String| {
        StudentError::file(format!(
            "your profile in {} is damaged ({what}): enroll again",
            profile.dir().display()
        ))
    };
    let leaf = identity
        .chain
        .first()
        .ok_or_else(|| damaged("cert.pem holds no certificate".into()))?
        .clone();
    // rustls refuses a key that does not go with the certificate.
    ClientConfig::new(Role::Submit, ca.clone(), Some(identity.clone()))
        .map_err(|e| damaged(format!("the key does not go with the certificate: {e}")))?;
    let info = certificate_info(&leaf).map_err(|e| damaged(e.to_string()))?;
    let key = pkcs8(&identity.key).map_err(damaged)?;
    if out.is_dir() {
        return Err(StudentError::file(format!(
            "{} is a directory: give the file to write, such as {}",
            out.display(),
            out.join("handin.p12").display()
        )));
    }
    output::check_free(out, overwrite)?;
    let password = read_password(password)?;

    let name = person_of(&leaf).map_or_else(|_| info.subject.clone(), |(id, _)| id.to_string());
    let bytes = bundle(&key, &identity.chain, &ca, &name, &password)
        .map_err(|e| StudentError::other(format!("cannot make the PKCS#12 file: {e}")))?;
    write(out, &bytes, overwrite)?;
    Ok(ExportedP12 {
        path: out.to_path_buf(),
        subject: info.subject,
        sha256: Fingerprint::of(&leaf).to_string(),
    })
}

/// The PKCS#12 bytes: one key entry named `name` whose chain is `chain` (end-entity first)
/// followed by the root, unless the chain already ends with it.
fn bundle(
    key: &[u8],
    chain: &[CertificateDer<'static>],
    root: &CertificateDer<'static>,
    name: &str,
    password: &str,
) -> Result<Vec<u8>, String> {
    let mut ders: Vec<&[u8]> = chain.iter().map(|c| c.as_ref()).collect();
    if !ders.iter().any(|d| *d == root.as_ref()) {
        ders.push(root.as_ref());
    }
    let certs = ders
        .into_iter()
        .map(Certificate::from_der)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a certificate does not parse: {e}"))?;
    let key = PrivateKey::from_der(key).map_err(|e| format!("the key: {e}"))?;
    // The local key id ties the key to its certificate: the certificate's SHA-256.
    let key_id = Fingerprint::of(chain.first().map_or(&[][..], |c| c.as_ref()))
        .as_bytes()
        .to_vec();
    let mut store = KeyStore::new();
    store.add_entry(
        name,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(key_id, key, certs)),
    );
    store
        .writer(password)
        .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
        .encryption_iterations(ITERATIONS)
        .mac_algorithm(MacAlgorithm::HmacSha256)
        .mac_iterations(ITERATIONS)
        .write()
        .map_err(|e| e.to_string())
}

/// The key as PKCS#8 (what PKCS#12 holds), from any of the forms a profile may keep.
fn pkcs8(key: &PrivateKeyDer<'_>) -> Result<Vec<u8>, String> {
    match key {
        PrivateKeyDer::Pkcs8(k) => Ok(k.secret_pkcs8_der().to_vec()),
        PrivateKeyDer::Sec1(k) => {
            let der = k.secret_sec1_der();
            [
                &ECDSA_P256_SHA256_ASN1_SIGNING,
                &ECDSA_P384_SHA384_ASN1_SIGNING,
            ]
            .into_iter()
            .find_map(|alg| EcdsaKeyPair::from_private_key_der(alg, der).ok())
            .and_then(|k| k.to_pkcs8v1().ok())
            .map(|doc| doc.as_ref().to_vec())
            .ok_or_else(|| "the EC private key is not a P-256 or P-384 key".to_owned())
        }
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der())
            .map_err(|e| format!("the RSA private key: {e}"))
            .and_then(|k| {
                k.as_der()
                    .map(|d| d.as_ref().to_vec())
                    .map_err(|e| format!("the RSA private key: {e}"))
            }),
        _ => Err("the private key is of an unknown form".to_owned()),
    }
}

/// The password, checked not to be empty.
fn read_password(source: &PasswordSource) -> Result<String, StudentError> {
    let password = match source {
        PasswordSource::File(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| StudentError::file(format!("cannot read {}: {e}", path.display())))?;
            password_of_file(&bytes).map_err(|e| {
                StudentError::usage(format!("the password file {}: {e}", path.display()))
            })?
        }
        PasswordSource::Prompt => {
            let ask = |prompt: &str| {
                rpassword::prompt_password(prompt).map_err(|e| {
                    StudentError::usage(format!(
                        "cannot ask for a password ({e}): pass --password-file FILE"
                    ))
                })
            };
            let first = ask("Password for the PKCS#12 file: ")?;
            if first.is_empty() {
                return Err(empty_password());
            }
            if ask("The same password again: ")? != first {
                return Err(StudentError::usage(
                    "the two passwords differ: nothing was written",
                ));
            }
            first
        }
    };
    if password.is_empty() {
        return Err(empty_password());
    }
    Ok(password)
}

fn empty_password() -> StudentError {
    StudentError::usage(
        "an empty password would leave the private key unprotected: give a password",
    )
}

/// The first line of a password file, without its line ending.
fn password_of_file(bytes: &[u8]) -> Result<String, String> {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err("its first line is empty; the first line is the password".into());
    }
    String::from_utf8(line.to_vec()).map_err(|_| "the first line is not UTF-8 text".into())
}

/// Writes `bytes` to `path` with mode 0600, durably: over an existing file only if
/// `overwrite`, else through a temporary file linked into place only if nothing is there.
fn write(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), StudentError> {
    let cannot = |e: io::Error| StudentError::file(format!("cannot write {}: {e}", path.display()));
    if overwrite {
        return fsio::write_atomic(path, bytes, PRIVATE).map_err(cannot);
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "export".into(), |n| n.to_string_lossy().into_owned());
    let mut tmp = None;
    for i in 0..100u32 {
        let candidate = dir.join(format!(".{name}.{}-{i}.part", std::process::id()));
        match fsio::write_new(&candidate, bytes, PRIVATE) {
            Ok(()) => {
                tmp = Some(candidate);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                let _ = std::fs::remove_file(&candidate);
                return Err(cannot(e));
            }
        }
    }
    let tmp = tmp.ok_or_else(|| {
        StudentError::file(format!(
            "cannot create a temporary file in {}",
            dir.display()
        ))
    })?;
    let placed =
        output::place(&tmp, path, false).and_then(|()| fsio::sync_dir(dir).map_err(cannot));
    if placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;
    use handin_core::rustls::pki_types::pem::PemObject;

    #[test]
    fn the_password_is_the_first_line_and_never_empty() {
        assert_eq!(password_of_file(b"s3cret\n").as_deref(), Ok("s3cret"));
        assert_eq!(
            password_of_file(b"s3cret\r\nmore\n").as_deref(),
            Ok("s3cret")
        );
        assert_eq!(password_of_file(b"no newline").as_deref(), Ok("no newline"));
        assert_eq!(
            password_of_file(" spaced ".as_bytes()).as_deref(),
            Ok(" spaced ")
        );
        for bad in [&b""[..], b"\n", b"\r\n", b"\nsecond line"] {
            assert!(password_of_file(bad).is_err(), "{bad:?}");
        }
        assert!(password_of_file(b"\xff\xfe\n").is_err());
    }

    #[test]
    fn a_key_in_any_profile_form_becomes_pkcs8() {
        let key = handin_core::pki::new_student_key(
            &handin_core::pki::StudentId::parse("1155000001").unwrap(),
        )
        .unwrap();
        let der = PrivateKeyDer::from_pem_slice(key.key_pem.as_bytes()).unwrap();
        let p8 = pkcs8(&der).unwrap();
        assert!(PrivateKey::from_der(&p8).is_ok());
        // The same key as SEC1 converts to an equivalent PKCS#8 key.
        let pair =
            EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &p8).unwrap();
        let sec1 =
            aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::EcPrivateKeyRfc5915Der>::as_der(
                &pair.private_key(),
            )
            .unwrap();
        let from_sec1 = pkcs8(&PrivateKeyDer::Sec1(sec1.as_ref().to_vec().into())).unwrap();
        let again = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &from_sec1)
            .unwrap();
        use aws_lc_rs::signature::KeyPair;
        assert_eq!(again.public_key().as_ref(), pair.public_key().as_ref());
        assert!(pkcs8(&PrivateKeyDer::Sec1(vec![0x30, 0x03, 1, 2, 3].into())).is_err());
        assert!(pkcs8(&PrivateKeyDer::Pkcs1(vec![0x30, 0x00].into())).is_err());
    }
}
