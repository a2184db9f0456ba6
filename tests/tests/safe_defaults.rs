//! Safe defaults, through the real binaries: Blackboard does not serve without a CRL unless
//! told to; a mistyped data or PKI directory is refused with the command that makes one, and
//! nothing is created; enrolling over an enrolled profile, and fetching over an existing file,
//! need --force.

use handin_tests::*;
use std::path::Path;
use std::process::Output;

/// The exit code, which must be there (the process was not killed).
fn code(out: &Output) -> i32 {
    out.status.code().expect("an exit code")
}

/// Runs `c`, which must fail with exit code `want` and one line on stderr; returns that line.
fn fails_with(c: std::process::Command, want: i32) -> String {
    let desc = format!("{c:?}");
    let out = run(c);
    let err = stderr_of(&out);
    assert_eq!(code(&out), want, "{desc}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{desc}: one line: {err}");
    err
}

#[test]
fn blackboard_does_not_serve_without_a_crl_unless_told_no_crl() {
    let campus = Campus::new();
    let base = || {
        let mut c = cmd("blackboard");
        c.args(["serve", "--data"])
            .arg(campus.data())
            .arg("--ca")
            .arg(campus.pki().join("ca.crt"))
            .arg("--cert")
            .arg(campus.path("bb.crt"))
            .arg("--key")
            .arg(campus.path("bb.key"))
            .args(["--listen", "127.0.0.1:0"]);
        c
    };
    let err = fails_with(base(), 2);
    assert!(
        err.contains("no --crl given")
            && err.contains("would accept revoked certificates")
            && err.contains("pass --crl PKI/crl.pem")
            && err.contains("--no-crl"),
        "{err}"
    );
    let mut no_crl = base();
    no_crl.arg("--no-crl");
    let bb = Server::start(no_crl, "blackboard --no-crl");
    assert!(bb.stop(), "exits 0");
    // Not both.
    let mut both = base();
    both.arg("--no-crl")
        .arg("--crl")
        .arg(campus.pki().join("crl.pem"));
    assert_eq!(code(&run(both)), 2);
}

#[test]
fn a_mistyped_data_directory_is_refused_with_blackboard_init_and_nothing_is_created() {
    let campus = Campus::new();
    let typo = campus.path("dta");
    let commands: Vec<Vec<&str>> = vec![
        vec![
            "assignment",
            "add",
            "--data",
            "DIR",
            "C",
            "hw1",
            "--due",
            "2099-01-01T00:00:00Z",
        ],
        vec!["assignment", "list", "--data", "DIR"],
        vec!["course", "add", "--data", "DIR", "CSCI3180"],
        vec![
            "course", "staff", "--data", "DIR", "CSCI3180", "--add", "prof.lee",
        ],
        vec![
            "course", "students", "--data", "DIR", "CSCI3180", "--add", ALICE,
        ],
        vec!["course", "show", "--data", "DIR", "CSCI3180"],
        vec!["course", "list", "--data", "DIR"],
    ];
    let dir = typo.display().to_string();
    for args in &commands {
        let mut c = cmd("blackboard");
        c.args(
            args.iter()
                .map(|a| if *a == "DIR" { dir.as_str() } else { a }),
        );
        let err = fails_with(c, 6);
        assert!(
            err.contains(&format!(
                "the data directory {dir} does not exist: create it with `blackboard init --data \
                 {dir}`"
            )),
            "{args:?}: {err}"
        );
        assert!(!typo.exists(), "{args:?} created {dir}");
    }
    let mut serve = campus.blackboard_serve(&typo);
    serve.args(["--listen", "127.0.0.1:0"]);
    let err = fails_with(serve, 6);
    assert!(err.contains("blackboard init --data"), "{err}");
    assert!(!typo.exists());

    // An existing directory that holds no store is refused too, and left empty.
    let empty = campus.path("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let mut c = cmd("blackboard");
    c.args(["course", "list", "--data"]).arg(&empty);
    let err = fails_with(c, 6);
    assert!(err.contains("is not a Blackboard data directory"), "{err}");
    assert!(names_in(&empty).is_empty());

    // `blackboard init` makes one, and refuses to make it twice.
    campus.init_data(&typo);
    let mut c = cmd("blackboard");
    c.args(["course", "add", "--data"])
        .arg(&typo)
        .arg("CSCI3180");
    ok(c);
    let mut again = cmd("blackboard");
    again.args(["init", "--data"]).arg(&typo);
    let err = fails_with(again, 6);
    assert!(err.contains("already holds a Blackboard store"), "{err}");
}

#[test]
fn a_mistyped_pki_directory_is_refused_with_cuhk_init_and_no_raw_database_error() {
    let campus = Campus::new();
    let typo = campus.path("pkk");
    let dir = typo.display().to_string();
    let out = campus.path("out.pem").display().to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["roster", "add", "--dir", &dir, ALICE],
        vec!["roster", "add", "--dir", &dir, "--staff", "prof.lee"],
        vec!["revoke", "--dir", &dir, "--student", ALICE],
        vec!["crl", "--dir", &dir, "--out", &out],
        vec!["serve", "--dir", &dir, "--listen", "127.0.0.1:0"],
        vec![
            "issue-server",
            "--dir",
            &dir,
            "--name",
            "x",
            "--san",
            "localhost",
            "--out-cert",
            &out,
            "--out-key",
            &out,
        ],
    ];
    for args in &commands {
        let mut c = cmd("cuhk");
        c.args(args);
        let err = fails_with(c, 6);
        assert!(
            err.contains(&format!(
                "the PKI directory {dir} does not exist: create it with `cuhk init --dir {dir}`"
            )),
            "{args:?}: {err}"
        );
        assert!(
            !err.to_lowercase().contains("sqlite") && !err.contains("database"),
            "{err}"
        );
        assert!(!typo.exists(), "{args:?} created {dir}");
    }
    // A directory that is not a PKI directory (no ca.crt) is left as it was.
    let other = campus.path("other");
    std::fs::create_dir(&other).expect("mkdir");
    let mut c = cmd("cuhk");
    c.args(["roster", "add", "--dir"]).arg(&other).arg(ALICE);
    let err = fails_with(c, 6);
    assert!(
        err.contains("is not a PKI directory (it has no ca.crt)"),
        "{err}"
    );
    assert!(names_in(&other).is_empty());
}

