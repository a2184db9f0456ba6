//! Exit codes by kind of failure, the same for every binary, through the real binaries: 2 for
//! usage, 3 when the server cannot be reached, 4 when it refuses, 5 for a certificate or
//! signature that does not verify, 6 for a local file problem, 1 for anything else; each with
//! one line on stderr. Each binary's `--help` lists them. The servers' `-v` logs give times in
//! RFC 3339.

use handin_tests::*;
use std::process::Command;

const USAGE: i32 = 2;
const UNREACHABLE: i32 = 3;
const REFUSED: i32 = 4;
const AUTH: i32 = 5;
const FILE: i32 = 6;
const OTHER: i32 = 1;

/// Runs `c`, which must exit with `want` and say one line on stderr (clap's usage errors
/// excepted: they show the usage too); returns stderr.
fn exits(c: Command, want: i32) -> String {
    let desc = format!("{c:?}");
    let out = run(c);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(want), "{desc}:\n{err}");
    if !err.contains("Usage:") {
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{desc}: one line:\n{err}"
        );
    }
    err
}

/// A loopback address on which nothing listens.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    drop(l);
    addr
}

#[test]
fn every_binary_documents_the_exit_codes_in_its_help() {
    for bin in ["cuhk", "blackboard", "student", "staff"] {
        let mut c = cmd(bin);
        c.arg("--help");
        let help = ok(c);
        for line in [
            "Exit codes (the same for every handin command):",
            "  2  usage: a bad or missing argument",
            "  3  cannot reach the server (name, connection, timeout)",
            "  4  the server refused the request",
            "  5  a certificate or signature did not verify",
            "  6  a local file or directory is missing, unreadable or in the way",
            "  1  any other failure",
        ] {
            assert!(help.contains(line), "{bin} --help lacks {line:?}:\n{help}");
        }
    }
}

#[test]
fn usage_errors_exit_2_in_every_binary() {
    let campus = Campus::new();
    for (bin, args) in [
        ("student", vec!["submit"]),
        ("staff", vec!["grade", "C", "A", "--student", ALICE]),
        ("cuhk", vec!["revoke"]),
        ("blackboard", vec!["assignment", "add"]),
    ] {
        let mut c = cmd(bin);
        c.args(&args);
        exits(c, USAGE);
    }
    // Values the binaries check themselves are usage errors too, in one line.
    let mut c = cmd("cuhk");
    c.args(["roster", "add", "--dir"])
        .arg(campus.pki())
        .arg("12345");
    assert!(exits(c, USAGE).contains("is not a student ID"));
    let mut c = cmd("blackboard");
    c.args(["assignment", "add", "--data"])
        .arg(campus.data())
        .args(["CSCI3180", "hw9", "--due", "tomorrow"]);
    assert!(exits(c, USAGE).contains("--due"));
    let c = campus.student(
        ALICE,
        &[
            "enroll", "--id", "prof.lee", "--code", "X", "--ca", "ca.crt",
        ],
    );
    assert!(exits(c, USAGE).contains("staff enroll"));
    let c = campus.staff(
        TEACHER,
        &[
            "extend",
            "CSCI3180",
            "hw1",
            "--student",
            "x",
            "--due",
            "2099-01-01T00:00:00Z",
        ],
    );
    assert!(exits(c, USAGE).contains("a student ID is exactly 10 digits"));
}

#[test]
fn a_server_that_cannot_be_reached_exits_3() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    campus.enroll_staff(&cuhk, TEACHER);
    let nowhere = closed_port();
    let err = exits(
        campus.student(ALICE, &["list", "--blackboard", &nowhere]),
        UNREACHABLE,
    );
    assert!(err.contains("cannot reach Blackboard"), "{err}");
    exits(
        campus.staff(TEACHER, &["courses", "--blackboard", &nowhere]),
        UNREACHABLE,
    );
    let code = campus.roster_add(BOB);
    let mut enroll = campus.student(
        BOB,
        &[
            "enroll", "--id", BOB, "--code", &code, "--cuhk", &nowhere, "--ca",
        ],
    );
    enroll.arg(campus.pki().join("ca.crt"));
    exits(enroll, UNREACHABLE);
    let err = exits(
        campus.student(ALICE, &["renew", "--cuhk", &nowhere]),
        UNREACHABLE,
    );
    assert!(err.contains("cannot reach CUHK"), "{err}");
}

