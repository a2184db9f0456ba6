//! Blackboard under stress with the real binaries on loopback: revocation without a restart,
//! hostile neighbours, restarts and crashes, many students at once, shutdown during an upload,
//! and peers that never finish a handshake.

use handin_tests::*;
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Reads from `stream` until the peer closes it (EOF or a reset), giving up after `within`.
/// Returns how long that took from `since`, or `None` if it was still open at the deadline.
fn wait_closed(stream: &mut TcpStream, since: Instant, within: Duration) -> Option<Duration> {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        stream
            .set_read_timeout(Some(left.min(Duration::from_millis(200))))
            .expect("set a read timeout");
        match stream.read(&mut buf) {
            Ok(0) => return Some(since.elapsed()),
            // An alert or other bytes before the close: keep reading.
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset is the server closing too.
            Err(_) => return Some(since.elapsed()),
        }
    }
}

/// A deterministic stream of pseudo-random bytes (xorshift64*).
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The first half of a genuine TLS 1.3 ClientHello, as a real client would start one.
fn partial_client_hello() -> Vec<u8> {
    let mut hello = client_hello();
    hello.truncate(hello.len() / 2);
    hello
}

/// Runs `cmds` with at most `width` of them at a time; returns their outputs in order.
fn run_all(cmds: Vec<Command>, width: usize) -> Vec<Output> {
    let n = cmds.len();
    let queue = Mutex::new(cmds.into_iter().enumerate().collect::<VecDeque<_>>());
    let results = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|s| {
        for _ in 0..width.min(n) {
            s.spawn(|| loop {
                let next = queue.lock().expect("queue").pop_front();
                let Some((i, c)) = next else { break };
                let out = run(c);
                results.lock().expect("results").push((i, out));
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(i, _)| *i);
    assert_eq!(results.len(), n);
    results.into_iter().map(|(_, o)| o).collect()
}

/// Every receipted submission is listed with its receipt's hash and size, and fetches back
/// byte-identical.
fn assert_all_intact(campus: &Campus, bb: &Server, id: &str, expected: &[Receipted]) {
    let listed = campus.list(bb, id);
    assert_eq!(
        listed.len(),
        expected.len(),
        "listed after the restart: {listed:?}"
    );
    for r in expected {
        let entry = listed
            .iter()
            .find(|e| e["id"] == r.id.as_str())
            .unwrap_or_else(|| panic!("submission {} is not listed: {listed:?}", r.id));
        assert_eq!(entry["sha256"], r.sha256.as_str(), "{}", r.id);
        assert_eq!(entry["size"], r.size, "{}", r.id);
        assert_fetches_back(campus, bb, id, r);
    }
}

/// Enrolls ALICE and submits files of 0 B, 1 B, 100 KB, 1 MB and 3 MB; returns the receipts.
fn submit_five_sizes(campus: &Campus, bb: &Server) -> Vec<Receipted> {
    let mut receipts = Vec::new();
    for (i, size) in [0usize, 1, 100_000, 1_000_000, 3_000_000]
        .into_iter()
        .enumerate()
    {
        let file = campus.path(&format!("size-{size}.bin"));
        write_pattern(&file, size, i as u8 + 1);
        let out = run(submit_cmd(campus, bb, ALICE, &file));
        assert!(
            out.status.success(),
            "submitting a {size}-byte file failed: {}",
            stderr_of(&out)
        );
        let receipt: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("submit --json prints JSON");
        assert_eq!(receipt["size"], size as u64);
        receipts.push(Receipted::from_json(&receipt, &file));
    }
    receipts
}

// ---------------------------------------------------------------------------------------------
// 1. Revocation without a restart
// ---------------------------------------------------------------------------------------------

fn revoke(campus: &Campus, id: &str) {
    let mut c = cmd("cuhk");
    c.args(["revoke", "--dir"])
        .arg(campus.pki())
        .args(["--student", id]);
    ok(c);
}

#[test]
fn a_revoked_student_is_refused_within_seconds_without_restarting_blackboard() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    campus.enroll(&cuhk, BOB);
    let file = campus.path("answers.txt");
    std::fs::write(&file, b"my answers").expect("write");
    campus.submit(&bb, ALICE, &file, "hw1");

    revoke(&campus, ALICE);
    let revoked_at = Instant::now();
    let refused = poll(Duration::from_secs(10), Duration::from_millis(300), || {
        let out = run(submit_cmd(&campus, &bb, ALICE, &file));
        (!out.status.success()).then_some(out)
    })
    .unwrap_or_else(|| {
        panic!(
            "ALICE could still submit 10 s after her revocation; log:\n{}",
            bb.log()
        )
    });
    let err = stderr_of(&refused);
    assert!(err.contains("revoked"), "the refusal: {err}");
    eprintln!(
        "refused {:?} after the revocation: {}",
        revoked_at.elapsed(),
        err.trim()
    );

    // Someone else is unaffected, on the same running server.
    let receipt = campus.submit(&bb, BOB, &file, "hw1");
    assert_eq!(receipt["size"], 10);
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}

#[test]
fn after_a_revocation_sighup_makes_the_very_next_submission_refused() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    campus.enroll(&cuhk, BOB);
    let file = campus.path("answers.txt");
    std::fs::write(&file, b"my answers").expect("write");
    campus.submit(&bb, ALICE, &file, "hw1");

    // Line up with the periodic check (every 2 s): republish the same (empty) CRL and wait
    // for the check to pick it up. The next periodic check is then ~2 s away, so only SIGHUP
    // can make the revocation below take effect in time.
    let loads = || bb.log().matches("CRL loaded").count();
    let before = loads();
    let mut crl = cmd("cuhk");
    crl.args(["crl", "--dir"])
        .arg(campus.pki())
        .arg("--out")
        .arg(campus.pki().join("crl.pem"));
    ok(crl);
    poll(Duration::from_secs(5), Duration::from_millis(10), || {
        (loads() > before).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "a republished CRL was not reloaded within 5 s; log:\n{}",
            bb.log()
        )
    });
    let checked = Instant::now();

    revoke(&campus, ALICE);
    let before = loads();
    bb.signal("HUP");
    // Give the reload ~300 ms, moving on as soon as the log shows it.
    poll(
        Duration::from_millis(300),
        Duration::from_millis(20),
        || (loads() > before).then_some(()),
    );
    let out = run(submit_cmd(&campus, &bb, ALICE, &file));
    assert!(
        !out.status.success(),
        "ALICE submitted right after SIGHUP; log:\n{}",
        bb.log()
    );
    let err = stderr_of(&out);
    assert!(err.contains("revoked"), "the refusal: {err}");
    eprintln!(
        "refused {:?} after the last periodic CRL check: {}",
        checked.elapsed(),
        err.trim()
    );

    let receipt = campus.submit(&bb, BOB, &file, "hw1");
    assert_eq!(receipt["size"], 10);
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}

