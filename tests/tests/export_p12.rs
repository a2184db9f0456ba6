//! `student export-p12` and `staff export-p12` through the real binaries, judged by
//! independent PKCS#12 readers: `openssl pkcs12` decodes the file with the password (and not
//! with another), its key is the one the profile's certificate certifies, its chain holds the
//! CUHK root, its encryption is PBES2/AES-256-CBC with an HMAC-SHA256 MAC; NSS's `pk12util`
//! imports it. And the rules around the file: mode 0600, an existing file kept unless --force,
//! an empty password refused, a profile without a certificate refused.

use handin_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "tr0ub4dor&3 \u{e9}t\u{e9}";

/// `openssl ARGS`, which must succeed; its stdout.
fn openssl(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    assert!(
        have_openssl(),
        "these tests need the OpenSSL 3 command line (`openssl`) on PATH"
    );
    let mut c = Command::new("openssl");
    c.args(args);
    ok(c)
}

/// `student --profile P export-p12 --out OUT [ARGS]`.
fn export(campus: &Campus, bin: &str, id: &str, out: &Path, args: &[&str]) -> Command {
    let mut c = client_cmd(bin);
    c.arg("--profile")
        .arg(campus.profile(id))
        .arg("export-p12")
        .arg("--out")
        .arg(out)
        .args(args);
    c
}

