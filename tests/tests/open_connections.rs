//! What reaches connections that stay open, through the real binaries on both server
//! transports: a revocation (and the new CRL) closes them, one student cannot hold every
//! connection slot, old connections are retired, and a student's storage per assignment is
//! bounded.

use handin_core::RefusalCode;
use handin_tests::held::{Held, Outcome};
use handin_tests::{
    cmd, fails, names_in, ok, poll, submit_cmd, write_pattern, Campus, Server, ALICE, BOB,
};
use std::time::Duration;

/// How long a test waits for something that should happen within the CRL reload time.
const WAIT: Duration = Duration::from_secs(20);

fn blackboard(campus: &Campus, extra: &[&str]) -> Server {
    let mut c = campus.blackboard_serve(&campus.data());
    c.args([
        "--listen",
        "127.0.0.1:0",
        "--transport",
        &campus.server_transport,
    ])
    .args(extra);
    Server::start(c, "blackboard")
}

fn revoke(campus: &Campus, id: &str) {
    let mut c = cmd("cuhk");
    c.args(["revoke", "--dir"])
        .arg(campus.pki())
        .args(["--student", id]);
    ok(c);
}

fn refused_with(outcome: Option<Outcome>, code: RefusalCode, what: &str, bb: &Server) {
    match outcome {
        Some(Outcome::Refused(r)) => assert_eq!(r.code, code, "{what}: {r:?}"),
        other => panic!(
            "{what}: expected a {code:?} refusal, got {other:?}; log:\n{}",
            bb.log()
        ),
    }
}

fn revocation_closes_connections_that_are_already_open(transport: &str) {
    let campus = Campus::with_transports(transport, transport);
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    campus.enroll(&cuhk, BOB);
    let bb = blackboard(&campus, &[]);

    let mut idle = Held::connect(&campus.profile(ALICE), &bb.addr).expect("alice connects");
    assert_eq!(idle.list().expect("alice lists"), 0);
    let data = vec![0x5a; 1 << 20];
    let mut uploading = Held::connect(&campus.profile(ALICE), &bb.addr).expect("connects");
    uploading
        .start_upload("stolen.bin", &data, 256 << 10)
        .expect("upload under way");
    let mut bob = Held::connect(&campus.profile(BOB), &bb.addr).expect("bob connects");

    revoke(&campus, ALICE);
    // Without SIGHUP the file watcher finds the new CRL within seconds; either way, the
    // connections opened before it are closed, idle or not, without sending anything more.
    refused_with(
        idle.wait_closed(WAIT),
        RefusalCode::Revoked,
        "the idle connection",
        &bb,
    );
    refused_with(
        uploading.wait_closed(WAIT),
        RefusalCode::Revoked,
        "the connection in the middle of an upload",
        &bb,
    );
    // Nothing of the half upload is kept, and Bob goes on as before.
    assert!(names_in(&campus.data().join("files")).is_empty());
    let tmp_empty = poll(WAIT, Duration::from_millis(100), || {
        names_in(&campus.data().join("tmp"))
            .is_empty()
            .then_some(())
    });
    assert!(tmp_empty.is_some(), "the half upload stays in tmp/");
    assert_eq!(bob.list().expect("bob still lists"), 0);
    // And a new connection of hers is refused too.
    assert!(Held::connect(&campus.profile(ALICE), &bb.addr).is_err());
    assert!(bb.stop(), "blackboard exits 0");
}

#[test]
fn revocation_closes_open_connections_on_mio() {
    revocation_closes_connections_that_are_already_open("mio");
}

#[test]
fn revocation_closes_open_connections_on_smol() {
    revocation_closes_connections_that_are_already_open("smol");
}