// ---------------------------------------------------------------------------------------------
// 2. Hostile neighbours
// ---------------------------------------------------------------------------------------------

#[test]
fn a_student_submits_and_fetches_a_megabyte_while_hostile_connections_are_open() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let file = campus.path("big.bin");
    write_pattern(&file, 1_000_000, 3);

    // Opens and never sends a byte.
    let stalled = TcpStream::connect(&bb.addr).expect("connect");
    // Starts a genuine ClientHello and stops halfway.
    let mut partial = TcpStream::connect(&bb.addr).expect("connect");
    partial
        .write_all(&partial_client_hello())
        .expect("half a ClientHello");
    // 64 KiB of noise, then waits to see the server close it.
    let mut noisy = TcpStream::connect(&bb.addr).expect("connect");
    let noise_sent = Instant::now();
    let noise = std::thread::spawn(move || {
        // The server may hang up before it has all of it: that is fine.
        let _ = noisy.write_all(&garbage(64 * 1024, 0x9e37_79b9_7f4a_7c15));
        wait_closed(&mut noisy, noise_sent, Duration::from_secs(15))
    });

    let started = Instant::now();
    let receipt = campus.submit(&bb, ALICE, &file, "hw1");
    let took = started.elapsed();
    eprintln!("the 1 MB submission took {took:?} next to the hostile connections");
    assert!(
        took < Duration::from_secs(8),
        "the submission took {took:?}: it waited on the hostile connections"
    );
    assert_eq!(receipt["size"], 1_000_000);
    let id = receipt["id"].as_str().expect("id");
    let back = campus.path("back.bin");
    let out = campus.fetch(&bb, ALICE, id, &back);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        std::fs::read(&back).expect("fetched") == std::fs::read(&file).expect("original"),
        "the fetched file differs"
    );

    let closed = noise.join().expect("the noise thread");
    let closed = closed.unwrap_or_else(|| {
        panic!(
            "the garbage connection was still open 15 s later; log:\n{}",
            bb.log()
        )
    });
    eprintln!("the garbage connection was closed {closed:?} after the garbage was sent");
    assert!(
        closed < Duration::from_secs(5),
        "the garbage connection was closed only after {closed:?} (the handshake deadline, not the garbage, closed it)"
    );
    drop((stalled, partial));
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}

