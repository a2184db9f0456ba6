//! The OpenSSL command line as an independent judge and peer of the PKI.
//!
//! What CUHK issues must pass `openssl verify` and read right in `openssl x509 -text`; CSRs and
//! keys made by `openssl req` / `openssl genpkey` must be accepted (or refused, for weak ones)
//! by the core. These tests need files and processes, so they live here and not in the core.
//! `openssl verify` checks validity against the real clock, so certificates here are issued at
//! the real current time.

use handin_core::config::{ClientConfig, Identity, Role};
use handin_core::harness::{Campus, StudentKey};
use handin_core::pki::{
    certificate_info, check_csr, serial_hex, to_pem, Ca, CheckedCsr, CsrError, KeyKind,
    Revocations, RevokedSerial, ServerName, StudentId, UNIVERSITY,
};
use handin_core::receipt::{Receipt, ReceiptBody, ReceiptSigner};
use handin_core::rustls::pki_types::CertificateDer;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

const ALICE: &str = "1155000001";
const BOB: &str = "1155000002";
const DAY: Duration = Duration::from_secs(24 * 3600);
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
/// The clock-skew allowance CUHK puts before `now` in every certificate.
const SKEW: u64 = 60;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// What one `openssl` run did.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout and stderr together (OpenSSL is not consistent about which one it uses).
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `openssl` with `args` in `dir` (so file arguments are plain names in that directory).
fn openssl(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running the openssl command (is OpenSSL installed?)");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `openssl` and fails the test if it does not succeed.
fn openssl_ok(dir: &Path, args: &[&str]) -> Run {
    let run = openssl(dir, args);
    assert!(run.ok, "openssl {} failed:\n{}", args.join(" "), run.all());
    run
}

/// Writes `bytes` to `name` in `dir`.
fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("writing {name}: {e}"));
}

/// Reads `name` from `dir`.
fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("creating a temporary directory")
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

fn id(s: &str) -> StudentId {
    StudentId::parse(s).expect("a 10-digit test student ID")
}

fn new_ca(now: SystemTime) -> Ca {
    Ca::generate("CUHK Root CA", now, 10 * YEAR).expect("generating the CA")
}

/// Writes the CA certificate as `ca.pem`.
fn write_ca(dir: &Path, ca: &Ca) {
    write(dir, "ca.pem", ca.cert_pem());
}

/// Writes a DER certificate as PEM.
fn write_cert(dir: &Path, name: &str, der: &[u8]) {
    write(dir, name, to_pem("CERTIFICATE", der));
}

/// A checked CSR for `student` from a fresh P-256 key made by the core's own tooling.
fn core_csr(student: &str) -> CheckedCsr {
    let key = StudentKey::new(student);
    check_csr(&key.csr_der, Some(&id(student))).expect("the core's own CSR passes the policy")
}

/// Makes a new key and CSR with `openssl req -new -newkey ...`: writes `{name}.key` and
/// `{name}.csr` (PEM) and returns the CSR's PEM bytes. `newkey` are the key arguments (for
/// example `["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]`), `extra` any further arguments.
fn openssl_csr(dir: &Path, name: &str, newkey: &[&str], cn: &str, extra: &[&str]) -> Vec<u8> {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let subj = format!("/CN={cn}");
    let mut args = vec!["req", "-new", "-nodes", "-newkey"];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&["-subj", &subj, "-keyout", &key, "-out", &csr]);
    args.extend_from_slice(extra);
    openssl_ok(dir, &args);
    read(dir, &csr)
}

const P256: &[&str] = &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
const P384: &[&str] = &["ec", "-pkeyopt", "ec_paramgen_curve:P-384"];
const SECP256K1: &[&str] = &["ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"];
const RSA2048: &[&str] = &["rsa:2048"];
const RSA1024: &[&str] = &["rsa:1024"];

/// `openssl x509 -noout -text` of a certificate file.
fn x509_text(dir: &Path, name: &str) -> String {
    openssl_ok(dir, &["x509", "-in", name, "-noout", "-text"]).stdout
}

/// `openssl verify -CAfile ca.pem {extra} {name}`.
fn verify(dir: &Path, name: &str, extra: &[&str]) -> Run {
    let mut args = vec!["verify", "-CAfile", "ca.pem"];
    args.extend_from_slice(extra);
    args.push(name);
    openssl(dir, &args)
}

fn assert_verifies(dir: &Path, name: &str, extra: &[&str]) {
    let run = verify(dir, name, extra);
    assert!(
        run.ok && run.stdout.contains(&format!("{name}: OK")),
        "openssl verify {extra:?} {name} should pass:\n{}",
        run.all()
    );
}

