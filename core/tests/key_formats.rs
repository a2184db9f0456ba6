//! Private keys in each PEM form OpenSSL writes load as a TLS identity: PKCS#8 (`PRIVATE KEY`,
//! `openssl genpkey`), PKCS#1 (`RSA PRIVATE KEY`, `openssl genrsa -traditional`) and SEC1
//! (`EC PRIVATE KEY`, `openssl ecparam -genkey`). Each key gets a certificate through enrollment
//! and then authenticates a submission connection with it.

use handin_core::config::Identity;
use handin_core::harness::Campus;
use handin_core::pki::to_pem;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

const ALICE: &str = "1155000001";

/// Runs `openssl` in `dir` and fails the test if it does not succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running the openssl command (is OpenSSL installed?)");
    assert!(
        out.status.success(),
        "openssl {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

/// Makes `key.pem` with `keygen` (which must write a `label` block), a CSR for ALICE with it,
/// enrolls the CSR, and connects to Blackboard with the issued chain and the key.
fn an_openssl_key_enrolls_and_authenticates(keygen: &[&str], label: &str) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir = dir.path();
    openssl(dir, keygen);
    let key = read(dir, "key.pem");
    assert!(
        String::from_utf8_lossy(&key).starts_with(&format!("-----BEGIN {label}-----")),
        "openssl {} writes {label}: {}",
        keygen.join(" "),
        String::from_utf8_lossy(&key)
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "key.pem",
            "-subj",
            &format!("/CN={ALICE}"),
            "-outform",
            "DER",
            "-out",
            "alice.der",
        ],
    );

    let mut campus = Campus::new(handin_core::Now::new(
        std::time::Instant::now(),
        SystemTime::now(),
    ));
    let code = campus.add_student(ALICE);
    let mut enroll = campus.enroll_pair(None);
    let chain = campus
        .enroll(&mut enroll, ALICE, &code, &read(dir, "alice.der"))
        .expect("enrolling with the openssl CSR");
    let chain_pem: String = chain.iter().map(|c| to_pem("CERTIFICATE", c)).collect();

    let identity = Identity::from_pem(chain_pem.as_bytes(), &key)
        .unwrap_or_else(|e| panic!("a {label} key loads: {e}"));
    let mut pair = campus.submit_pair(Some(identity));
    campus
        .connect_submit(&mut pair)
        .unwrap_or_else(|e| panic!("Blackboard accepts the {label} key's identity: {e:?}"));
    assert_eq!(pair.client.student(), Some(ALICE));
}

#[test]
fn a_pkcs8_key_from_openssl_genpkey_is_accepted() {
    an_openssl_key_enrolls_and_authenticates(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "key.pem",
        ],
        "PRIVATE KEY",
    );
}

#[test]
fn a_pkcs1_rsa_key_from_openssl_genrsa_traditional_is_accepted() {
    an_openssl_key_enrolls_and_authenticates(
        &["genrsa", "-traditional", "-out", "key.pem", "2048"],
        "RSA PRIVATE KEY",
    );
}

#[test]
fn a_sec1_ec_key_from_openssl_ecparam_genkey_is_accepted() {
    an_openssl_key_enrolls_and_authenticates(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "key.pem",
        ],
        "EC PRIVATE KEY",
    );
}
