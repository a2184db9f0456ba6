//! Whose signature `student verify-receipt` accepts, and how the student client pins
//! Blackboard's certificate: through the real binaries.
//!
//! A receipt proves something only if the key that signed it is Blackboard's. These tests forge
//! receipts with the keys a dishonest student can get (their own, one from a CA they made
//! themselves, another CUHK server's) and check that none passes, that the genuine one does and
//! names its signer, and that a change of Blackboard's certificate is shown, recorded and never
//! silently replaces the pinned one.

use handin_core::pki::from_pem_or_der;
use handin_core::submit::sha256;
use handin_core::{Identity, Receipt, ReceiptSigner};
use handin_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const WEEK: u64 = 7 * 24 * 3600;

/// The first certificate in a PEM file, DER.
fn der(cert: &Path) -> Vec<u8> {
    let pem = std::fs::read(cert).expect("certificate file");
    from_pem_or_der(&pem, "CERTIFICATE")
        .expect("a certificate")
        .remove(0)
}

/// The SHA-256 fingerprint of the first certificate in a PEM file, as `openssl x509
/// -fingerprint -sha256` prints it.
fn fingerprint(cert: &Path) -> String {
    sha256(&der(cert))
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `student --profile PROFILE verify-receipt RECEIPT --blackboard-cert CERT`.
fn verify(profile: &Path, receipt: &Path, cert: &Path) -> Command {
    let mut c = cmd("student");
    c.arg("--profile")
        .arg(profile)
        .arg("verify-receipt")
        .arg(receipt)
        .arg("--blackboard-cert")
        .arg(cert);
    c
}

/// A copy of `genuine` received `earlier` seconds earlier, signed with the key in `key_file`
/// (whose certificate is `cert_file`), written to `out`.
fn re_signed(genuine: &Path, earlier: u64, cert_file: &Path, key_file: &Path, out: &Path) {
    let receipt = Receipt::from_pem(&std::fs::read(genuine).expect("receipt")).expect("receipt");
    let mut body = receipt.body_unverified().expect("body");
    body.received_at -= earlier;
    // A forger cannot make a log proof for an altered body: these forgeries pose as receipts
    // of before the logs, so that what is tested is the trust in the signing certificate.
    body.log.clear();
    let identity = Identity::from_pem(
        &std::fs::read(cert_file).expect("certificate"),
        &std::fs::read(key_file).expect("key"),
    )
    .expect("certificate and key");
    let signer = ReceiptSigner::new(&identity.key, identity.chain[0].clone()).expect("signer");
    let forged = signer.sign(&body).expect("signing");
    std::fs::write(out, forged.to_pem()).expect("writing the forged receipt");
}

/// `cuhk issue-server` for `name` (localhost, 127.0.0.1) by the CA in `pki`, to `STEM.crt` and
/// `STEM.key`.
fn issue_server(campus: &Campus, pki: &Path, name: &str, stem: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        campus.path(&format!("{stem}.crt")),
        campus.path(&format!("{stem}.key")),
    );
    // The campus's own CA logs the certificate in its records (which may be in PostgreSQL).
    let mut c = if pki == campus.pki() {
        campus.cuhk(&["issue-server"])
    } else {
        let mut c = cmd("cuhk");
        c.args(["issue-server", "--dir"]).arg(pki);
        c
    };
    c.args([
        "--name",
        name,
        "--san",
        "localhost",
        "--san",
        "127.0.0.1",
        "--out-cert",
    ])
    .arg(&cert)
    .arg("--out-key")
    .arg(&key);
    ok(c);
    (cert, key)
}

/// A campus with ALICE enrolled, one submission made; returns the receipt file.
fn alice_submits(campus: &Campus) -> PathBuf {
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let file = campus.path("hw.txt");
    std::fs::write(&file, b"my answers").expect("write");
    let r = campus.submit(&bb, ALICE, &file, "hw1");
    PathBuf::from(r["receipt"].as_str().expect("receipt path"))
}