/// Asserts that `openssl verify` fails and says `reason` (case-insensitive: the wording of
/// OpenSSL's messages varies between versions, "unsupported" or "unsuitable certificate
/// purpose" for example).
fn assert_fails_verify(dir: &Path, name: &str, extra: &[&str], reason: &str) {
    let run = verify(dir, name, extra);
    assert!(
        !run.ok,
        "openssl verify {extra:?} {name} should fail:\n{}",
        run.all()
    );
    assert!(
        run.all().to_lowercase().contains(&reason.to_lowercase()),
        "openssl verify {extra:?} {name} should fail with {reason:?}:\n{}",
        run.all()
    );
}

/// The serial `openssl x509 -serial` prints, as uppercase hex without leading zeros.
fn openssl_serial(dir: &Path, name: &str) -> String {
    let out = openssl_ok(dir, &["x509", "-in", name, "-noout", "-serial"]).stdout;
    let hex = out
        .trim()
        .strip_prefix("serial=")
        .unwrap_or_else(|| panic!("openssl x509 -serial printed {out:?}"));
    hex.trim_start_matches('0').to_ascii_uppercase()
}

/// Bits in a hex number with no leading zeros.
fn hex_bits(hex: &str) -> u32 {
    let Some(first) = hex.chars().next() else {
        return 0;
    };
    let first = first
        .to_digit(16)
        .expect("openssl prints the serial in hex");
    4 * (hex.len() as u32 - 1) + (32 - first.leading_zeros())
}

/// Parses a date as `openssl x509 -dates` prints it (`Sep  1 00:00:00 2026 GMT`) into Unix
/// seconds.
fn parse_openssl_date(s: &str) -> u64 {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = s.split_whitespace().collect();
    assert!(
        parts.len() == 5 && parts[4] == "GMT",
        "unexpected openssl date {s:?}"
    );
    let month = MONTHS
        .iter()
        .position(|m| *m == parts[0])
        .unwrap_or_else(|| panic!("unexpected month in openssl date {s:?}")) as i64
        + 1;
    let num = |t: &str| -> i64 {
        t.parse()
            .unwrap_or_else(|_| panic!("unexpected number {t:?} in openssl date {s:?}"))
    };
    let day = num(parts[1]);
    let year = num(parts[3]);
    let hms: Vec<i64> = parts[2].split(':').map(num).collect();
    assert_eq!(hms.len(), 3, "unexpected time in openssl date {s:?}");
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
    u64::try_from(secs).expect("a date after 1970")
}

/// (notBefore, notAfter) of a certificate file, in Unix seconds, as OpenSSL reads them.
fn openssl_dates(dir: &Path, name: &str) -> (u64, u64) {
    let out = openssl_ok(dir, &["x509", "-in", name, "-noout", "-dates"]).stdout;
    let field = |label: &str| {
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} in openssl x509 -dates output {out:?}"));
        parse_openssl_date(line)
    };
    (field("notBefore="), field("notAfter="))
}

/// The public key in a certificate file, as PEM.
fn pubkey_of_cert(dir: &Path, name: &str) -> String {
    openssl_ok(dir, &["x509", "-in", name, "-noout", "-pubkey"]).stdout
}

fn pubkey_of_csr(dir: &Path, name: &str) -> String {
    openssl_ok(dir, &["req", "-in", name, "-noout", "-pubkey"]).stdout
}

fn pubkey_of_key(dir: &Path, name: &str) -> String {
    openssl_ok(dir, &["pkey", "-in", name, "-pubout"]).stdout
}

/// Issues a student certificate for an openssl CSR file, writes it as `{name}.pem`, and checks
/// that `openssl verify` accepts it and that it carries the CSR's public key.
fn issue_and_verify(dir: &Path, ca: &Ca, csr: &CheckedCsr, name: &str, now: SystemTime) {
    let cert = ca
        .issue_student(csr, now, 30 * DAY)
        .expect("issuing a student certificate");
    let pem = format!("{name}.pem");
    write_cert(dir, &pem, &cert);
    assert_verifies(dir, &pem, &[]);
    assert_verifies(dir, &pem, &["-purpose", "sslclient"]);
    assert_eq!(
        pubkey_of_cert(dir, &pem),
        pubkey_of_csr(dir, &format!("{name}.csr")),
        "the certificate must certify the CSR's own key"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Student certificates as OpenSSL sees them
// ---------------------------------------------------------------------------------------------

#[test]
fn openssl_verify_accepts_a_student_certificate_issued_for_a_checked_csr() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    write_ca(dir, &ca);
    let cert = ca
        .issue_student(&core_csr(ALICE), now, 30 * DAY)
        .expect("issuing a student certificate");
    write_cert(dir, "student.pem", &cert);
    assert_verifies(dir, "student.pem", &[]);
}

#[test]
fn a_student_certificate_names_the_student_and_university_and_is_for_client_auth_only() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    let cert = ca
        .issue_student(&core_csr(ALICE), now, 30 * DAY)
        .expect("issuing a student certificate");
    write_cert(dir, "student.pem", &cert);
    let text = x509_text(dir, "student.pem");
    let subject = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Subject:"))
        .unwrap_or_else(|| panic!("no Subject line in:\n{text}"));
    assert!(
        subject.contains(&format!("CN = {ALICE}")),
        "subject {subject:?} must hold CN = the student ID"
    );
    assert!(
        subject.contains(&format!("O = {UNIVERSITY}")),
        "subject {subject:?} must hold O = the university"
    );
    assert!(
        text.contains("TLS Web Client Authentication"),
        "clientAuth EKU missing:\n{text}"
    );
    assert!(
        !text.contains("TLS Web Server Authentication"),
        "a student certificate must not carry serverAuth:\n{text}"
    );
    assert!(text.contains("CA:FALSE"), "CA:FALSE missing:\n{text}");
    assert!(
        !text.contains("CA:TRUE"),
        "a student certificate must not be a CA:\n{text}"
    );
}