// ---------------------------------------------------------------------------------------------
// 3. Restart durability
// ---------------------------------------------------------------------------------------------

#[test]
fn a_zero_byte_file_can_be_submitted_and_fetched() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let file = campus.path("empty.txt");
    std::fs::write(&file, b"").expect("write");
    let out = run(submit_cmd(&campus, &bb, ALICE, &file));
    assert!(
        out.status.success(),
        "an empty file was not accepted: {}\nlog:\n{}",
        stderr_of(&out),
        bb.log()
    );
    let receipt: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(receipt["size"], 0);
    assert_eq!(receipt["sha256"], sha256_hex(b"").as_str());
    assert_all_intact(
        &campus,
        &bb,
        ALICE,
        &[Receipted::from_json(&receipt, &file)],
    );
}

#[test]
fn every_receipted_submission_survives_a_sigterm_restart() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let receipts = submit_five_sizes(&campus, &bb);
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");

    let bb = campus.start_blackboard();
    assert_all_intact(&campus, &bb, ALICE, &receipts);
    assert!(
        names_in(&campus.data().join("tmp")).is_empty(),
        "temporary files remain after the restart"
    );
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}

#[test]
fn every_receipted_submission_survives_a_sigkill_restart() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let receipts = submit_five_sizes(&campus, &bb);
    bb.kill();

    let bb = campus.start_blackboard();
    assert_all_intact(&campus, &bb, ALICE, &receipts);
    assert!(
        names_in(&campus.data().join("tmp")).is_empty(),
        "temporary files remain after the restart"
    );
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}

// ---------------------------------------------------------------------------------------------
// 4. Many students at once
// ---------------------------------------------------------------------------------------------

#[test]
fn two_hundred_students_enroll_and_submit_concurrently_and_every_file_is_stored_intact() {
    two_hundred_students("mio", "mio");
}

#[test]
fn two_hundred_students_do_the_same_against_the_smol_servers() {
    two_hundred_students("smol", "smol");
}

