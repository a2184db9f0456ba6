//! Staff logins at CUHK through the real binaries: `cuhk roster add --staff`, `staff enroll`
//! (a teacher with a login, a TA with a student ID), what OpenSSL sees in the certificate, the
//! refusals, renewal, and `cuhk revoke --staff`.

use handin_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const UNIVERSITY: &str = "The Chinese University of Hong Kong";
/// Another login, never on the roster unless a test puts it there.
const OTHER: &str = "prof.chan";

fn openssl(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    assert!(
        have_openssl(),
        "these tests need the OpenSSL 3 command line (`openssl`) on PATH"
    );
    let mut c = Command::new("openssl");
    for a in args {
        c.arg(a);
    }
    run(c)
}

/// Writes the first PEM block of `chain` (the personal certificate) to `out`.
fn leaf_of(chain: &Path, out: &Path) -> PathBuf {
    let text = std::fs::read_to_string(chain).expect("the certificate chain");
    let end = "-----END CERTIFICATE-----";
    let leaf = &text[..text.find(end).expect("a PEM block") + end.len()];
    std::fs::write(out, format!("{leaf}\n")).expect("write the leaf");
    out.to_path_buf()
}

/// The one line of stderr a failed command printed.
fn error_line(out: &Output) -> String {
    let err = stderr_of(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {err:?}");
    lines[0].to_owned()
}

#[test]
fn a_teacher_enrolls_with_a_login_and_openssl_shows_the_login_as_cn() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();

    let mut add = campus.cuhk(&["roster", "add"]);
    add.args(["--staff", TEACHER]);
    let out = ok(add);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "the code alone on a line: {out:?}");
    let code = lines[0];
    let groups: Vec<&str> = code.split('-').collect();
    assert!(
        groups.len() == 4 && groups.iter().all(|g| g.len() == 4),
        "{code}"
    );

    let out = ok(campus.staff_enroll_cmd(&cuhk, TEACHER, code));
    assert!(
        out.starts_with(&format!("enrolled: CN={TEACHER}, O={UNIVERSITY}")),
        "{out}"
    );
    let profile = campus.profile(TEACHER);
    let mode = std::fs::metadata(profile.join("key.pem"))
        .expect("key.pem")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the private key is 0600");

    let ca = campus.pki().join("ca.crt");
    let leaf = leaf_of(&profile.join("cert.pem"), &campus.path("teacher-leaf.pem"));
    let v = openssl(&[&"verify", &"-purpose", &"sslclient", &"-CAfile", &ca, &leaf]);
    assert!(v.status.success(), "{}", stderr_of(&v));
    assert!(
        stdout_of(&v).trim_end().ends_with(": OK"),
        "{}",
        stdout_of(&v)
    );
    let x = openssl(&[&"x509", &"-noout", &"-subject", &"-in", &leaf]);
    assert!(x.status.success(), "{}", stderr_of(&x));
    assert_eq!(
        stdout_of(&x).trim(),
        format!("subject=CN = {TEACHER}, O = {UNIVERSITY}")
    );
    let ext = openssl(&[
        &"x509",
        &"-noout",
        &"-ext",
        &"extendedKeyUsage,basicConstraints",
        &"-in",
        &leaf,
    ]);
    let text = stdout_of(&ext);
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(!text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");

    // CUHK's log names the login it issued for.
    let found = poll(
        std::time::Duration::from_secs(5),
        std::time::Duration::from_millis(50),
        || {
            let log = cuhk.log();
            (log.contains("certificate issued") && log.contains(TEACHER)).then_some(())
        },
    );
    assert!(found.is_some(), "{}", cuhk.log());
}