#[test]
fn a_student_certificate_serial_has_at_least_64_bits_and_is_the_one_the_core_reports() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    let cert = ca
        .issue_student(&core_csr(ALICE), now, 30 * DAY)
        .expect("issuing a student certificate");
    write_cert(dir, "student.pem", &cert);
    let serial = openssl_serial(dir, "student.pem");
    assert!(
        hex_bits(&serial) >= 64,
        "serial {serial} has only {} bits",
        hex_bits(&serial)
    );
    let info = certificate_info(&cert).expect("the core reads its own certificate");
    assert_eq!(serial, serial_hex(&info.serial));
}

#[test]
fn a_student_certificate_is_valid_for_the_requested_lifetime_plus_the_skew_allowance() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let lifetime = 30 * DAY;
    let ca = new_ca(now);
    let cert = ca
        .issue_student(&core_csr(ALICE), now, lifetime)
        .expect("issuing a student certificate");
    write_cert(dir, "student.pem", &cert);

    let (not_before, not_after) = openssl_dates(dir, "student.pem");
    let expected_start = unix(now) - SKEW;
    assert!(
        not_before.abs_diff(expected_start) <= 1,
        "notBefore {not_before} should be now less {SKEW} s ({expected_start})"
    );
    let span = not_after - not_before;
    let expected_span = lifetime.as_secs() + SKEW;
    assert!(
        span.abs_diff(expected_span) <= 1,
        "validity spans {span} s, expected {expected_span} s"
    );

    // The same from OpenSSL's own clock: valid an hour before the lifetime ends, expired an
    // hour after.
    let before_end = (lifetime.as_secs() - 3600).to_string();
    let after_end = (lifetime.as_secs() + 3600).to_string();
    let run = openssl(
        dir,
        &[
            "x509",
            "-in",
            "student.pem",
            "-noout",
            "-checkend",
            &before_end,
        ],
    );
    assert!(run.ok, "should still be valid: {}", run.all());
    let run = openssl(
        dir,
        &[
            "x509",
            "-in",
            "student.pem",
            "-noout",
            "-checkend",
            &after_end,
        ],
    );
    assert!(!run.ok, "should have expired: {}", run.all());
}

// ---------------------------------------------------------------------------------------------
// 2. Serials are random, not derived from the key
// ---------------------------------------------------------------------------------------------

#[test]
fn two_certificates_issued_for_the_same_csr_get_different_serials() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    let csr = core_csr(ALICE);
    let mut serials = Vec::new();
    for i in 0..4 {
        let cert = ca
            .issue_student(&csr, now, 30 * DAY)
            .expect("issuing a student certificate");
        let name = format!("student{i}.pem");
        write_cert(dir, &name, &cert);
        serials.push(openssl_serial(dir, &name));
    }
    let mut unique = serials.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        serials.len(),
        "serials repeat for one CSR: {serials:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Purposes: servers are servers, students are clients
// ---------------------------------------------------------------------------------------------

