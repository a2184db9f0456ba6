//! Day one through the real binaries: bootstrapping trust in the CUHK root from its fingerprint
//! (`cuhk init` and `cuhk fingerprint` print it, `student enroll --fingerprint` and `staff
//! enroll --fingerprint` fetch and pin the root), and the server addresses a profile remembers,
//! which the environment and the flags override.

use handin_tests::*;
use std::path::Path;
use std::process::{Command, Output};

/// `cuhk fingerprint --dir PKI`: the one line it prints.
fn fingerprint(campus: &Campus) -> String {
    let mut c = cmd("cuhk");
    c.args(["fingerprint", "--dir"]).arg(campus.pki());
    let out = ok(c);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "the fingerprint alone on a line: {out:?}");
    lines[0].to_owned()
}

/// `student enroll` for `id` at `cuhk` with the root's fingerprint (no `--ca`), plus `extra`.
fn enroll_by_fingerprint(
    campus: &Campus,
    cuhk: &str,
    id: &str,
    code: &str,
    fp: &str,
    extra: &[&str],
) -> Command {
    let mut args = vec![
        "enroll",
        "--id",
        id,
        "--code",
        code,
        "--cuhk",
        cuhk,
        "--fingerprint",
        fp,
    ];
    args.extend_from_slice(extra);
    campus.student(id, &args)
}

fn submit_remembered(campus: &Campus, id: &str, file: &Path) -> Command {
    let mut c = campus.student(id, &["submit"]);
    c.arg(file)
        .args(["--course", "CSCI3180", "--assignment", "hw1", "--json"]);
    c
}

/// The port of a `127.0.0.1:PORT` address.
fn port_of(addr: &str) -> &str {
    addr.rsplit_once(':').map(|(_, p)| p).expect("host:port")
}

/// `student config ARGS` for `id`'s profile (it connects nowhere: no transport).
fn config(campus: &Campus, id: &str, args: &[&str]) -> Command {
    let mut c = client_cmd("student");
    c.arg("--profile")
        .arg(campus.profile(id))
        .arg("config")
        .args(args);
    c
}

fn one_line(out: &Output) -> String {
    let err = stderr_of(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {err:?}");
    lines[0].to_owned()
}

#[test]
fn cuhk_init_and_cuhk_fingerprint_print_the_roots_sha256_as_openssl_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path().join("pki");
    let mut init = cmd("cuhk");
    init.args(["init", "--dir"]).arg(&pki);
    let said = ok(init);
    let mut c = cmd("cuhk");
    c.args(["fingerprint", "--dir"]).arg(&pki);
    let fp = ok(c).trim().to_owned();
    assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
    assert!(
        said.contains(&format!("root certificate SHA-256 fingerprint: {fp}\n")),
        "{said}"
    );
    assert!(said.contains(&format!("--fingerprint {fp}")), "{said}");
    if have_openssl() {
        let mut o = Command::new("openssl");
        o.args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(pki.join("ca.crt"));
        let line = ok(o);
        let theirs = line.trim().split_once('=').expect("NAME=VALUE").1;
        assert_eq!(theirs, fp, "{line}");
    }
    let mut c = cmd("cuhk");
    c.args(["fingerprint", "--dir"])
        .arg(dir.path().join("typo"));
    let e = fails(c);
    assert!(e.contains("cuhk init --dir"), "{e}");
}