#[test]
fn a_wrong_code_an_unlisted_login_and_a_csr_for_another_login_are_refused() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let code = campus.roster_add_staff(TEACHER);

    let wrong = run(campus.staff_enroll_cmd(&cuhk, TEACHER, "AAAA-BBBB-CCCC-DDDD"));
    assert!(!wrong.status.success());
    let wrong_line = error_line(&wrong);
    assert!(
        wrong_line.starts_with("staff: error: enrollment refused: wrong enrollment code"),
        "{wrong_line}"
    );
    // An unlisted login hears exactly the same: the answer does not tell who is on the roster.
    let unlisted = run(campus.staff_enroll_cmd(&cuhk, OTHER, &code));
    assert!(!unlisted.status.success());
    assert_eq!(error_line(&unlisted), wrong_line);
    assert!(!campus.profile(TEACHER).join("cert.pem").exists());
    assert!(!campus.profile(OTHER).join("cert.pem").exists());

    // A CSR (made by openssl req) whose CN is another login.
    let key = campus.path("chan.key");
    let csr = campus.path("chan.csr");
    let req = openssl(&[
        &"req",
        &"-new",
        &"-newkey",
        &"ec",
        &"-pkeyopt",
        &"ec_paramgen_curve:P-256",
        &"-nodes",
        &"-subj",
        &format!("/CN={OTHER}/O={UNIVERSITY}"),
        &"-keyout",
        &key,
        &"-out",
        &csr,
    ]);
    assert!(req.status.success(), "{}", stderr_of(&req));
    let mut c = campus.staff_enroll_cmd(&cuhk, TEACHER, &code);
    c.arg("--csr").arg(&csr).arg("--key").arg(&key);
    let out = run(c);
    assert!(!out.status.success());
    let line = error_line(&out);
    assert!(
        line.contains("the CSR is for staff login prof.chan, but you are enrolling as prof.lee"),
        "{line}"
    );

    // None of it spent the code: an openssl req CSR for the login itself enrolls.
    let req = openssl(&[
        &"req",
        &"-new",
        &"-newkey",
        &"ec",
        &"-pkeyopt",
        &"ec_paramgen_curve:P-256",
        &"-nodes",
        &"-subj",
        &format!("/CN={TEACHER}"),
        &"-keyout",
        &key,
        &"-out",
        &csr,
    ]);
    assert!(req.status.success(), "{}", stderr_of(&req));
    let mut c = campus.staff_enroll_cmd(&cuhk, TEACHER, &code);
    c.arg("--csr").arg(&csr).arg("--key").arg(&key);
    let out = ok(c);
    assert!(out.starts_with(&format!("enrolled: CN={TEACHER}")), "{out}");
    // And now it is used (--force: past the profile's own refusal, to CUHK's).
    let mut again = campus.staff_enroll_cmd(&cuhk, TEACHER, &code);
    again.arg("--force");
    let again = run(again);
    assert!(
        error_line(&again).contains("already used"),
        "{}",
        stderr_of(&again)
    );
}

#[test]
fn ids_in_the_wrong_place_or_of_no_kind_are_refused_with_one_clear_line() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let roster = |args: &[&str]| {
        let mut c = campus.cuhk(&["roster", "add"]);
        c.args(args);
        run(c)
    };
    let out = roster(&[TEACHER]);
    assert!(!out.status.success());
    assert_eq!(
        error_line(&out),
        "cuhk: error: \"prof.lee\" is not a student ID; for a teacher's staff login use --staff \
         prof.lee"
    );
    let out = roster(&["--staff", ALICE]);
    assert!(!out.status.success());
    assert!(
        error_line(&out).contains("is a student ID, not a staff login"),
        "{}",
        stderr_of(&out)
    );
    for hostile in [
        "Prof.Lee",
        "prof_lee",
        "../prof",
        "prof.lee\n",
        "pr\u{200b}of",
        "lee\u{1b}[2J",
        "a23456789012345678901234567890123",
    ] {
        let out = roster(&["--staff", hostile]);
        assert!(!out.status.success(), "{hostile:?}");
        let line = error_line(&out);
        assert!(line.contains("is not a staff login"), "{line}");
        assert!(!line.contains('\u{1b}'), "{line:?}");
        if hostile.trim() == TEACHER {
            continue; // `staff enroll` forgives white space around the ID, as `student` does
        }
        let mut c = campus.staff(
            "hostile",
            &[
                "enroll",
                "--id",
                hostile,
                "--code",
                "AAAA-BBBB",
                "--cuhk",
                &cuhk.addr,
                "--ca",
            ],
        );
        c.arg(campus.pki().join("ca.crt"));
        let out = run(c);
        assert!(!out.status.success(), "{hostile:?}");
        assert!(
            error_line(&out).contains("is neither a staff login"),
            "{}",
            stderr_of(&out)
        );
    }
    // `student enroll` with a login points to `staff enroll`.
    let code = campus.roster_add_staff(TEACHER);
    let mut c = campus.student(
        TEACHER,
        &[
            "enroll", "--id", TEACHER, "--code", &code, "--cuhk", &cuhk.addr, "--ca",
        ],
    );
    c.arg(campus.pki().join("ca.crt"));
    let out = run(c);
    assert!(!out.status.success());
    assert_eq!(
        error_line(&out),
        "student: error: prof.lee is a staff login, not a student ID: teachers enroll with \
         `staff enroll --id prof.lee` (same code, same profile)"
    );
    // ... and the code was not spent.
    ok(campus.staff_enroll_cmd(&cuhk, TEACHER, &code));
}