#[test]
fn a_server_certificate_verifies_as_an_ssl_server_for_its_names_but_not_as_an_ssl_client() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    write_ca(dir, &ca);
    let names = [
        ServerName::Dns("localhost".into()),
        ServerName::parse("127.0.0.1"),
    ];
    let server = ca
        .issue_server("Blackboard", &names, now, YEAR)
        .expect("issuing a server certificate");
    write(dir, "server.pem", &server.cert_pem);

    assert_verifies(dir, "server.pem", &["-purpose", "sslserver"]);
    assert_verifies(
        dir,
        "server.pem",
        &["-purpose", "sslserver", "-verify_hostname", "localhost"],
    );
    assert_verifies(
        dir,
        "server.pem",
        &["-purpose", "sslserver", "-verify_ip", "127.0.0.1"],
    );
    assert_fails_verify(
        dir,
        "server.pem",
        &["-purpose", "sslserver", "-verify_hostname", "example.com"],
        "hostname mismatch",
    );
    assert_fails_verify(
        dir,
        "server.pem",
        &["-purpose", "sslclient"],
        "certificate purpose",
    );
    let text = x509_text(dir, "server.pem");
    assert!(text.contains("DNS:localhost"), "SAN missing:\n{text}");
    assert!(
        text.contains("IP Address:127.0.0.1"),
        "SAN missing:\n{text}"
    );
    assert!(text.contains("CA:FALSE"), "CA:FALSE missing:\n{text}");
}

#[test]
fn a_student_certificate_verifies_as_an_ssl_client_but_not_as_an_ssl_server() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    write_ca(dir, &ca);
    let cert = ca
        .issue_student(&core_csr(ALICE), now, 30 * DAY)
        .expect("issuing a student certificate");
    write_cert(dir, "student.pem", &cert);
    assert_verifies(dir, "student.pem", &["-purpose", "sslclient"]);
    assert_fails_verify(
        dir,
        "student.pem",
        &["-purpose", "sslserver"],
        "certificate purpose",
    );
}

// ---------------------------------------------------------------------------------------------
// 4. The CA certificate
// ---------------------------------------------------------------------------------------------

#[test]
fn the_ca_certificate_is_a_ca_with_an_ec_p256_key_that_openssl_trusts() {
    let dir = tempdir();
    let dir = dir.path();
    let ca = new_ca(now());
    write_ca(dir, &ca);
    let text = x509_text(dir, "ca.pem");
    assert!(text.contains("CA:TRUE"), "CA:TRUE missing:\n{text}");
    assert!(text.contains("id-ecPublicKey"), "not an EC key:\n{text}");
    assert!(text.contains("prime256v1"), "not on P-256:\n{text}");
    assert!(
        text.contains("Certificate Sign") && text.contains("CRL Sign"),
        "the CA must be allowed to sign certificates and CRLs:\n{text}"
    );
    assert_verifies(dir, "ca.pem", &[]);
}

// ---------------------------------------------------------------------------------------------
// 5. CRLs
// ---------------------------------------------------------------------------------------------

/// A CA, a revoked and a good student certificate, and a CRL revoking the first, all written:
/// `ca.pem`, `revoked.pem`, `good.pem`, `crl.pem`. Returns the CA, the revoked serial and the
/// CRL PEM.
fn revocation_setup(dir: &Path) -> (Ca, Vec<u8>, Vec<u8>, String) {
    let now = now();
    let ca = new_ca(now);
    write_ca(dir, &ca);
    let revoked = ca
        .issue_student(&core_csr(ALICE), now, 30 * DAY)
        .expect("issuing the revoked certificate");
    let good = ca
        .issue_student(&core_csr(BOB), now, 30 * DAY)
        .expect("issuing the good certificate");
    write_cert(dir, "revoked.pem", &revoked);
    write_cert(dir, "good.pem", &good);
    let revoked_serial = certificate_info(&revoked)
        .expect("the core reads its own certificate")
        .serial;
    let good_serial = certificate_info(&good)
        .expect("the core reads its own certificate")
        .serial;
    let crl = ca
        .crl(
            &[RevokedSerial {
                serial: revoked_serial.clone(),
                revoked_at: now,
            }],
            1,
            now,
            DAY,
        )
        .expect("signing the CRL");
    let crl_pem = to_pem("X509 CRL", &crl);
    write(dir, "crl.pem", &crl_pem);
    (ca, revoked_serial, good_serial, crl_pem)
}

#[test]
fn openssl_checks_the_crl_signature_against_the_ca() {
    let dir = tempdir();
    let dir = dir.path();
    let (_, revoked_serial, _, _) = revocation_setup(dir);
    let run = openssl_ok(
        dir,
        &["crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout"],
    );
    assert!(
        run.all().contains("verify OK"),
        "openssl crl should say verify OK:\n{}",
        run.all()
    );
    let text = openssl_ok(dir, &["crl", "-in", "crl.pem", "-noout", "-text"]).stdout;
    assert!(
        text.contains(&serial_hex(&revoked_serial)),
        "the CRL should list serial {}:\n{text}",
        serial_hex(&revoked_serial)
    );
}