#[test]
fn a_student_enrolls_with_the_fingerprint_and_then_submits_with_remembered_addresses() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    let fp = fingerprint(&campus);
    let code = campus.roster_add(ALICE);
    // The whole line OpenSSL prints is accepted too; Blackboard by name, resolved by DNS.
    let bb_by_name = format!("localhost:{}", port_of(&bb.addr));
    let out = ok(enroll_by_fingerprint(
        &campus,
        &cuhk.addr,
        ALICE,
        &code,
        &format!("sha256 Fingerprint={fp}"),
        &["--blackboard", &bb_by_name],
    ));
    assert!(
        out.contains(&format!(
            "trusting the CUHK root with SHA-256 fingerprint {fp}"
        )),
        "{out}"
    );
    // The root CUHK sent is the root, kept in the profile.
    let profile = campus.profile(ALICE);
    assert_eq!(
        std::fs::read_to_string(profile.join("ca.crt")).expect("ca.crt"),
        std::fs::read_to_string(campus.pki().join("ca.crt")).expect("pki ca.crt"),
    );
    let settings = std::fs::read_to_string(profile.join("config")).expect("settings");
    assert!(
        settings.contains(&format!("cuhk = {}\n", cuhk.addr)),
        "{settings}"
    );
    assert!(
        settings.contains(&format!("blackboard = {bb_by_name}\n")),
        "{settings}"
    );

    // Neither --cuhk nor --blackboard: the profile remembers both.
    let file = campus.path("report.pdf");
    write_pattern(&file, 5000, 1);
    let v: serde_json::Value =
        serde_json::from_str(&ok(submit_remembered(&campus, ALICE, &file))).expect("JSON");
    let r = Receipted::from_json(&v, &file);
    let listed = ok(campus.student(ALICE, &["list"]));
    assert!(listed.contains(&r.id), "{listed}");
    let out = ok(campus.student(ALICE, &["renew"]));
    assert!(out.starts_with("renewed: "), "{out}");

    let shown = ok(config(&campus, ALICE, &[]));
    assert!(
        shown.contains(&cuhk.addr) && shown.contains(&bb_by_name),
        "{shown}"
    );
    assert!(shown.contains("remembered in "), "{shown}");
}

#[test]
fn a_wrong_fingerprint_is_refused_nothing_is_saved_and_the_code_still_works() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    let code = campus.roster_add(ALICE);
    // Blackboard's certificate is CUHK-issued, but it is not the root.
    let mut c = Command::new("true");
    if have_openssl() {
        c = Command::new("openssl");
        c.args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(campus.path("bb.crt"));
    }
    let wrong = match ok(c).trim().split_once('=') {
        Some((_, f)) => f.to_owned(),
        None => ["AB"; 32].join(":"),
    };
    let out = run(enroll_by_fingerprint(
        &campus,
        &cuhk.addr,
        ALICE,
        &code,
        &wrong,
        &["--blackboard", &bb.addr],
    ));
    assert!(!out.status.success());
    let line = one_line(&out);
    assert!(
        line.contains(&format!(
            "presented no certificate with the SHA-256 fingerprint {wrong}"
        )),
        "{line}"
    );
    assert!(line.contains("nothing was saved"), "{line}");
    assert!(
        !campus.profile(ALICE).exists(),
        "nothing saved: {:?}",
        names_in(&campus.profile(ALICE))
    );

    // The refusal came before the code was sent: the same code enrolls with the right one.
    ok(enroll_by_fingerprint(
        &campus,
        &cuhk.addr,
        ALICE,
        &code,
        &fingerprint(&campus),
        &[],
    ));

    // Text that is no SHA-256 fingerprint is refused before anything is sent.
    let code = campus.roster_add(BOB);
    let out = run(enroll_by_fingerprint(
        &campus,
        &cuhk.addr,
        BOB,
        &code,
        "AB:CD:EF",
        &[],
    ));
    assert!(!out.status.success());
    assert!(
        one_line(&out).contains("--fingerprint: not a SHA-256 fingerprint"),
        "{}",
        stderr_of(&out)
    );
    assert!(!campus.profile(BOB).exists());
}