#[test]
fn a_teacher_renews_and_is_revoked_by_login() {
    let campus = Campus::with_transports("smol", "smol");
    let cuhk = campus.start_cuhk();
    campus.enroll_staff(&cuhk, TEACHER);
    let profile = campus.profile(TEACHER);
    let first = leaf_of(&profile.join("cert.pem"), &campus.path("first.pem"));

    let out = ok(campus.staff(TEACHER, &["renew", "--cuhk", &cuhk.addr]));
    assert!(
        out.starts_with(&format!("renewed: CN={TEACHER}, O={UNIVERSITY}")),
        "{out}"
    );
    let second = leaf_of(&profile.join("cert.pem"), &campus.path("second.pem"));

    let mut revoke = campus.cuhk(&["revoke"]);
    revoke.args(["--staff", TEACHER]);
    let out = ok(revoke);
    assert!(
        out.starts_with(&format!("revoked 2 certificate(s) of {TEACHER}")),
        "{out}"
    );
    let ca = campus.pki().join("ca.crt");
    let crl = campus.pki().join("crl.pem");
    for leaf in [&first, &second] {
        let v = openssl(&[
            &"verify",
            &"-crl_check",
            &"-CRLfile",
            &crl,
            &"-CAfile",
            &ca,
            leaf,
        ]);
        assert!(!v.status.success(), "{}", stdout_of(&v));
        let said = format!("{}{}", stdout_of(&v), stderr_of(&v));
        assert!(said.contains("certificate revoked"), "{said}");
    }
    // A revoked teacher cannot renew (refused at the handshake once CUHK reloaded its CRL, by
    // the records before that).
    let out = run(campus.staff(TEACHER, &["renew", "--cuhk", &cuhk.addr]));
    assert!(!out.status.success());
    assert!(error_line(&out).contains("revoked"), "{}", stderr_of(&out));

    let mut unknown = campus.cuhk(&["revoke"]);
    unknown.args(["--staff", OTHER]);
    let out = run(unknown);
    assert!(!out.status.success());
    assert_eq!(
        error_line(&out),
        "cuhk: error: staff login prof.chan is not on the roster; add them first with `cuhk \
         roster add --staff`"
    );

    // A new code enrolls the teacher again, over the revoked certificate (--force: the client
    // cannot tell it was revoked).
    let code = campus.roster_add_staff(TEACHER);
    let mut again = campus.staff_enroll_cmd(&cuhk, TEACHER, &code);
    again.arg("--force");
    ok(again);
}

#[test]
fn a_ta_enrolls_with_staff_enroll_and_the_same_profile_submits_as_a_student() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    let code = campus.roster_add(ALICE);
    // No --profile: the default is $HANDIN_HOME, as for `student`.
    let home = campus.profile(ALICE);
    let mut c = cmd("staff");
    c.env("HANDIN_HOME", &home)
        .args([
            "enroll", "--id", ALICE, "--code", &code, "--cuhk", &cuhk.addr,
        ])
        .args(["--transport", &campus.client_transport, "--ca"])
        .arg(campus.pki().join("ca.crt"));
    let out = ok(c);
    assert!(out.contains(&home.display().to_string()), "{out}");
    assert!(home.join("cert.pem").exists() && home.join("key.pem").exists());

    let file = campus.path("hw1.txt");
    std::fs::write(&file, b"a TA's own homework").expect("write");
    let receipt = campus.submit(&bb, ALICE, &file, "hw1");
    assert_eq!(receipt["student_id"], ALICE);
}