#[test]
fn enrolling_over_an_enrolled_profile_needs_force_and_says_the_old_certificate_stays_valid() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    let cert = campus.profile(ALICE).join("cert.pem");
    let key = campus.profile(ALICE).join("key.pem");
    let before = (
        std::fs::read(&cert).expect("cert"),
        std::fs::read(&key).expect("key"),
    );
    let code = campus.roster_add(ALICE);
    let enroll = |force: bool| {
        let mut c = campus.student(
            ALICE,
            &[
                "enroll", "--id", ALICE, "--code", &code, "--cuhk", &cuhk.addr, "--ca",
            ],
        );
        c.arg(campus.pki().join("ca.crt"));
        if force {
            c.arg("--force");
        }
        c
    };
    let err = fails_with(enroll(false), 6);
    assert!(
        err.contains("already holds the certificate of")
            && err.contains(ALICE)
            && err.contains("the old certificate stays valid until CUHK revokes it")
            && err.contains("pass --force"),
        "{err}"
    );
    assert_eq!(
        (
            std::fs::read(&cert).expect("cert"),
            std::fs::read(&key).expect("key")
        ),
        before,
        "the profile is untouched"
    );
    // The code was not spent: --force enrolls with it, and replaces the key.
    ok(enroll(true));
    assert_ne!(std::fs::read(&key).expect("key"), before.1);

    // The same for staff.
    campus.enroll_staff(&cuhk, TEACHER);
    let code = campus.roster_add_staff(TEACHER);
    let err = fails_with(campus.staff_enroll_cmd(&cuhk, TEACHER, &code), 6);
    assert!(
        err.starts_with("staff: error: ")
            && err.contains("the old certificate stays valid until CUHK revokes it"),
        "{err}"
    );
    let mut forced = campus.staff_enroll_cmd(&cuhk, TEACHER, &code);
    forced.arg("--force");
    ok(forced);
}

#[test]
fn an_expired_certificate_is_replaced_without_force() {
    let campus = Campus::new();
    let mut serve = cmd("cuhk");
    serve.args(["serve", "--dir"]).arg(campus.pki()).args([
        "--listen",
        "127.0.0.1:0",
        "--cert-lifetime",
        "2s",
    ]);
    let cuhk = Server::start(serve, "cuhk");
    campus.enroll(&cuhk, ALICE);
    std::thread::sleep(std::time::Duration::from_secs(3));
    // Valid nowhere any more: nothing is lost by replacing it.
    campus.enroll(&cuhk, ALICE);
}