fn password_file(campus: &Campus, name: &str, text: &str) -> PathBuf {
    let p = campus.path(name);
    std::fs::write(&p, text).expect("write the password file");
    p
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// The SHA-256 fingerprint line `openssl x509 -fingerprint` prints for the first certificate
/// of `pem`.
fn fingerprint(pem: &Path) -> String {
    openssl(&[
        &"x509",
        &"-noout",
        &"-fingerprint",
        &"-sha256",
        &"-in",
        &pem,
    ])
    .trim()
    .to_owned()
}

/// Decodes `p12` with `pw` into PEM files in the campus: (key and all certificates, the
/// end-entity certificate only, the CA certificates only).
fn decode(campus: &Campus, p12: &Path, pw: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let all = campus.path("decoded-all.pem");
    let leaf = campus.path("decoded-leaf.pem");
    let cas = campus.path("decoded-cas.pem");
    let pass = format!("file:{}", pw.display());
    for (out, extra) in [
        (&all, &["-nodes"][..]),
        (&leaf, &["-nokeys", "-clcerts"][..]),
        (&cas, &["-nokeys", "-cacerts"][..]),
    ] {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> =
            vec![&"pkcs12", &"-in", &p12, &"-passin", &pass, &"-out", out];
        args.extend(extra.iter().map(|a| a as &dyn AsRef<std::ffi::OsStr>));
        openssl(&args);
    }
    (all, leaf, cas)
}

/// Checks that `p12` holds `id`'s key, certificate and the CUHK root, encrypted the modern way.
fn assert_bundle(campus: &Campus, id: &str, p12: &Path, pw: &Path) {
    let (all, leaf, cas) = decode(campus, p12, pw);
    let cert = campus.profile(id).join("cert.pem");
    // The key in the file is the one the certificate certifies.
    let key_pub = openssl(&[&"pkey", &"-in", &all, &"-pubout"]);
    let cert_pub = openssl(&[&"x509", &"-in", &cert, &"-noout", &"-pubkey"]);
    assert!(key_pub.contains("BEGIN PUBLIC KEY"), "{key_pub}");
    assert_eq!(
        key_pub, cert_pub,
        "the exported key goes with the certificate"
    );
    assert_eq!(fingerprint(&leaf), fingerprint(&cert));
    assert_eq!(
        fingerprint(&cas),
        fingerprint(&campus.pki().join("ca.crt")),
        "the chain holds the CUHK root"
    );
    // The key verifies against the root through the chain the file carries.
    let verified = openssl(&[&"verify", &"-CAfile", &cas, &leaf]);
    assert!(verified.trim_end().ends_with(": OK"), "{verified}");
    let pass = format!("file:{}", pw.display());
    let mut info = Command::new("openssl");
    info.args(["pkcs12", "-info", "-noout", "-in"])
        .arg(p12)
        .args(["-passin", &pass]);
    let out = run(info);
    assert!(out.status.success(), "{}", stderr_of(&out));
    // `-info` describes the file's algorithms on stderr.
    let info = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(info.contains("MAC: sha256"), "{info}");
    assert!(
        info.contains("PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC"),
        "{info}"
    );
    assert!(
        info.contains("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC"),
        "{info}"
    );
    assert!(info.contains("PRF hmacWithSHA256"), "{info}");
    let mode = std::fs::metadata(p12)
        .expect("the file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

/// Whether NSS's tools are installed (`libnss3-tools`).
fn have_nss_tools() -> bool {
    ["certutil", "pk12util"].iter().all(|t| {
        Command::new(t)
            .arg("-H")
            .output()
            .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
    })
}

#[test]
fn a_student_exports_a_bundle_that_openssl_and_nss_read() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    let pw = password_file(&campus, "pw", &format!("{PASSWORD}\nnot the password\n"));
    let p12 = campus.path("alice.p12");
    let said = ok(export(
        &campus,
        "student",
        ALICE,
        &p12,
        &["--password-file", pw.to_str().expect("utf-8")],
    ));
    assert!(said.contains(&format!("CN={ALICE}")), "{said}");
    assert!(said.contains(&p12.display().to_string()), "{said}");
    // The password is the first line only.
    let first_line = password_file(&campus, "pw-line", PASSWORD);
    assert_bundle(&campus, ALICE, &p12, &first_line);

    // Another password does not open it.
    let wrong = password_file(&campus, "wrong", "not the password");
    let mut c = Command::new("openssl");
    c.args(["pkcs12", "-nodes", "-in"])
        .arg(&p12)
        .arg("-passin")
        .arg(format!("file:{}", wrong.display()));
    let out = run(c);
    assert!(!out.status.success(), "decoded with a wrong password");
    assert!(!stdout_of(&out).contains("PRIVATE KEY"));

    // NSS (what Chromium and Firefox use) imports it, key and certificate under the ID.
    if !have_nss_tools() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI installs libnss3-tools"
        );
        eprintln!("SKIPPED: the NSS import check (install libnss3-tools for certutil, pk12util)");
        return;
    }
    let db = campus.path("nssdb");
    std::fs::create_dir(&db).expect("nssdb");
    let sql = format!("sql:{}", db.display());
    let mut init = Command::new("certutil");
    init.args(["-N", "--empty-password", "-d", &sql]);
    ok(init);
    let mut import = Command::new("pk12util");
    import
        .arg("-i")
        .arg(&p12)
        .args(["-d", &sql, "-w"])
        .arg(&first_line);
    let said = ok(import);
    assert!(said.contains("PKCS12 IMPORT SUCCESSFUL"), "{said}");
    let mut keys = Command::new("certutil");
    keys.args(["-K", "-d", &sql]);
    let keys = ok(keys);
    assert!(
        keys.contains(&format!("CN={ALICE}")),
        "the key is imported: {keys}"
    );
    // NSS pairs the certificate with the imported key: a user certificate (trust `u`).
    let mut certs = Command::new("certutil");
    certs.args(["-L", "-d", &sql]);
    let listed = ok(certs);
    let user = listed
        .lines()
        .find(|l| l.starts_with(&format!("CN={ALICE},")))
        .unwrap_or_else(|| panic!("Alice's certificate is imported: {listed}"));
    assert!(user.trim_end().ends_with("u,u,u"), "{listed}");
    assert!(listed.contains("CN=CUHK Root CA"), "{listed}");
    // A wrong password is refused by NSS too, and imports nothing.
    let other = campus.path("nssdb2");
    std::fs::create_dir(&other).expect("nssdb2");
    let sql2 = format!("sql:{}", other.display());
    let mut init = Command::new("certutil");
    init.args(["-N", "--empty-password", "-d", &sql2]);
    ok(init);
    let mut import = Command::new("pk12util");
    import
        .arg("-i")
        .arg(&p12)
        .args(["-d", &sql2, "-w"])
        .arg(&wrong);
    fails(import);
    let mut keys = Command::new("certutil");
    keys.args(["-K", "-d", &sql2]);
    let out = run(keys);
    assert!(!stdout_of(&out).contains(ALICE), "{}", stdout_of(&out));
}

