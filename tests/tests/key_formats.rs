//! Private keys in the PEM forms OpenSSL writes, through the real binaries: a student enrolls
//! with `student enroll --csr F --key F` and a PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE
//! KEY`) key, then submits and fetches with that profile; Blackboard serves and signs receipts
//! with its key rewritten as SEC1. On both transports.

use handin_tests::*;
use std::path::Path;
use std::process::Command;

/// Runs `openssl` with `args` and fails the test if it is missing or fails: skipping silently
/// would let these tests pass without testing anything.
fn openssl(args: &[&dyn AsRef<std::ffi::OsStr>]) {
    assert!(
        have_openssl(),
        "these tests need the OpenSSL 3 command line (`openssl`) on PATH"
    );
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl failed: {}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
}

fn assert_label(key: &Path, label: &str) {
    let pem = std::fs::read_to_string(key).expect("the key file");
    assert!(
        pem.starts_with(&format!("-----BEGIN {label}-----")),
        "{} should be {label}: {pem}",
        key.display()
    );
}

/// Blackboard's key (PKCS#8 from `cuhk issue-server`) rewritten in place as SEC1.
fn blackboard_key_as_sec1(campus: &Campus) {
    let key = campus.path("bb.key");
    let sec1 = campus.path("bb-sec1.key");
    openssl(&[&"ec", &"-in", &key, &"-out", &sec1]);
    assert_label(&sec1, "EC PRIVATE KEY");
    std::fs::rename(&sec1, &key).expect("replacing bb.key");
}

fn enroll_with_an_openssl_key_then_submit(transport: &str, keygen: &[&str], label: &str) {
    let campus = Campus::with_transports(transport, transport);
    blackboard_key_as_sec1(&campus);
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();

    let key = campus.path("student.key");
    let csr = campus.path("student.csr");
    // `openssl COMMAND -out KEY OPTIONS...` (genrsa wants its bit count last).
    let (command, options) = keygen.split_first().expect("an openssl command");
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![command, &"-out", &key];
    args.extend(options.iter().map(|a| a as &dyn AsRef<std::ffi::OsStr>));
    openssl(&args);
    assert_label(&key, label);
    let subject = format!("/CN={ALICE}");
    openssl(&[
        &"req", &"-new", &"-key", &key, &"-subj", &subject, &"-out", &csr,
    ]);

    let code = campus.roster_add(ALICE);
    let mut enroll = campus.student(
        ALICE,
        &[
            "enroll", "--id", ALICE, "--code", &code, "--cuhk", &cuhk.addr, "--ca",
        ],
    );
    enroll
        .arg(campus.pki().join("ca.crt"))
        .arg("--csr")
        .arg(&csr)
        .arg("--key")
        .arg(&key);
    let out = ok(enroll);
    assert!(out.contains(&format!("CN={ALICE}")), "{out}");

    let file = campus.path("answers.bin");
    write_pattern(&file, 30_000, 5);
    let receipted = Receipted::from_json(&campus.submit(&bb, ALICE, &file, "hw1"), &file);
    assert_fetches_back(&campus, &bb, ALICE, &receipted);
    ok(campus.verify_receipt(ALICE, &receipted.receipt, &campus.path("bb.crt")));
    assert!(bb.stop());
    assert!(cuhk.stop());
}

const PKCS1: &[&str] = &["genrsa", "-traditional", "2048"];
const SEC1: &[&str] = &["ecparam", "-name", "prime256v1", "-genkey", "-noout"];

#[test]
fn a_pkcs1_student_key_enrolls_and_submits_on_mio() {
    enroll_with_an_openssl_key_then_submit("mio", PKCS1, "RSA PRIVATE KEY");
}

#[test]
fn a_pkcs1_student_key_enrolls_and_submits_on_smol() {
    enroll_with_an_openssl_key_then_submit("smol", PKCS1, "RSA PRIVATE KEY");
}

#[test]
fn a_sec1_student_key_enrolls_and_submits_on_mio() {
    enroll_with_an_openssl_key_then_submit("mio", SEC1, "EC PRIVATE KEY");
}

#[test]
fn a_sec1_student_key_enrolls_and_submits_on_smol() {
    enroll_with_an_openssl_key_then_submit("smol", SEC1, "EC PRIVATE KEY");
}