fn two_hundred_students(server: &str, client: &str) {
    const STUDENTS: usize = 200;
    const WIDTH: usize = 50;
    let started = Instant::now();
    let campus = Campus::with_transports(server, client);
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    let ids: Vec<String> = (0..STUDENTS).map(|i| format!("11556{i:05}")).collect();

    // Roster: each `cuhk roster add` prints that student's one-time code.
    let roster = run_all(
        ids.iter()
            .map(|id| {
                let mut c = cmd("cuhk");
                c.args(["roster", "add", "--dir"]).arg(campus.pki()).arg(id);
                c
            })
            .collect(),
        WIDTH,
    );
    let codes: Vec<String> = roster
        .iter()
        .zip(&ids)
        .map(|(out, id)| {
            assert!(out.status.success(), "roster add {id}: {}", stderr_of(out));
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .collect();
    let rostered = started.elapsed();

    let ca = campus.pki().join("ca.crt");
    let enrolled = run_all(
        ids.iter()
            .zip(&codes)
            .map(|(id, code)| {
                let mut c = campus.student(
                    id,
                    &["enroll", "--id", id, "--code", code, "--cuhk", &cuhk.addr],
                );
                c.arg("--ca").arg(&ca);
                c
            })
            .collect(),
        WIDTH,
    );
    for (out, id) in enrolled.iter().zip(&ids) {
        assert!(out.status.success(), "enroll {id}: {}", stderr_of(out));
    }
    let enrolled_at = started.elapsed();

    let files: Vec<PathBuf> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let f = campus.path(&format!("hw-{id}.bin"));
            // Distinct sizes and contents.
            write_pattern(&f, 10_000 + 50 * i, i as u8);
            f
        })
        .collect();
    let submitted = run_all(
        ids.iter()
            .zip(&files)
            .map(|(id, f)| submit_cmd(&campus, &bb, id, f))
            .collect(),
        WIDTH,
    );
    let receipts: Vec<serde_json::Value> = submitted
        .iter()
        .zip(&ids)
        .map(|(out, id)| {
            assert!(
                out.status.success(),
                "submit {id}: {}\nlog tail:\n{}",
                stderr_of(out),
                bb.log()
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            serde_json::from_slice(&out.stdout).expect("submit --json prints JSON")
        })
        .collect();
    let submitted_at = started.elapsed();

    let verified = run_all(
        receipts
            .iter()
            .zip(&ids)
            .map(|(r, id)| {
                campus.verify_receipt(
                    id,
                    Path::new(r["receipt"].as_str().expect("receipt path")),
                    &campus.path("bb.crt"),
                )
            })
            .collect(),
        WIDTH,
    );
    let mut ids_seen = std::collections::HashSet::new();
    for (((out, r), id), f) in verified.iter().zip(&receipts).zip(&ids).zip(&files) {
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("valid receipt"),
            "the receipt of {id} does not verify: {}",
            stderr_of(out)
        );
        let sub = r["id"].as_str().expect("id");
        assert!(ids_seen.insert(sub.to_owned()), "submission id {sub} twice");
        let original = std::fs::read(f).expect("original");
        assert_eq!(r["sha256"], sha256_hex(&original).as_str(), "{id}");
        let stored = std::fs::read(campus.data().join("files").join(sub)).expect("stored file");
        assert!(stored == original, "the stored file of {id} differs");
    }
    eprintln!(
        "{STUDENTS} students: rostered at {rostered:?}, enrolled at {enrolled_at:?}, \
         submitted at {submitted_at:?}, all checked at {:?}",
        started.elapsed()
    );
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
    assert!(cuhk.stop(), "cuhk exits 0 on SIGTERM");
}

// ---------------------------------------------------------------------------------------------
// 5. Graceful shutdown during an upload
// ---------------------------------------------------------------------------------------------