#[test]
fn openssl_verify_with_the_crl_refuses_the_revoked_certificate_and_accepts_the_other() {
    let dir = tempdir();
    let dir = dir.path();
    revocation_setup(dir);
    let crl = ["-crl_check", "-CRLfile", "crl.pem"];
    assert_fails_verify(dir, "revoked.pem", &crl, "certificate revoked");
    assert_verifies(dir, "good.pem", &crl);
    // Without the CRL both are fine: it is the CRL that makes the difference.
    assert_verifies(dir, "revoked.pem", &[]);
}

#[test]
fn revocations_loaded_from_the_crl_pem_hold_exactly_the_revoked_serial() {
    let dir = tempdir();
    let dir = dir.path();
    let (ca, revoked_serial, good_serial, crl_pem) = revocation_setup(dir);
    let revs = Revocations::from_crl(crl_pem.as_bytes(), ca.cert()).expect("loading the CRL");
    assert!(revs.is_revoked(&revoked_serial));
    assert!(!revs.is_revoked(&good_serial));
    assert_eq!(revs.len(), 1);
    // A DER serial with a leading zero byte is the same serial.
    let mut padded = vec![0];
    padded.extend_from_slice(&revoked_serial);
    assert!(revs.is_revoked(&padded));
}

#[test]
fn a_crl_signed_by_a_different_ca_is_refused_even_under_the_same_name() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let (ca, revoked_serial, _, _) = revocation_setup(dir);
    // Same name as the real CA, different key: only the signature tells them apart.
    let impostor = new_ca(now);
    let forged = impostor
        .crl(
            &[RevokedSerial {
                serial: revoked_serial,
                revoked_at: now,
            }],
            2,
            now,
            DAY,
        )
        .expect("signing the impostor's CRL");
    let forged_pem = to_pem("X509 CRL", &forged);
    let err = Revocations::from_crl(forged_pem.as_bytes(), ca.cert())
        .expect_err("a CRL signed by another key must be refused");
    assert!(err.0.contains("signature"), "unexpected reason: {err}");

    // And under another name.
    let other = Ca::generate("Some Other Root", now, YEAR).expect("generating another CA");
    let other_crl = other.crl(&[], 1, now, DAY).expect("signing the CRL");
    assert!(Revocations::from_crl(&other_crl, ca.cert()).is_err());

    // OpenSSL agrees: the forged CRL does not verify against the real CA.
    write(dir, "forged.pem", &forged_pem);
    let run = openssl(
        dir,
        &["crl", "-in", "forged.pem", "-CAfile", "ca.pem", "-noout"],
    );
    assert!(
        !run.all().contains("verify OK"),
        "openssl must not accept the forged CRL:\n{}",
        run.all()
    );
}

// ---------------------------------------------------------------------------------------------
// 6. CSRs made by `openssl req`
// ---------------------------------------------------------------------------------------------

#[test]
fn an_openssl_p256_csr_is_accepted_and_its_certificate_verifies_with_openssl() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    write_ca(dir, &ca);
    let pem = openssl_csr(dir, "p256", P256, ALICE, &[]);
    let csr = check_csr(&pem, Some(&id(ALICE))).expect("an openssl P-256 CSR is accepted");
    assert_eq!(csr.key_kind(), KeyKind::EcdsaP256);
    assert_eq!(csr.person().as_str(), ALICE);
    issue_and_verify(dir, &ca, &csr, "p256", now);
}

#[test]
fn an_openssl_rsa_2048_csr_is_accepted_as_rsa_2048_and_its_certificate_verifies() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    write_ca(dir, &ca);
    let pem = openssl_csr(dir, "rsa", RSA2048, ALICE, &[]);
    let csr = check_csr(&pem, Some(&id(ALICE))).expect("an openssl RSA 2048 CSR is accepted");
    assert_eq!(csr.key_kind(), KeyKind::Rsa(2048));
    issue_and_verify(dir, &ca, &csr, "rsa", now);
}

#[test]
fn an_openssl_p384_csr_is_accepted_and_its_certificate_verifies() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    write_ca(dir, &ca);
    let pem = openssl_csr(dir, "p384", P384, ALICE, &[]);
    let csr = check_csr(&pem, Some(&id(ALICE))).expect("an openssl P-384 CSR is accepted");
    assert_eq!(csr.key_kind(), KeyKind::EcdsaP384);
    issue_and_verify(dir, &ca, &csr, "p384", now);
}