#[test]
fn a_refusal_by_the_server_exits_4() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    campus.enroll_staff(&cuhk, TEACHER);
    // A wrong enrollment code.
    campus.roster_add(BOB);
    let mut enroll = campus.student(
        BOB,
        &[
            "enroll",
            "--id",
            BOB,
            "--code",
            "AAAA-AAAA-AAAA-AAAA",
            "--cuhk",
            &cuhk.addr,
            "--ca",
        ],
    );
    enroll.arg(campus.pki().join("ca.crt"));
    exits(enroll, REFUSED);
    // An assignment that does not exist.
    let file = campus.path("a.txt");
    std::fs::write(&file, b"work").expect("write");
    let mut c = campus.student(
        ALICE,
        &[
            "submit",
            "--course",
            "CSCI3180",
            "--assignment",
            "nope",
            "--blackboard",
            &bb.addr,
        ],
    );
    c.arg(&file);
    assert!(exits(c, REFUSED).contains("Blackboard refused the submission"));
    // A file over the limit: the sizes in words, and exactly.
    campus.add_assignment("CSCI3180", "small", "2099-01-01T00:00:00Z", "1KiB");
    let big = campus.path("big.txt");
    std::fs::write(&big, vec![b'x'; 2000]).expect("write");
    let mut c = campus.student(
        ALICE,
        &[
            "submit",
            "--course",
            "CSCI3180",
            "--assignment",
            "small",
            "--blackboard",
            &bb.addr,
        ],
    );
    c.arg(&big);
    let err = exits(c, REFUSED);
    assert!(
        err.contains("the file is 2 KiB (2,000 bytes) but CSCI3180/small accepts at most 1 KiB (1,024 bytes)"),
        "{err}"
    );
    // Staff of no course.
    exits(
        campus.staff(
            TEACHER,
            &["status", "CSCI3180", "hw1", "--blackboard", &bb.addr],
        ),
        REFUSED,
    );
}

#[test]
fn a_certificate_that_does_not_verify_exits_5() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    campus.enroll(&cuhk, BOB);
    // Revoked: Blackboard turns the certificate away at the handshake.
    let mut revoke = cmd("cuhk");
    revoke
        .args(["revoke", "--dir"])
        .arg(campus.pki())
        .args(["--student", BOB]);
    ok(revoke);
    let bob_refused = poll(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(200),
        || {
            let out = run(campus.student(BOB, &["list", "--blackboard", &bb.addr]));
            (!out.status.success()).then_some(out)
        },
    )
    .expect("the revocation takes effect");
    assert_eq!(
        bob_refused.status.code(),
        Some(AUTH),
        "{}",
        stderr_of(&bob_refused)
    );
    assert!(stderr_of(&bob_refused).contains("revoked"));

    // A profile whose CUHK root is another one: Blackboard's certificate does not verify.
    let other = campus.path("other-pki");
    let mut init = cmd("cuhk");
    init.args(["init", "--dir"]).arg(&other);
    ok(init);
    std::fs::copy(other.join("ca.crt"), campus.profile(ALICE).join("ca.crt")).expect("copy");
    let err = exits(
        campus.student(ALICE, &["list", "--blackboard", &bb.addr]),
        AUTH,
    );
    assert!(err.contains("did not verify"), "{err}");
}

#[test]
fn a_local_file_problem_exits_6() {
    let campus = Campus::new();
    // No profile yet.
    let err = exits(
        campus.student(ALICE, &["list", "--blackboard", &closed_port()]),
        FILE,
    );
    assert!(err.contains("run `student enroll` first"), "{err}");
    exits(
        campus.staff(TEACHER, &["courses", "--blackboard", &closed_port()]),
        FILE,
    );
    // A file that is not there.
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    let mut c = campus.student(
        ALICE,
        &[
            "submit",
            "--course",
            "CSCI3180",
            "--assignment",
            "hw1",
            "--blackboard",
            &closed_port(),
        ],
    );
    c.arg(campus.path("missing.txt"));
    assert!(exits(c, FILE).contains("missing.txt"));
    // A mistyped PKI or data directory.
    let mut c = cmd("cuhk");
    c.args(["roster", "add", "--dir"])
        .arg(campus.path("typo"))
        .arg(ALICE);
    exits(c, FILE);
    let mut c = cmd("blackboard");
    c.args(["course", "list", "--data"])
        .arg(campus.path("typo"));
    exits(c, FILE);
}

#[test]
fn anything_else_exits_1() {
    let campus = Campus::new();
    let bb = campus.start_blackboard();
    // Another data directory, on an address already taken.
    let data = campus.path("data2");
    campus.init_data(&data);
    let mut c = campus.blackboard_serve(&data);
    c.args(["--listen", &bb.addr]);
    let err = exits(c, OTHER);
    assert!(err.contains("cannot listen on"), "{err}");
}

#[test]
fn server_logs_give_times_in_rfc_3339() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    campus.list(&bb, ALICE);
    let is_time = |v: &str| {
        v.len() == 20 && v.ends_with('Z') && v.as_bytes()[4] == b'-' && v.as_bytes()[10] == b'T'
    };
    for (server, field) in [(&bb, "expires="), (&cuhk, "until=")] {
        let log = poll(
            std::time::Duration::from_secs(10),
            std::time::Duration::from_millis(50),
            || Some(server.log()).filter(|l| l.contains(field)),
        )
        .unwrap_or_else(|| panic!("no {field} in the log:\n{}", server.log()));
        for value in log.split(field).skip(1) {
            let value = value.split_whitespace().next().unwrap_or_default();
            assert!(is_time(value), "{field}{value} is not RFC 3339:\n{log}");
        }
    }
}