#[test]
fn sigterm_during_an_upload_finishes_or_cleanly_refuses_it_and_exits_zero() {
    const SIZE: usize = 50 * 1024 * 1024;
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let file = campus.path("huge.bin");
    write_pattern(&file, SIZE, 9);

    let mut c = submit_cmd(&campus, &bb, ALICE, &file);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().expect("student starts");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });

    // The upload is under way once its temporary file has bytes in it.
    let tmp = campus.data().join("tmp");
    let in_flight = poll(Duration::from_secs(30), Duration::from_millis(10), || {
        let busy = names_in(&tmp).iter().any(|n| {
            std::fs::metadata(tmp.join(n)).is_ok_and(|m| m.len() > 0 && (m.len() as usize) < SIZE)
        });
        busy.then_some(())
    });
    assert!(
        in_flight.is_some(),
        "the upload never started; log:\n{}",
        bb.log()
    );

    let stopping = Instant::now();
    bb.signal("TERM");
    // The grace period is 30 s; the server says "stopped" as it exits cleanly.
    let stopped = poll(Duration::from_secs(35), Duration::from_millis(20), || {
        bb.log().contains("blackboard: stopped").then_some(())
    });
    let stop_took = stopping.elapsed();
    let log = bb.log();
    assert!(
        stopped.is_some(),
        "blackboard did not stop within the grace period; log:\n{log}"
    );
    assert!(bb.stop(), "blackboard exits 0 after SIGTERM; log:\n{log}");
    // Whether the upload was still in flight when the shutdown began.
    let shutdown_at = log.find("shutting down").expect("the shutdown is logged");
    let in_flight_at_signal = log.find(" stored ").is_none_or(|at| at > shutdown_at);

    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the student finished")
        .expect("the student ran");
    let bb = campus.start_blackboard();
    if out.status.success() {
        let receipt: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let r = Receipted::from_json(&receipt, &file);
        assert_eq!(r.size, SIZE as u64);
        let listed = campus.list(&bb, ALICE);
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["id"], r.id.as_str());
        assert_eq!(listed[0]["sha256"], r.sha256.as_str());
        let stored = std::fs::read(campus.data().join("files").join(&r.id)).expect("stored");
        assert!(
            stored == std::fs::read(&file).expect("original"),
            "the stored upload differs"
        );
        eprintln!(
            "the upload finished (in flight at SIGTERM: {in_flight_at_signal}); \
             blackboard stopped in {stop_took:?}"
        );
    } else {
        let err = stderr_of(&out);
        assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
        assert!(
            campus.list(&bb, ALICE).is_empty(),
            "a refused upload is listed"
        );
        eprintln!(
            "the upload was refused (in flight at SIGTERM: {in_flight_at_signal}): {err}; \
             blackboard stopped in {stop_took:?}"
        );
    }
    assert!(
        names_in(&tmp).is_empty(),
        "temporary files remain after the restart: {:?}",
        names_in(&tmp)
    );
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}

// ---------------------------------------------------------------------------------------------
// 6. Idle and slow peers
// ---------------------------------------------------------------------------------------------

#[test]
fn connections_that_never_finish_a_handshake_are_closed_at_the_handshake_deadline() {
    let campus = Campus::new();
    let bb = campus.start_blackboard();
    let opened = Instant::now();
    let mut silent = TcpStream::connect(&bb.addr).expect("connect");
    let mut slow = TcpStream::connect(&bb.addr).expect("connect");
    slow.write_all(&partial_client_hello())
        .expect("half a ClientHello");
    let slow = std::thread::spawn(move || wait_closed(&mut slow, opened, Duration::from_secs(15)));
    let silent = wait_closed(&mut silent, opened, Duration::from_secs(15));
    let slow = slow.join().expect("the slow peer thread");
    for (what, closed) in [("silent", silent), ("half-ClientHello", slow)] {
        let closed = closed.unwrap_or_else(|| {
            panic!(
                "the {what} connection was still open after 15 s; log:\n{}",
                bb.log()
            )
        });
        assert!(
            closed <= HANDSHAKE_DEADLINE + Duration::from_secs(3),
            "the {what} connection was closed only after {closed:?}"
        );
        // Closed by the deadline, not at once: a peer gets its 10 s to finish.
        assert!(
            closed >= HANDSHAKE_DEADLINE / 2,
            "the {what} connection was closed after only {closed:?}"
        );
        eprintln!("the {what} connection was closed after {closed:?}");
    }
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}