#[test]
fn a_csr_asking_for_ca_true_is_accepted_but_its_certificate_is_not_a_ca() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    write_ca(dir, &ca);
    let pem = openssl_csr(
        dir,
        "greedy",
        P256,
        ALICE,
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "subjectKeyIdentifier=hash",
        ],
    );
    // The CSR really asks for it.
    let asked = openssl_ok(dir, &["req", "-in", "greedy.csr", "-noout", "-text"]).stdout;
    assert!(
        asked.contains("CA:TRUE"),
        "the CSR should ask for CA:TRUE:\n{asked}"
    );

    let csr = check_csr(&pem, Some(&id(ALICE))).expect("the CSR itself is acceptable");
    let cert = ca
        .issue_student(&csr, now, 30 * DAY)
        .expect("issuing a student certificate");
    write_cert(dir, "greedy.pem", &cert);
    let text = x509_text(dir, "greedy.pem");
    assert!(text.contains("CA:FALSE"), "CA:FALSE missing:\n{text}");
    assert!(
        !text.contains("CA:TRUE"),
        "the requested CA:TRUE was copied into the certificate:\n{text}"
    );

    // The proof: a certificate the student signs with that key does not chain to the root.
    openssl_csr(dir, "victim", P256, BOB, &[]);
    openssl_ok(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "victim.csr",
            "-CA",
            "greedy.pem",
            "-CAkey",
            "greedy.key",
            "-set_serial",
            "1",
            "-days",
            "1",
            "-out",
            "forged.pem",
        ],
    );
    assert_fails_verify(
        dir,
        "forged.pem",
        &["-untrusted", "greedy.pem"],
        "invalid CA certificate",
    );
}

#[test]
fn an_openssl_rsa_1024_csr_is_refused_as_a_weak_key() {
    let dir = tempdir();
    let dir = dir.path();
    let pem = openssl_csr(dir, "rsa1024", RSA1024, ALICE, &[]);
    let err = check_csr(&pem, Some(&id(ALICE))).expect_err("RSA 1024 must be refused");
    assert!(matches!(err, CsrError::WeakKey(_)), "got {err:?}");
}

#[test]
fn an_openssl_secp256k1_csr_is_refused_as_a_weak_key() {
    let dir = tempdir();
    let dir = dir.path();
    let pem = openssl_csr(dir, "k1", SECP256K1, ALICE, &[]);
    let err = check_csr(&pem, Some(&id(ALICE))).expect_err("secp256k1 must be refused");
    assert!(matches!(err, CsrError::WeakKey(_)), "got {err:?}");
}

#[test]
fn an_openssl_sha1_signed_csr_is_refused_as_a_weak_algorithm() {
    let dir = tempdir();
    let dir = dir.path();
    for (name, newkey, alg) in [
        ("rsa-sha1", RSA2048, "sha1WithRSAEncryption"),
        ("ec-sha1", P256, "ecdsa-with-SHA1"),
    ] {
        let pem = openssl_csr(dir, name, newkey, ALICE, &["-sha1"]);
        // Make sure OpenSSL really signed with SHA-1, or the refusal below proves nothing.
        let text = openssl_ok(
            dir,
            &["req", "-in", &format!("{name}.csr"), "-noout", "-text"],
        )
        .stdout;
        assert!(
            text.contains(alg),
            "openssl did not sign {name} with {alg}:\n{text}"
        );
        let err = check_csr(&pem, Some(&id(ALICE))).expect_err("a SHA-1 CSR must be refused");
        assert!(
            matches!(err, CsrError::WeakAlgorithm(_)),
            "{name}: got {err:?}"
        );
    }
}

#[test]
fn an_openssl_csr_for_another_student_is_refused_as_an_id_mismatch() {
    let dir = tempdir();
    let dir = dir.path();
    let pem = openssl_csr(dir, "alice", P256, ALICE, &[]);
    let err = check_csr(&pem, Some(&id(BOB))).expect_err("Alice's CSR is not Bob's");
    assert_eq!(
        err,
        CsrError::IdMismatch {
            csr: ALICE.into(),
            expected: BOB.into(),
        }
    );
    // Without an expected ID it is simply Alice's.
    let csr = check_csr(&pem, None).expect("Alice's CSR is fine on its own");
    assert_eq!(csr.person().as_str(), ALICE);
}