#[test]
fn fetch_writes_the_original_name_here_and_never_overwrites_without_force() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let file = campus.path("essay.txt");
    std::fs::write(&file, b"my essay").expect("write");
    let id = campus.submit(&bb, ALICE, &file, "hw1")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let here = campus.path("here");
    std::fs::create_dir(&here).expect("mkdir");
    let fetch = |extra: &[&str]| {
        let mut c = campus.student(ALICE, &["fetch", &id, "--blackboard", &bb.addr]);
        c.args(extra).current_dir(&here);
        c
    };
    let out = ok(fetch(&[]));
    let fetched = here.join("essay.txt");
    assert_eq!(std::fs::read(&fetched).expect("fetched"), b"my essay");
    assert!(out.contains("essay.txt"), "{out}");
    assert_eq!(names_in(&here), ["essay.txt"], "no temporary file is left");

    // Again: the file is there, so it is refused, and left as it is.
    std::fs::write(&fetched, b"edited since").expect("write");
    let err = fails_with(fetch(&[]), 6);
    assert!(
        err.contains("essay.txt already exists: pass --force to replace it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&fetched).expect("kept"), b"edited since");
    // --out to an existing file: refused before connecting, the same way.
    let err = fails_with(fetch(&["--out", "essay.txt"]), 6);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(names_in(&here), ["essay.txt"]);
    // --force replaces it.
    ok(fetch(&["--force"]));
    assert_eq!(std::fs::read(&fetched).expect("replaced"), b"my essay");

    // `student feedback` does not overwrite either (refused before it asks Blackboard).
    let mut fb = campus.student(
        ALICE,
        &[
            "feedback",
            "CSCI3180",
            "hw1",
            "--blackboard",
            &bb.addr,
            "--out",
        ],
    );
    fb.arg(&fetched);
    let err = fails_with(fb, 6);
    assert!(err.contains("already exists: pass --force"), "{err}");
    assert_eq!(std::fs::read(&fetched).expect("kept"), b"my essay");
}

#[test]
fn submitting_a_directory_says_it_is_a_directory() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let mut c = campus.student(
        ALICE,
        &[
            "submit",
            ".",
            "--course",
            "CSCI3180",
            "--assignment",
            "hw1",
            "--blackboard",
            &bb.addr,
        ],
    );
    c.current_dir(campus.path(""));
    let err = fails_with(c, 6);
    assert!(err.contains(". is a directory, not a file"), "{err}");
}

/// The receipt at `path` with one byte of its signed body changed, and the certificate saved
/// with it kept.
fn tampered(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("receipt");
    let receipt = handin_core::Receipt::from_pem(text.as_bytes()).expect("a receipt");
    let mut bytes = receipt.encode();
    // The last byte of the body (the version's low byte): the body starts after its u32 length.
    let body_len = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    bytes[4 + body_len - 1] ^= 1;
    let altered = handin_core::Receipt::decode(&bytes).expect("still decodes");
    let cert_block = &text[text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("saved certificate")..];
    format!("{}{cert_block}", altered.to_pem())
}

#[test]
fn verify_receipt_defaults_to_the_pinned_certificate_and_tells_another_key_from_an_alteration() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let file = campus.path("a.txt");
    std::fs::write(&file, b"answer: 42").expect("write");
    let receipt = campus.submit(&bb, ALICE, &file, "hw1");
    let path = Path::new(receipt["receipt"].as_str().expect("path")).to_owned();
    let verify = |receipt: &Path, cert: Option<&Path>| {
        let mut c = cmd("student");
        c.arg("--profile")
            .arg(campus.profile(ALICE))
            .arg("verify-receipt")
            .arg(receipt);
        if let Some(cert) = cert {
            c.arg("--blackboard-cert").arg(cert);
        }
        c
    };
    // Without --blackboard-cert: the profile's pinned certificate.
    let out = ok(verify(&path, None));
    assert!(
        out.contains("valid receipt") && out.contains("pinned"),
        "{out}"
    );

    // Another server certificate of the same root: signed by another key.
    let mut issue = campus.cuhk(&["issue-server"]);
    issue
        .args(["--name", "Impostor", "--san", "localhost", "--out-cert"])
        .arg(campus.path("other.crt"))
        .arg("--out-key")
        .arg(campus.path("other.key"));
    ok(issue);
    let err = fails_with(verify(&path, Some(&campus.path("other.crt"))), 5);
    assert!(
        err.contains("the receipt is NOT valid: it was signed by another key")
            && err.contains("blackboard.crt"),
        "{err}"
    );
    assert!(!err.contains("altered"), "{err}");

    // One byte of the body changed: altered, with the default and with Blackboard's own.
    let bad = campus.path("tampered.receipt");
    std::fs::write(&bad, tampered(&path)).expect("write");
    for cert in [None, Some(campus.path("bb.crt"))] {
        let err = fails_with(verify(&bad, cert.as_deref()), 5);
        assert!(
            err.contains("the receipt is NOT valid: it was altered after it was signed"),
            "{err}"
        );
        assert!(!err.contains("another key"), "{err}");
    }

    // A profile that pinned no Blackboard certificate is asked for one.
    let fresh = campus.path("fresh");
    std::fs::create_dir(&fresh).expect("mkdir");
    std::fs::copy(campus.pki().join("ca.crt"), fresh.join("ca.crt")).expect("copy");
    let in_fresh = |cert: Option<&Path>| {
        let mut c = cmd("student");
        c.arg("--profile")
            .arg(&fresh)
            .arg("verify-receipt")
            .arg(&path);
        if let Some(cert) = cert {
            c.arg("--blackboard-cert").arg(cert);
        }
        c
    };
    let err = fails_with(in_fresh(None), 6);
    assert!(
        err.contains("has no pinned Blackboard certificate") && err.contains("--blackboard-cert"),
        "{err}"
    );
    let out = ok(in_fresh(Some(&campus.path("bb.crt"))));
    assert!(out.contains("no Blackboard certificate is pinned"), "{out}");
}