#[test]
fn a_receipt_re_signed_with_a_students_own_key_is_refused() {
    let campus = Campus::new();
    let genuine = alice_submits(&campus);
    let profile = campus.profile(ALICE);
    let forged = campus.path("forged.receipt");
    re_signed(
        &genuine,
        WEEK,
        &profile.join("cert.pem"),
        &profile.join("key.pem"),
        &forged,
    );
    let err = fails(verify(&profile, &forged, &profile.join("cert.pem")));
    assert!(err.contains("NOT valid"), "{err}");
    assert!(err.contains("not a server certificate"), "{err}");
}

#[test]
fn a_receipt_signed_by_a_self_made_blackboard_is_refused() {
    let campus = Campus::new();
    let genuine = alice_submits(&campus);
    // The student runs their own CA and issues themselves a server certificate named Blackboard.
    let own_pki = campus.path("own-pki");
    let mut init = cmd("cuhk");
    init.args(["init", "--dir"]).arg(&own_pki);
    ok(init);
    let (cert, key) = issue_server(&campus, &own_pki, "Blackboard", "own");
    let forged = campus.path("forged.receipt");
    re_signed(&genuine, WEEK, &cert, &key, &forged);
    let err = fails(verify(&campus.profile(ALICE), &forged, &cert));
    assert!(err.contains("NOT valid"), "{err}");
    assert!(err.contains("CUHK root"), "{err}");
}

#[test]
fn a_server_certificate_other_than_the_pinned_blackboard_is_refused() {
    let campus = Campus::new();
    let genuine = alice_submits(&campus);
    // A real CUHK server certificate, but not the Blackboard this profile talks to.
    let (cert, key) = issue_server(&campus, &campus.pki(), "Impostor", "impostor");
    let forged = campus.path("forged.receipt");
    re_signed(&genuine, 0, &cert, &key, &forged);
    let err = fails(verify(&campus.profile(ALICE), &forged, &cert));
    assert!(err.contains("NOT valid"), "{err}");
    assert!(err.contains("CN=Impostor"), "names the signer: {err}");
    assert!(err.contains("CN=Blackboard"), "names the pinned one: {err}");
    assert!(err.contains(&fingerprint(&cert)), "{err}");
    assert!(err.contains(&fingerprint(&campus.path("bb.crt"))), "{err}");

    // Someone with no pinned Blackboard (only the CUHK root) is told whose key signed.
    let mut c = cmd("student");
    c.arg("--profile")
        .arg(campus.path("no-profile"))
        .arg("verify-receipt")
        .arg(&forged)
        .arg("--blackboard-cert")
        .arg(&cert)
        .arg("--ca")
        .arg(campus.pki().join("ca.crt"));
    let out = ok(c);
    assert!(out.contains("valid receipt"), "{out}");
    assert!(out.contains("CN=Impostor"), "{out}");
    assert!(out.contains(&fingerprint(&cert)), "{out}");
}

#[test]
fn the_genuine_receipt_verifies_and_names_its_signer() {
    let campus = Campus::new();
    let genuine = alice_submits(&campus);
    let bb_crt = campus.path("bb.crt");
    let out = ok(verify(&campus.profile(ALICE), &genuine, &bb_crt));
    assert!(out.contains("valid receipt"), "{out}");
    assert!(out.contains("signed by CN=Blackboard"), "{out}");
    assert!(out.contains("127.0.0.1"), "{out}");
    assert!(out.contains(&fingerprint(&bb_crt)), "{out}");
    assert!(out.contains("pinned"), "{out}");
    // The profile pinned exactly the certificate Blackboard presented.
    assert_eq!(
        der(&campus.profile(ALICE).join("blackboard.crt")),
        der(&bb_crt)
    );
}

#[test]
fn a_receipt_dated_before_blackboards_certificate_was_valid_is_refused() {
    let campus = Campus::new();
    let genuine = alice_submits(&campus);
    // Even Blackboard's own key cannot vouch for a time its certificate did not cover.
    let (bb_crt, bb_key) = (campus.path("bb.crt"), campus.path("bb.key"));
    let forged = campus.path("forged.receipt");
    re_signed(&genuine, WEEK, &bb_crt, &bb_key, &forged);
    let err = fails(verify(&campus.profile(ALICE), &forged, &bb_crt));
    assert!(err.contains("NOT valid"), "{err}");
    assert!(err.contains("was not valid"), "{err}");
}