#[test]
fn an_openssl_csr_with_a_flipped_signature_or_subject_byte_is_refused() {
    let dir = tempdir();
    let dir = dir.path();
    for (name, newkey) in [("ec", P256), ("rsa", RSA2048)] {
        openssl_csr(dir, name, newkey, ALICE, &[]);
        let der_name = format!("{name}.der");
        openssl_ok(
            dir,
            &[
                "req",
                "-in",
                &format!("{name}.csr"),
                "-outform",
                "DER",
                "-out",
                &der_name,
            ],
        );
        let der = read(dir, &der_name);
        check_csr(&der, Some(&id(ALICE))).expect("the untouched DER CSR is accepted");

        // A byte near the end is in the signature.
        let mut bad_sig = der.clone();
        let at = bad_sig.len() - 3;
        bad_sig[at] ^= 0x01;
        let err = check_csr(&bad_sig, Some(&id(ALICE)))
            .expect_err("a CSR with a damaged signature must be refused");
        assert!(
            matches!(err, CsrError::BadSignature | CsrError::Malformed(_)),
            "{name}: got {err:?}"
        );

        // Changing the requested ID keeps the structure intact; only the signature catches it.
        let at = der
            .windows(ALICE.len())
            .position(|w| w == ALICE.as_bytes())
            .expect("the CN is in the CSR's DER");
        let mut bad_cn = der.clone();
        bad_cn[at + ALICE.len() - 1] = BOB.as_bytes()[BOB.len() - 1];
        assert_eq!(
            check_csr(&bad_cn, Some(&id(BOB))),
            Err(CsrError::BadSignature),
            "{name}: a CSR whose CN was changed after signing must fail proof of possession"
        );
        // OpenSSL agrees that both are broken.
        for (file, bytes) in [("bad-sig.der", &bad_sig), ("bad-cn.der", &bad_cn)] {
            write(dir, file, bytes);
            let run = openssl(
                dir,
                &["req", "-in", file, "-inform", "DER", "-noout", "-verify"],
            );
            assert!(
                !run.ok || !run.all().contains("self-signature ok"),
                "openssl accepted {name} {file}:\n{}",
                run.all()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Keys made by OpenSSL as TLS identities
// ---------------------------------------------------------------------------------------------

#[test]
fn an_openssl_genpkey_key_and_its_certificate_load_as_an_identity_for_a_client_config() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    write_ca(dir, &ca);
    openssl_ok(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "key.pem",
        ],
    );
    let key_pem = read(dir, "key.pem");
    assert!(
        String::from_utf8_lossy(&key_pem).contains("BEGIN PRIVATE KEY"),
        "openssl genpkey writes PKCS#8"
    );
    openssl_ok(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "key.pem",
            "-subj",
            &format!("/CN={ALICE}"),
            "-out",
            "student.csr",
        ],
    );
    let csr = check_csr(&read(dir, "student.csr"), Some(&id(ALICE))).expect("CSR accepted");
    issue_and_verify(dir, &ca, &csr, "student", now);
    assert_eq!(
        pubkey_of_key(dir, "key.pem"),
        pubkey_of_cert(dir, "student.pem")
    );

    let chain_pem = format!(
        "{}{}",
        String::from_utf8_lossy(&read(dir, "student.pem")),
        ca.cert_pem()
    );
    let identity =
        Identity::from_pem(chain_pem.as_bytes(), &key_pem).expect("loading the identity");
    assert_eq!(identity.chain.len(), 2);
    assert_eq!(identity.chain[1], *ca.cert());
    ClientConfig::new(Role::Submit, ca.cert().clone(), Some(identity))
        .expect("a submission client config from an openssl key builds");
}

#[test]
fn a_student_with_an_openssl_key_and_csr_enrolls_and_connects_to_blackboard() {
    let dir = tempdir();
    let dir = dir.path();
    let mut campus = Campus::new(handin_core::Now::new(std::time::Instant::now(), now()));
    write_ca(dir, &campus.ca);
    let code = campus.add_student(ALICE);
    openssl_csr(dir, "alice", P256, ALICE, &[]);
    openssl_ok(
        dir,
        &[
            "req",
            "-in",
            "alice.csr",
            "-outform",
            "DER",
            "-out",
            "alice.der",
        ],
    );
    let mut enroll = campus.enroll_pair(None);
    let chain = campus
        .enroll(&mut enroll, ALICE, &code, &read(dir, "alice.der"))
        .expect("enrolling with an openssl CSR");
    let chain_pem: String = chain.iter().map(|c| to_pem("CERTIFICATE", c)).collect();
    write(dir, "chain.pem", &chain_pem);
    assert_verifies(dir, "chain.pem", &["-purpose", "sslclient"]);

    let identity = Identity::from_pem(chain_pem.as_bytes(), &read(dir, "alice.key"))
        .expect("loading the openssl key with the issued chain");
    let mut pair = campus.submit_pair(Some(identity));
    campus
        .connect_submit(&mut pair)
        .expect("Blackboard accepts the openssl-made identity");
    assert_eq!(pair.client.student(), Some(ALICE));
}

// ---------------------------------------------------------------------------------------------
// 8. Receipts
// ---------------------------------------------------------------------------------------------

fn body() -> ReceiptBody {
    ReceiptBody {
        id: "s1".into(),
        student_id: ALICE.into(),
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "hw1.pdf".into(),
        size: 12_345,
        sha256: [7; 32],
        received_at: 1_788_220_800,
        due_at: 1_788_825_600,
        late: false,
        version: 1,
        committed_at: None,
        log: String::new(),
    }
}

/// A CA and Blackboard's receipt signer; writes `blackboard.pem`.
fn blackboard(dir: &Path, ca: &Ca, now: SystemTime) -> (ReceiptSigner, CertificateDer<'static>) {
    let names = [ServerName::Dns("localhost".into())];
    let bb = ca
        .issue_server("Blackboard", &names, now, YEAR)
        .expect("issuing Blackboard's certificate");
    write(dir, "blackboard.pem", &bb.cert_pem);
    let identity = Identity::from_pem(bb.cert_pem.as_bytes(), bb.key_pem.as_bytes())
        .expect("loading Blackboard's identity");
    let signer =
        ReceiptSigner::new(&identity.key, bb.cert.clone()).expect("a signer from the server key");
    (signer, bb.cert)
}

/// Splits an encoded receipt as the receipt module documents it:
/// `u32 body_len | body | u16 scheme | u16 sig_len | signature`.
fn split_receipt(bytes: &[u8]) -> (&[u8], u16, &[u8]) {
    let be16 = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
    let body_len = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    let body = &bytes[4..4 + body_len];
    let rest = &bytes[4 + body_len..];
    let scheme = be16(&rest[..2]);
    let sig_len = be16(&rest[2..4]) as usize;
    let sig = &rest[4..];
    assert_eq!(
        sig.len(),
        sig_len,
        "the signature is the rest of the receipt"
    );
    (body, scheme, sig)
}

#[test]
fn a_receipt_file_verifies_with_blackboards_certificate_and_with_openssl_dgst() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    let (signer, cert) = blackboard(dir, &ca, now);
    let receipt = signer.sign(&body()).expect("signing a receipt");
    write(dir, "receipt.pem", receipt.to_pem());

    let again = Receipt::from_pem(&read(dir, "receipt.pem")).expect("reading the receipt file");
    assert_eq!(again.verify(&cert).expect("the receipt verifies"), body());

    // Independently: the documented layout, an ECDSA P-256 SHA-256 signature over the body.
    let encoded = again.encode();
    let (signed, scheme, sig) = split_receipt(&encoded);
    assert_eq!(scheme, 0x0403, "ECDSA P-256 SHA-256");
    write(dir, "body.bin", signed);
    write(dir, "sig.bin", sig);
    openssl_ok(
        dir,
        &[
            "x509",
            "-in",
            "blackboard.pem",
            "-noout",
            "-pubkey",
            "-out",
            "blackboard.pub",
        ],
    );
    let dgst = [
        "dgst",
        "-sha256",
        "-verify",
        "blackboard.pub",
        "-signature",
        "sig.bin",
        "body.bin",
    ];
    let run = openssl_ok(dir, &dgst);
    assert!(run.stdout.contains("Verified OK"), "{}", run.all());

    let mut changed = signed.to_vec();
    let last = changed.len() - 1;
    changed[last] ^= 0x01;
    write(dir, "body.bin", changed);
    let run = openssl(dir, &dgst);
    assert!(
        !run.ok && run.all().contains("Verification failure"),
        "openssl accepted a changed receipt body:\n{}",
        run.all()
    );
}