#[test]
fn an_existing_file_is_kept_unless_forced_and_an_empty_password_is_refused() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    let pw = password_file(&campus, "pw", "s3cret\n");
    let p12 = campus.path("alice.p12");
    std::fs::write(&p12, b"someone else's file").expect("write");
    let out = run(export(
        &campus,
        "student",
        ALICE,
        &p12,
        &["--password-file", pw.to_str().expect("utf-8")],
    ));
    assert_eq!(code(&out), Some(6), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("already exists: pass --force"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(std::fs::read(&p12).expect("kept"), b"someone else's file");

    // --force replaces it, with mode 0600 whatever the old file's was.
    std::fs::set_permissions(&p12, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    ok(export(
        &campus,
        "student",
        ALICE,
        &p12,
        &["--force", "--password-file", pw.to_str().expect("utf-8")],
    ));
    assert_bundle(&campus, ALICE, &p12, &pw);
    let leftovers: Vec<String> = names_in(&campus.path("."))
        .into_iter()
        .filter(|n| n.ends_with(".part") || n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // An empty password (an empty file, or an empty first line) is refused: nothing written.
    let fresh = campus.path("fresh.p12");
    for (name, text) in [("empty", ""), ("blank", "\nsecond line\n")] {
        let empty = password_file(&campus, name, text);
        let out = run(export(
            &campus,
            "student",
            ALICE,
            &fresh,
            &["--password-file", empty.to_str().expect("utf-8")],
        ));
        assert_eq!(code(&out), Some(2), "{}", stderr_of(&out));
        assert!(stderr_of(&out).contains("empty"), "{}", stderr_of(&out));
        assert!(!fresh.exists());
    }
    // A password file that is not there is a local file problem.
    let out = run(export(
        &campus,
        "student",
        ALICE,
        &fresh,
        &["--password-file", "/nonexistent/pw"],
    ));
    assert_eq!(code(&out), Some(6), "{}", stderr_of(&out));
    assert!(!fresh.exists());

    // Without --password-file and without a terminal to ask on: a usage error naming the flag.
    let detached = Command::new("setsid")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if detached {
        let mut c = Command::new("setsid");
        c.arg("-w")
            .arg(bin_dir().join("student"))
            .arg("--profile")
            .arg(campus.profile(ALICE))
            .args(["export-p12", "--out"])
            .arg(&fresh)
            .env_remove("HANDIN_HOME");
        let out = run(c);
        assert_eq!(code(&out), Some(2), "{}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains("--password-file"),
            "{}",
            stderr_of(&out)
        );
        assert!(!fresh.exists());
    }
}

#[test]
fn a_profile_without_a_certificate_is_refused() {
    let campus = Campus::new();
    let p12 = campus.path("nobody.p12");
    let pw = password_file(&campus, "pw", "s3cret\n");
    for bin in ["student", "staff"] {
        let out = run(export(
            &campus,
            bin,
            BOB,
            &p12,
            &["--password-file", pw.to_str().expect("utf-8")],
        ));
        assert_eq!(code(&out), Some(6), "{bin}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains("student enroll"),
            "{bin}: {}",
            stderr_of(&out)
        );
        assert!(!p12.exists());
    }
}

#[test]
fn a_key_openssl_made_as_pkcs1_is_exported_as_pkcs8_and_staff_export_too() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    // A student enrolled with an RSA key in the old PKCS#1 form.
    let key = campus.path("bob.key");
    let csr = campus.path("bob.csr");
    openssl(&[&"genrsa", &"-traditional", &"-out", &key, &"2048"]);
    let pem = std::fs::read_to_string(&key).expect("key");
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{pem}");
    let subject = format!("/CN={BOB}");
    openssl(&[
        &"req", &"-new", &"-key", &key, &"-subj", &subject, &"-out", &csr,
    ]);
    let code_ = campus.roster_add(BOB);
    let mut enroll = campus.student(
        BOB,
        &[
            "enroll", "--id", BOB, "--code", &code_, "--cuhk", &cuhk.addr, "--ca",
        ],
    );
    enroll
        .arg(campus.pki().join("ca.crt"))
        .arg("--csr")
        .arg(&csr)
        .arg("--key")
        .arg(&key);
    ok(enroll);
    let pw = password_file(&campus, "pw", "s3cret\n");
    let p12 = campus.path("bob.p12");
    ok(export(
        &campus,
        "student",
        BOB,
        &p12,
        &["--password-file", pw.to_str().expect("utf-8")],
    ));
    assert_bundle(&campus, BOB, &p12, &pw);

    // A teacher's export, through `staff`.
    campus.enroll_staff(&cuhk, TEACHER);
    let t12 = campus.path("teacher.p12");
    ok(export(
        &campus,
        "staff",
        TEACHER,
        &t12,
        &["--password-file", pw.to_str().expect("utf-8")],
    ));
    assert_bundle(&campus, TEACHER, &t12, &pw);
    assert!(cuhk.stop());
}