#[test]
fn verify_receipt_without_a_cuhk_root_says_how_to_give_one() {
    let campus = Campus::new();
    let genuine = alice_submits(&campus);
    let err = fails(verify(
        &campus.path("no-profile"),
        &genuine,
        &campus.path("bb.crt"),
    ));
    assert!(err.contains("--ca"), "{err}");
}

fn a_renewed_blackboard_certificate_is_shown_and_kept_apart(transport: &str) {
    let campus = Campus::with_transports(transport, transport);
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let profile = campus.profile(ALICE);
    let file = campus.path("hw.txt");
    std::fs::write(&file, b"my answers").expect("write");
    let first = Receipted::from_json(&campus.submit(&bb, ALICE, &file, "hw1"), &file);
    let old = campus.path("bb-old.crt");
    std::fs::copy(campus.path("bb.crt"), &old).expect("copy");
    assert!(bb.stop());

    // CUHK renews Blackboard's certificate: a new key, the same names.
    let (new_cert, new_key) = issue_server(&campus, &campus.pki(), "Blackboard", "bb-new");
    std::fs::copy(&new_cert, campus.path("bb.crt")).expect("copy");
    std::fs::copy(&new_key, campus.path("bb.key")).expect("copy");
    let bb = campus.start_blackboard();
    let out = run(submit_cmd(&campus, &bb, ALICE, &file));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let second = Receipted::from_output(&out, &file);
    let warning = stderr_of(&out);
    assert!(
        warning.contains("Blackboard's certificate changed"),
        "{warning}"
    );
    assert!(warning.contains(&fingerprint(&old)), "{warning}");
    assert!(warning.contains(&fingerprint(&new_cert)), "{warning}");
    assert!(warning.contains("CN=Blackboard"), "{warning}");
    assert!(warning.contains("pin-blackboard"), "{warning}");
    // The pinned certificate stays; the new one is recorded in the profile.
    assert_eq!(der(&profile.join("blackboard.crt")), der(&old));
    let recorded = profile
        .join("blackboard-seen")
        .join(format!("{}.crt", fingerprint(&new_cert).replace(':', "")));
    assert_eq!(der(&recorded), der(&new_cert));
    // Each receipt verifies with the certificate that signed it, and only with that one.
    ok(verify(&profile, &first.receipt, &old));
    ok(verify(&profile, &second.receipt, &recorded));
    let err = fails(verify(&profile, &second.receipt, &old));
    assert!(err.contains("NOT valid"), "{err}");
    assert!(
        err.contains(&format!("it verifies with {}", recorded.display())),
        "points to the certificate that signed it: {err}"
    );

    // The student accepts the renewal: the warning stops, old receipts still verify.
    let mut pin = cmd("student");
    pin.arg("--profile")
        .arg(&profile)
        .arg("pin-blackboard")
        .arg(&recorded);
    let pinned = ok(pin);
    assert!(pinned.contains(&fingerprint(&new_cert)), "{pinned}");
    let out = run(submit_cmd(&campus, &bb, ALICE, &file));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!stderr_of(&out).contains("changed"), "{}", stderr_of(&out));
    assert_eq!(der(&profile.join("blackboard.crt")), der(&new_cert));
    ok(verify(&profile, &first.receipt, &old));
    ok(verify(&profile, &second.receipt, &new_cert));
}

#[test]
fn a_renewed_blackboard_certificate_is_shown_and_kept_apart_mio() {
    a_renewed_blackboard_certificate_is_shown_and_kept_apart("mio");
}

#[test]
fn a_renewed_blackboard_certificate_is_shown_and_kept_apart_smol() {
    a_renewed_blackboard_certificate_is_shown_and_kept_apart("smol");
}