#[test]
fn a_receipt_does_not_verify_with_another_servers_certificate() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    let (signer, cert) = blackboard(dir, &ca, now);
    let receipt = signer.sign(&body()).expect("signing a receipt");
    let other = ca
        .issue_server(
            "Blackboard",
            &[ServerName::Dns("localhost".into())],
            now,
            YEAR,
        )
        .expect("issuing another server certificate");
    assert!(receipt.verify(&cert).is_ok());
    assert!(
        receipt.verify(&other.cert).is_err(),
        "a receipt must verify only with the certificate of the key that signed it"
    );
    // Nor can the other key sign as Blackboard.
    let other_key = Identity::from_pem(other.cert_pem.as_bytes(), other.key_pem.as_bytes())
        .expect("loading the other identity")
        .key;
    assert!(
        ReceiptSigner::new(&other_key, cert).is_err(),
        "a signer whose key does not match the certificate must be refused"
    );
}

#[test]
fn a_receipt_with_any_byte_of_its_body_changed_does_not_verify() {
    let dir = tempdir();
    let dir = dir.path();
    let now = now();
    let ca = new_ca(now);
    let (signer, cert) = blackboard(dir, &ca, now);
    let encoded = signer.sign(&body()).expect("signing a receipt").encode();
    let body_len = split_receipt(&encoded).0.len();
    for i in 4..4 + body_len {
        let mut tampered = encoded.clone();
        tampered[i] ^= 0x01;
        if let Ok(receipt) = Receipt::decode(&tampered) {
            assert!(
                receipt.verify(&cert).is_err(),
                "a receipt with body byte {} changed still verifies",
                i - 4
            );
        }
    }
}