#[test]
fn enroll_takes_exactly_one_of_ca_and_fingerprint() {
    let campus = Campus::new();
    let ca = campus.pki().join("ca.crt");
    let ca = ca.to_str().expect("utf-8 path");
    let fp = fingerprint(&campus);
    for prog in ["student", "staff"] {
        let both = |c: &mut Command| {
            c.args([
                "enroll",
                "--id",
                ALICE,
                "--code",
                "X",
                "--ca",
                ca,
                "--fingerprint",
                &fp,
            ]);
        };
        let mut c = client_cmd(prog);
        both(&mut c);
        let e = fails(c);
        assert!(e.contains("cannot be used with"), "{prog}: {e}");
        let mut c = client_cmd(prog);
        c.args(["enroll", "--id", ALICE, "--code", "X"]);
        let e = fails(c);
        assert!(e.contains("--ca") && e.contains("required"), "{prog}: {e}");
    }
}

#[test]
fn the_environment_overrides_the_profile_and_a_flag_overrides_the_environment() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    let code = campus.roster_add(ALICE);
    ok(enroll_by_fingerprint(
        &campus,
        &cuhk.addr,
        ALICE,
        &code,
        &fingerprint(&campus),
        &["--blackboard", &bb.addr],
    ));
    // Nothing listens on port 1.
    let nowhere = "127.0.0.1:1";
    let mut c = campus.student(ALICE, &["list"]);
    c.env("HANDIN_BLACKBOARD", nowhere);
    let out = run(c);
    assert!(!out.status.success());
    let line = one_line(&out);
    assert!(
        line.contains("cannot reach Blackboard at 127.0.0.1:1"),
        "{line}"
    );
    let mut c = campus.student(ALICE, &["list", "--blackboard", &bb.addr]);
    c.env("HANDIN_BLACKBOARD", nowhere);
    ok(c);
    // And the other way round: a profile that remembers the wrong address, the right one in
    // the environment.
    ok(config(&campus, ALICE, &["--blackboard", nowhere]));
    assert!(!run(campus.student(ALICE, &["list"])).status.success());
    let mut c = campus.student(ALICE, &["list"]);
    c.env("HANDIN_BLACKBOARD", &bb.addr);
    ok(c);
    let mut c = config(&campus, ALICE, &[]);
    c.env("HANDIN_BLACKBOARD", &bb.addr);
    let shown = ok(c);
    assert!(
        shown.contains(&format!(
            "(from HANDIN_BLACKBOARD, over the profile's {nowhere})"
        )),
        "{shown}"
    );
    // HANDIN_CUHK for renewal.
    let mut c = campus.student(ALICE, &["renew"]);
    c.env("HANDIN_CUHK", nowhere);
    let out = run(c);
    assert!(
        one_line(&out).contains("cannot reach CUHK at 127.0.0.1:1"),
        "{}",
        stderr_of(&out)
    );
    // An address that does not parse says where it came from.
    let mut c = campus.student(ALICE, &["list"]);
    c.env("HANDIN_BLACKBOARD", "localhost:http");
    let out = run(c);
    assert!(
        one_line(&out).contains("HANDIN_BLACKBOARD: \"http\" in \"localhost:http\" is not a port"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_blackboard_named_without_a_port_is_reached_on_3141() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    // The default port is Blackboard's; whether this machine has one there or not, the name
    // resolves and the port is 3141 (it once failed with "invalid socket address").
    let free = std::net::TcpListener::bind("127.0.0.1:3141").is_ok();
    if free {
        let mut c = campus.blackboard_serve(&campus.data());
        c.args(["--listen", "127.0.0.1:3141"]);
        let bb = Server::start(c, "blackboard");
        let out = ok(campus.student(ALICE, &["list", "--blackboard", "localhost"]));
        assert_eq!(out.trim(), "no submissions");
        ok(config(&campus, ALICE, &["--blackboard", "localhost"]));
        let out = ok(campus.student(ALICE, &["list"]));
        assert_eq!(out.trim(), "no submissions");
        drop(bb);
    } else {
        let out = run(campus.student(ALICE, &["list", "--blackboard", "localhost"]));
        let err = stderr_of(&out);
        assert!(!err.contains("invalid socket address"), "{err}");
        assert!(
            out.status.success() || err.contains("localhost:3141"),
            "{err}"
        );
    }
    let out = ok(config(&campus, ALICE, &["--blackboard", "localhost"]));
    assert!(out.contains("localhost:3141"), "{out}");
}

#[test]
fn config_shows_sets_and_forgets_the_servers() {
    let campus = Campus::new();
    let shown = ok(config(&campus, ALICE, &[]));
    assert!(shown.contains("cuhk        127.0.0.1:9335"), "{shown}");
    assert!(shown.contains("blackboard  127.0.0.1:3141"), "{shown}");
    assert!(
        shown.contains("(default; `student config --cuhk"),
        "{shown}"
    );
    let set = ok(config(
        &campus,
        ALICE,
        &["--cuhk", "cuhk.example.edu", "--blackboard", "[::1]:8443"],
    ));
    assert!(set.contains("cuhk        cuhk.example.edu:9335"), "{set}");
    assert!(set.contains("blackboard  [::1]:8443"), "{set}");
    let settings = campus.profile(ALICE).join("config");
    assert!(settings.exists());
    let set = ok(config(&campus, ALICE, &["--unset", "cuhk"]));
    assert!(set.contains("cuhk        127.0.0.1:9335"), "{set}");
    assert!(set.contains("blackboard  [::1]:8443"), "{set}");
    let e = fails(config(
        &campus,
        ALICE,
        &["--cuhk", "https://cuhk.example.edu"],
    ));
    assert!(
        e.contains("--cuhk: \"https://cuhk.example.edu\" is not an address"),
        "{e}"
    );
    // A hand-edited mistake is located.
    std::fs::write(&settings, "blackbord = x\n").expect("write");
    let e = fails(campus.student(ALICE, &["list"]));
    assert!(e.contains("line 1: unknown setting \"blackbord\""), "{e}");
    // The staff binary shares the profile and the command.
    std::fs::remove_file(&settings).expect("rm");
    let set = ok(campus.staff(ALICE, &["config", "--blackboard", "bb.example.edu"]));
    assert!(set.contains("blackboard  bb.example.edu:3141"), "{set}");
    let shown = ok(config(&campus, ALICE, &[]));
    assert!(shown.contains("blackboard  bb.example.edu:3141"), "{shown}");
}

#[test]
fn a_teacher_enrolls_with_the_fingerprint_and_runs_staff_commands_with_remembered_addresses() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    let code = campus.roster_add_staff(TEACHER);
    let out = ok(campus.staff(
        TEACHER,
        &[
            "enroll",
            "--id",
            TEACHER,
            "--code",
            &code,
            "--cuhk",
            &cuhk.addr,
            "--fingerprint",
            &fingerprint(&campus),
            "--blackboard",
            &bb.addr,
        ],
    ));
    assert!(out.contains("trusting the CUHK root"), "{out}");
    assert_eq!(
        std::fs::read_to_string(campus.profile(TEACHER).join("ca.crt")).expect("ca.crt"),
        std::fs::read_to_string(campus.pki().join("ca.crt")).expect("pki ca.crt"),
    );
    // No --blackboard: the profile's.
    ok(campus.staff(TEACHER, &["courses"]));
    ok(campus.staff(TEACHER, &["renew"]));
    // HANDIN_BLACKBOARD over the profile, the flag over both.
    let mut c = campus.staff(TEACHER, &["courses"]);
    c.env("HANDIN_BLACKBOARD", "127.0.0.1:1");
    let e = fails(c);
    assert!(e.contains("cannot reach Blackboard at 127.0.0.1:1"), "{e}");
    let mut c = campus.staff(TEACHER, &["courses", "--blackboard", &bb.addr]);
    c.env("HANDIN_BLACKBOARD", "127.0.0.1:1");
    ok(c);
}