fn one_student_cannot_take_every_connection(transport: &str) {
    let campus = Campus::with_transports(transport, transport);
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    campus.enroll(&cuhk, BOB);

    // The per-student limit: 4 by default, however many slots the server has.
    let bb = blackboard(&campus, &["--max-connections", "64"]);
    let held: Vec<Held> = (0..4)
        .map(|i| {
            Held::connect(&campus.profile(ALICE), &bb.addr)
                .unwrap_or_else(|o| panic!("connection {i} of alice: {o:?}"))
        })
        .collect();
    let turned_away = Held::connect(&campus.profile(ALICE), &bb.addr).expect_err("a fifth");
    let r = turned_away.refusal().expect("a reason").clone();
    assert_eq!(r.code, RefusalCode::Unavailable, "{r:?}");
    assert!(r.reason.contains("4 connections open"), "{}", r.reason);
    let out = campus.list(&bb, BOB);
    assert!(out.is_empty(), "bob is served meanwhile");
    drop(held);
    // Her slots come back once her connections close.
    let back = poll(WAIT, Duration::from_millis(100), || {
        Held::connect(&campus.profile(ALICE), &bb.addr).ok()
    });
    assert!(back.is_some(), "alice's slots never came back");
    assert!(bb.stop());

    // The reserve: with 8 slots, 6 may be shared; past that only students with no connection
    // get one.
    let bb = blackboard(
        &campus,
        &[
            "--max-connections",
            "8",
            "--max-connections-per-student",
            "8",
        ],
    );
    let _held: Vec<Held> = (0..6)
        .map(|i| {
            Held::connect(&campus.profile(ALICE), &bb.addr)
                .unwrap_or_else(|o| panic!("connection {i} of alice: {o:?}"))
        })
        .collect();
    let r = Held::connect(&campus.profile(ALICE), &bb.addr).expect_err("a seventh");
    assert!(
        r.refusal().is_some_and(|r| r.reason.contains("busy")),
        "{r:?}"
    );
    let mut bob = Held::connect(&campus.profile(BOB), &bb.addr).expect("bob has none: admitted");
    assert_eq!(bob.list().expect("bob lists"), 0);
    assert!(bb.stop());
}

#[test]
fn one_student_cannot_take_every_connection_on_mio() {
    one_student_cannot_take_every_connection("mio");
}

#[test]
fn one_student_cannot_take_every_connection_on_smol() {
    one_student_cannot_take_every_connection("smol");
}

fn old_connections_are_retired(transport: &str) {
    let campus = Campus::with_transports(transport, transport);
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    let bb = blackboard(&campus, &["--max-connection-age", "2s"]);
    let mut held = Held::connect(&campus.profile(ALICE), &bb.addr).expect("connects");
    held.list().expect("lists");
    // The idle deadline is 60 s: only the age limit closes it this soon.
    let ended = held.wait_closed(WAIT);
    assert!(ended.is_some(), "a connection outlived its maximum age");
    assert!(bb.stop());
}

#[test]
fn old_connections_are_retired_on_mio() {
    old_connections_are_retired("mio");
}

#[test]
fn old_connections_are_retired_on_smol() {
    old_connections_are_retired("smol");
}

fn storage_per_student_is_bounded(transport: &str) {
    let campus = Campus::with_transports(transport, transport);
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    campus.enroll(&cuhk, BOB);
    let bb = blackboard(
        &campus,
        &[
            "--max-versions-per-student",
            "2",
            "--max-bytes-per-student",
            "1MiB",
        ],
    );
    let small = campus.path("small.bin");
    write_pattern(&small, 1000, 1);
    campus.submit(&bb, ALICE, &small, "hw1");
    campus.submit(&bb, ALICE, &small, "hw1");
    let err = fails(submit_cmd(&campus, &bb, ALICE, &small));
    assert!(err.contains("already stored 2 submissions"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");

    let big = campus.path("big.bin");
    write_pattern(&big, 600 << 10, 2);
    campus.submit(&bb, BOB, &big, "hw1");
    let err = fails(submit_cmd(&campus, &bb, BOB, &big));
    assert!(
        err.contains("over the 1 MiB (1,048,576 bytes) Blackboard keeps per student"),
        "{err}"
    );
    assert_eq!(campus.list(&bb, ALICE).len(), 2);
    assert_eq!(campus.list(&bb, BOB).len(), 1);
    assert!(bb.stop());
}

#[test]
fn storage_per_student_is_bounded_on_mio() {
    storage_per_student_is_bounded("mio");
}

#[test]
fn storage_per_student_is_bounded_on_smol() {
    storage_per_student_is_bounded("smol");
}
