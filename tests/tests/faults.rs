//! Faults with the real binaries on loopback: a student killed mid-upload, Blackboard killed
//! during concurrent uploads, a full disk, a flood of connections that never finish a
//! handshake, and certificates that expire or are renewed. (Enrollment code guessing is in
//! enroll_guessing.rs.)

use handin_core::rustls::pki_types::pem::PemObject;
use handin_core::rustls::pki_types::CertificateDer;
use handin_tests::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Asserts that a failure was reported as exactly one line on stderr; returns it.
fn one_line(out: &Output, what: &str) -> String {
    assert!(
        !out.status.success(),
        "{what} succeeded: {}",
        stdout_of(out)
    );
    let err = stderr_of(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: one clear line on stderr, got:\n{err}"
    );
    lines[0].to_owned()
}

/// The sizes of the files in a directory.
fn sizes_in(dir: &Path) -> Vec<u64> {
    names_in(dir)
        .iter()
        .filter_map(|n| std::fs::metadata(dir.join(n)).ok())
        .map(|m| m.len())
        .collect()
}

/// The last lines of a server's log, for failure messages.
fn tail(server: &Server) -> String {
    let log = server.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A client process with its output piped, killed (SIGKILL) if it is still there on drop, so
/// that a failing test leaves nothing behind (not even a stopped process).
#[derive(Debug)]
struct Proc {
    child: Option<Child>,
}

impl Proc {
    fn spawn(mut c: Command) -> Self {
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Self {
            child: Some(c.spawn().expect("the command starts")),
        }
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("not yet finished")
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("not yet finished").id()
    }

    /// Whether it is still running.
    fn running(&mut self) -> bool {
        matches!(self.child().try_wait(), Ok(None))
    }

    /// Sends a signal (`STOP`, `CONT`, ...).
    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{sig} {}", self.pid());
    }

    /// SIGKILL, at once.
    fn kill(&mut self) {
        self.child().kill().expect("SIGKILL");
    }

    /// Waits up to `within` for it to exit by itself, then kills it; returns its output and
    /// whether it exited by itself.
    fn finish(mut self, within: Duration) -> (Output, bool) {
        let mut child = self.child.take().expect("not yet finished");
        let exited = poll(within, Duration::from_millis(20), || {
            child.try_wait().ok().flatten()
        })
        .is_some();
        if !exited {
            let _ = child.kill();
        }
        (child.wait_with_output().expect("the output"), exited)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `blackboard serve` on `data` with the campus's CA, Blackboard certificate and CRL.
fn start_blackboard_on(campus: &Campus, data: &Path) -> Server {
    let mut c = campus.blackboard_serve(data);
    c.args(["--listen", "127.0.0.1:0", "--transport", "mio"]);
    Server::start(c, "blackboard")
}

/// `cuhk serve` issuing certificates valid for `lifetime` (such as `8s`).
fn start_cuhk_with_lifetime(campus: &Campus, lifetime: &str) -> Server {
    let mut c = cmd("cuhk");
    c.args(["serve", "-v", "--dir"]).arg(campus.pki()).args([
        "--listen",
        "127.0.0.1:0",
        "--transport",
        "mio",
        "--cert-lifetime",
        lifetime,
    ]);
    Server::start(c, "cuhk")
}

/// `student enroll` for a rostered `id` with `code`, without asserting the outcome.
fn enroll_cmd(campus: &Campus, cuhk: &Server, id: &str, code: &str) -> Command {
    let mut c = campus.student(
        id,
        &[
            "enroll", "--id", id, "--code", code, "--cuhk", &cuhk.addr, "--ca",
        ],
    );
    c.arg(campus.pki().join("ca.crt"));
    c
}

/// The student certificate in a profile (the first certificate of `cert.pem`).
fn profile_cert(campus: &Campus, id: &str) -> CertificateDer<'static> {
    let path = campus.profile(id).join("cert.pem");
    CertificateDer::from_pem_file(&path)
        .unwrap_or_else(|e| panic!("{} holds no certificate: {e:?}", path.display()))
}

/// The `(serial X)` in what `student enroll` or `student renew` printed.
fn printed_serial(stdout: &str) -> String {
    stdout
        .split("(serial ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no serial in {stdout:?}"))
        .to_owned()
}

/// The receipt gives the original's size, and the submission fetches back byte-identical.
fn assert_intact(campus: &Campus, bb: &Server, id: &str, r: &Receipted) {
    let size = std::fs::metadata(&r.original).expect("original").len();
    assert_eq!(r.size, size, "the receipt's size");
    assert_fetches_back(campus, bb, id, r);
}

/// The receipt file of `id` verifies against Blackboard's certificate.
fn assert_receipt_verifies(campus: &Campus, id: &str, r: &Receipted) {
    let out = run(campus.verify_receipt(id, &r.receipt, &campus.path("bb.crt")));
    assert!(
        out.status.success() && stdout_of(&out).contains("valid receipt"),
        "the receipt of {} does not verify: {}{}",
        r.id,
        stdout_of(&out),
        stderr_of(&out)
    );
    assert!(
        stdout_of(&out).contains(&r.id),
        "the receipt names another submission: {}",
        stdout_of(&out)
    );
}

/// The resident memory of a process, in bytes (`VmRSS` in `/proc/PID/status`).
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

// ---------------------------------------------------------------------------------------------
// 1. A student killed mid-upload
// ---------------------------------------------------------------------------------------------

#[test]
fn a_client_that_disconnects_mid_upload_leaves_no_partial_submission() {
    // Large enough that the upload lasts well over a second with debug binaries.
    const SIZE: usize = 100 * 1024 * 1024;
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let file = campus.path("huge.bin");
    write_pattern(&file, SIZE, 7);
    let tmp = campus.data().join("tmp");

    let started = Instant::now();
    let mut student = Proc::spawn(submit_cmd(&campus, &bb, ALICE, &file));
    // Under way once its temporary file has some, but not all, of the bytes.
    let partial = |min: u64| {
        sizes_in(&tmp)
            .into_iter()
            .find(|&len| len > min && len < SIZE as u64)
    };
    let first = poll(Duration::from_secs(30), Duration::from_millis(10), || {
        partial(0)
    })
    .unwrap_or_else(|| panic!("the upload never started; log:\n{}", tail(&bb)));
    // Well past the 4 MiB Blackboard buffers ahead of the disk: bytes are really on disk.
    let past = first.max(8 * 1024 * 1024);
    let growing = poll(Duration::from_secs(20), Duration::from_millis(10), || {
        partial(past)
    });
    assert!(
        growing.is_some(),
        "the temporary file did not grow from {first} past {past} bytes; log:\n{}",
        tail(&bb)
    );
    assert!(
        student.running(),
        "the student finished before it could be killed: make the file larger"
    );
    student.kill();
    let killed = Instant::now();
    let _ = student.finish(Duration::from_secs(10));
    eprintln!(
        "killed the student {:?} into the upload, with {} bytes in tmp",
        killed - started,
        growing.unwrap_or(first)
    );

    let emptied = poll(Duration::from_secs(5), Duration::from_millis(20), || {
        names_in(&tmp).is_empty().then_some(())
    });
    assert!(
        emptied.is_some(),
        "the aborted upload is still in tmp 5 s after the student died: {:?} ({:?} bytes); log:\n{}",
        names_in(&tmp),
        sizes_in(&tmp),
        tail(&bb)
    );
    eprintln!("tmp emptied {:?} after the kill", killed.elapsed());
    assert!(
        campus.list(&bb, ALICE).is_empty(),
        "a partial upload is listed"
    );
    assert!(
        names_in(&campus.data().join("files")).is_empty(),
        "a partial upload reached files/"
    );

    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
    let bb = campus.start_blackboard();
    assert!(
        names_in(&tmp).is_empty(),
        "tmp is not empty after the restart: {:?}",
        names_in(&tmp)
    );
    assert!(
        campus.list(&bb, ALICE).is_empty(),
        "a partial upload is listed after the restart"
    );
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}

// ---------------------------------------------------------------------------------------------
// 2. Blackboard killed during concurrent uploads
// ---------------------------------------------------------------------------------------------

#[test]
fn sigkill_of_blackboard_during_concurrent_uploads_keeps_exactly_the_receipted_submissions() {
    const LARGE: usize = 64 * 1024 * 1024;
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    let small: Vec<(String, usize)> = [10_000, 300_000, 2_000_000]
        .into_iter()
        .enumerate()
        .map(|(i, size)| (format!("11550001{i:02}"), size))
        .collect();
    let large: Vec<(String, usize)> = (0..3)
        .map(|i| (format!("11550002{i:02}"), LARGE + i * 4096))
        .collect();
    let everyone: Vec<(String, usize)> = small.iter().chain(&large).cloned().collect();
    for (id, _) in &everyone {
        campus.enroll(&cuhk, id);
    }
    let files: Vec<PathBuf> = everyone
        .iter()
        .enumerate()
        .map(|(i, (id, size))| {
            let f = campus.path(&format!("hw-{id}.bin"));
            write_pattern(&f, *size, i as u8 + 11);
            f
        })
        .collect();
    let tmp = campus.data().join("tmp");

    // The large uploads start one at a time; each is paused (SIGSTOP) as soon as its bytes
    // reach tmp, so that it cannot finish while the small ones run.
    let mut large_procs: Vec<Proc> = Vec::new();
    for ((id, _), f) in large.iter().zip(&files[small.len()..]) {
        let before = names_in(&tmp);
        let p = Proc::spawn(submit_cmd(&campus, &bb, id, f));
        poll(Duration::from_secs(60), Duration::from_millis(5), || {
            names_in(&tmp)
                .iter()
                .filter(|n| !before.contains(n))
                .any(|n| std::fs::metadata(tmp.join(n)).is_ok_and(|m| m.len() > 0))
                .then_some(())
        })
        .unwrap_or_else(|| panic!("the upload of {id} did not start; log:\n{}", tail(&bb)));
        p.signal("STOP");
        large_procs.push(p);
    }
    let paused = sizes_in(&tmp);
    assert_eq!(paused.len(), large.len(), "tmp: {paused:?}");
    assert!(
        paused
            .iter()
            .all(|&len| len > 0 && len < (LARGE / 2) as u64),
        "the large uploads should be well under way, not nearly done: {paused:?}"
    );

    // The small ones complete and get their receipts.
    let small_procs: Vec<Proc> = small
        .iter()
        .zip(&files)
        .map(|((id, _), f)| Proc::spawn(submit_cmd(&campus, &bb, id, f)))
        .collect();
    let small_outputs: Vec<Output> = small_procs
        .into_iter()
        .map(|p| p.finish(Duration::from_secs(60)).0)
        .collect();
    for ((id, _), out) in small.iter().zip(&small_outputs) {
        assert!(
            out.status.success(),
            "the small submission of {id} failed: {}\nlog:\n{}",
            stderr_of(out),
            tail(&bb)
        );
    }

    // The large ones stream again; Blackboard dies while their bytes are arriving.
    let before: u64 = sizes_in(&tmp).iter().sum();
    for p in &large_procs {
        p.signal("CONT");
    }
    poll(Duration::from_secs(10), Duration::from_millis(5), || {
        (sizes_in(&tmp).iter().sum::<u64>() > before + 1024 * 1024).then_some(())
    })
    .unwrap_or_else(|| panic!("the large uploads did not resume; log:\n{}", tail(&bb)));
    let tmp_at_kill = sizes_in(&tmp);
    bb.kill();
    let killed = Instant::now();
    let in_flight = tmp_at_kill
        .iter()
        .filter(|&&len| len > 0 && len < LARGE as u64)
        .count();
    assert!(
        in_flight > 0,
        "no large upload was still in flight at the kill (tmp: {tmp_at_kill:?})"
    );
    eprintln!("killed blackboard with {in_flight} uploads in flight (tmp: {tmp_at_kill:?})");

    let large_outputs: Vec<Output> = large_procs
        .into_iter()
        .map(|p| {
            let (out, exited) = p.finish(Duration::from_secs(30));
            assert!(exited, "a student hung 30 s after blackboard died");
            out
        })
        .collect();
    eprintln!("every student ended {:?} after the kill", killed.elapsed());

    let bb = campus.start_blackboard();
    assert!(
        names_in(&tmp).is_empty(),
        "tmp is not empty after the restart: {:?}",
        names_in(&tmp)
    );
    let mut receipts = 0;
    let outputs = small_outputs.iter().chain(&large_outputs);
    for (((id, _), out), f) in everyone.iter().zip(outputs).zip(&files) {
        let listed = campus.list(&bb, id);
        if out.status.success() {
            receipts += 1;
            let r = Receipted::from_output(out, f);
            assert_eq!(listed.len(), 1, "{id} holds a receipt; listed: {listed:?}");
            assert_eq!(listed[0]["id"], r.id.as_str(), "{id}");
            assert_eq!(listed[0]["sha256"], r.sha256.as_str(), "{id}");
            assert_eq!(listed[0]["size"], r.size, "{id}");
            assert_intact(&campus, &bb, id, &r);
            assert_receipt_verifies(&campus, id, &r);
        } else {
            assert!(
                listed.is_empty(),
                "{id} got no receipt ({}) but is listed: {listed:?}",
                stderr_of(out).trim()
            );
            eprintln!("{id} got no receipt: {}", stderr_of(out).trim());
        }
    }
    assert!(receipts >= small.len(), "{receipts} receipts");
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}

#[test]
fn a_student_cut_off_mid_upload_by_a_blackboard_crash_is_told_so_in_one_clear_line() {
    const SIZE: usize = 64 * 1024 * 1024;
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let file = campus.path("huge.bin");
    write_pattern(&file, SIZE, 4);
    let tmp = campus.data().join("tmp");
    let student = Proc::spawn(submit_cmd(&campus, &bb, ALICE, &file));
    poll(Duration::from_secs(30), Duration::from_millis(5), || {
        sizes_in(&tmp)
            .into_iter()
            .any(|len| len > 0 && len < SIZE as u64)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("the upload never started; log:\n{}", tail(&bb)));
    bb.kill();
    let (out, exited) = student.finish(Duration::from_secs(30));
    assert!(exited, "the student hung after blackboard died");
    let line = one_line(&out, "an upload to a crashed blackboard");
    eprintln!("the student was told: {line}");
    assert!(
        !line.contains("out of order"),
        "an internal usage error instead of what happened: {line}"
    );
    assert!(
        line.contains("Blackboard") && line.contains("try again"),
        "the message does not say Blackboard went away and what to do: {line}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. The disk fills up
// ---------------------------------------------------------------------------------------------

/// A tmpfs mounted for the life of the guard; unmounted on drop, even during a panic.
#[derive(Debug)]
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).expect("the mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => Self {
                dir: dir.to_owned(),
            },
            Ok(o) => panic!(
                "this test needs to mount a small tmpfs (run it as root or with CAP_SYS_ADMIN): \
                 `mount -t tmpfs` failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("this test needs the `mount` command to mount a small tmpfs: {e}"),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a server that is being killed): detach it.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

#[test]
fn when_the_disk_fills_up_during_an_upload_the_student_is_told_and_blackboard_keeps_serving() {
    let campus = Campus::new();
    // Declared after the campus, so it is unmounted before the campus directory is removed.
    let disk = Tmpfs::mount(&campus.path("small-disk"), "8m");
    let data = disk.dir.join("data");
    campus.init_data(&data);
    let mut add = cmd("blackboard");
    add.args(["assignment", "add", "--data"]).arg(&data).args([
        "CSCI3180",
        "hw1",
        "--due",
        "2099-01-01T00:00:00Z",
        "--max-size",
        "1GB",
    ]);
    ok(add);
    let cuhk = campus.start_cuhk();
    let bb = start_blackboard_on(&campus, &data);
    campus.enroll(&cuhk, ALICE);

    let first = campus.path("first.bin");
    write_pattern(&first, 200_000, 1);
    let out = run(submit_cmd(&campus, &bb, ALICE, &first));
    assert!(
        out.status.success(),
        "the first submission: {}",
        stderr_of(&out)
    );
    let first = Receipted::from_output(&out, &first);

    // Twice the size of the whole disk, well under the assignment's limit.
    let big = campus.path("big.bin");
    write_pattern(&big, 16 * 1024 * 1024, 2);
    let out = run(submit_cmd(&campus, &bb, ALICE, &big));
    let line = one_line(&out, "submitting a file larger than the free space");
    eprintln!("the student was told: {line}");
    assert!(
        line.contains("disk") && line.contains("full"),
        "the refusal does not say the disk is full: {line}\nlog:\n{}",
        tail(&bb)
    );

    let tmp = data.join("tmp");
    let emptied = poll(Duration::from_secs(5), Duration::from_millis(20), || {
        names_in(&tmp).is_empty().then_some(())
    });
    assert!(
        emptied.is_some(),
        "the failed upload is still in tmp: {:?} ({:?} bytes)",
        names_in(&tmp),
        sizes_in(&tmp)
    );
    let listed = campus.list(&bb, ALICE);
    assert_eq!(listed.len(), 1, "only the first submission: {listed:?}");
    assert_eq!(listed[0]["id"], first.id.as_str());
    assert_intact(&campus, &bb, ALICE, &first);

    // Still serving: the space of the failed upload is free again.
    let third = campus.path("third.bin");
    write_pattern(&third, 100_000, 3);
    let out = run(submit_cmd(&campus, &bb, ALICE, &third));
    assert!(
        out.status.success(),
        "a small submission after the failed one: {}\nlog:\n{}",
        stderr_of(&out),
        tail(&bb)
    );
    let third = Receipted::from_output(&out, &third);
    assert_intact(&campus, &bb, ALICE, &third);
    assert_eq!(campus.list(&bb, ALICE).len(), 2);
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}

#[test]
fn a_full_disk_logs_one_warning_per_failed_upload_not_one_per_chunk() {
    let campus = Campus::new();
    // Declared after the campus, so it is unmounted before the campus directory is removed.
    let disk = Tmpfs::mount(&campus.path("small-disk"), "4m");
    let data = disk.dir.join("data");
    campus.init_data(&data);
    let mut add = cmd("blackboard");
    add.args(["assignment", "add", "--data"]).arg(&data).args([
        "CSCI3180",
        "hw1",
        "--due",
        "2099-01-01T00:00:00Z",
        "--max-size",
        "1GB",
    ]);
    ok(add);
    let cuhk = campus.start_cuhk();
    let bb = start_blackboard_on(&campus, &data);
    campus.enroll(&cuhk, ALICE);

    // Each four times the size of the whole disk: hundreds of chunks arrive after the first
    // write fails.
    let big = campus.path("big.bin");
    write_pattern(&big, 16 * 1024 * 1024, 4);
    for attempt in 1..=2 {
        let out = run(submit_cmd(&campus, &bb, ALICE, &big));
        let line = one_line(&out, "submitting a file larger than the disk");
        assert!(line.contains("full"), "attempt {attempt}: {line}");
    }
    // Everything it logged, up to its last line.
    bb.signal("TERM");
    let log = poll(Duration::from_secs(20), Duration::from_millis(20), || {
        let log = bb.log();
        log.contains("blackboard: stopped").then_some(log)
    })
    .unwrap_or_else(|| panic!("blackboard did not stop on SIGTERM:\n{}", tail(&bb)));
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("upload write failed"))
        .collect();
    assert_eq!(
        warnings.len(),
        2,
        "one warning per failed upload, got {}:\n{}",
        warnings.len(),
        warnings.join("\n")
    );
    assert!(
        warnings.iter().all(|w| w.contains("full")),
        "each says why: {warnings:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. A flood of connections that never finish a handshake
// ---------------------------------------------------------------------------------------------

#[test]
fn a_thousand_stalled_and_twenty_trickling_connections_neither_block_a_student_nor_bloat_blackboard(
) {
    const STALLED: usize = 1_000;
    const TRICKLING: usize = 20;
    // Blackboard idles at about 15 MiB. A connection that has not finished its handshake
    // needs a socket, a TLS server state waiting for its ClientHello and a timer: a few KiB.
    // Even at a generous 64 KiB each (a whole 16 KiB TLS record each way, plus state), 1,020
    // of them come to ~64 MiB, so 100 MiB in all. A server that gave every peer a thread, or
    // a pair of 64 KiB frame buffers (~130 MiB for 1,020), or buffered without bound, fails.
    const RSS_BOUND: u64 = 100 * 1024 * 1024;

    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let file = campus.path("answers.bin");
    write_pattern(&file, 200_000, 5);
    let baseline = rss_bytes(bb.pid()).expect("blackboard's VmRSS");

    let hello = client_hello();
    let opened_at = Instant::now();
    let mut conns: Vec<(TcpStream, Instant, bool)> = Vec::with_capacity(STALLED + TRICKLING);
    for i in 0..STALLED + TRICKLING {
        let s = TcpStream::connect(&bb.addr)
            .unwrap_or_else(|e| panic!("connection {i} to blackboard: {e}"));
        s.set_nonblocking(true).expect("non-blocking");
        conns.push((s, Instant::now(), i >= STALLED));
    }
    eprintln!(
        "opened {} connections in {:?}",
        conns.len(),
        opened_at.elapsed()
    );

    // The real student, while they are all open.
    let submit = std::thread::spawn({
        let c = submit_cmd(&campus, &bb, ALICE, &file);
        move || {
            let started = Instant::now();
            let out = run(c);
            (out, started.elapsed(), Instant::now())
        }
    });

    let mut closed_at: Vec<Option<Instant>> = vec![None; conns.len()];
    let mut sent = 0usize;
    let mut next_byte = Instant::now();
    let mut peak = baseline;
    let deadline = opened_at + HANDSHAKE_DEADLINE + Duration::from_secs(5);
    let mut buf = [0u8; 1024];
    while closed_at.iter().any(Option::is_none) && Instant::now() < deadline {
        if Instant::now() >= next_byte && sent < hello.len() {
            for ((s, _, trickles), closed) in conns.iter_mut().zip(&closed_at) {
                if *trickles && closed.is_none() {
                    // The server may have closed it already: the read below will tell.
                    let _ = s.write(&hello[sent..=sent]);
                }
            }
            sent += 1;
            next_byte += Duration::from_secs(1);
        }
        for ((s, _, _), closed) in conns.iter_mut().zip(closed_at.iter_mut()) {
            if closed.is_some() {
                continue;
            }
            match s.read(&mut buf) {
                Ok(0) => *closed = Some(Instant::now()),
                // An alert before the close: keep reading.
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                // A reset is the server closing too.
                Err(_) => *closed = Some(Instant::now()),
            }
        }
        if let Some(rss) = rss_bytes(bb.pid()) {
            if closed_at.iter().all(Option::is_none) {
                peak = peak.max(rss);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let (out, took, finished) = submit.join().expect("the submit thread");
    assert!(
        out.status.success(),
        "the student's submission failed next to the flood: {}\nlog:\n{}",
        stderr_of(&out),
        tail(&bb)
    );
    let receipt: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(receipt["size"], 200_000);
    let first_close = closed_at.iter().flatten().min().copied();
    assert!(
        first_close.is_none_or(|c| finished <= c),
        "the submission ({took:?}) ended only after the server began closing the flood"
    );
    eprintln!(
        "the submission took {took:?}; blackboard's RSS: {} MiB before, peak {} MiB with {} \
         connections open",
        baseline >> 20,
        peak >> 20,
        conns.len()
    );
    assert!(
        peak < RSS_BOUND,
        "blackboard's RSS reached {} MiB with the flood open",
        peak >> 20
    );

    let mut latest = Duration::ZERO;
    for (i, ((_, opened, trickles), closed)) in conns.iter().zip(&closed_at).enumerate() {
        let what = if *trickles { "trickling" } else { "silent" };
        let closed = closed.unwrap_or_else(|| {
            panic!(
                "{what} connection {i} was still open {:?} after it was opened; log:\n{}",
                opened.elapsed(),
                tail(&bb)
            )
        });
        let after = closed - *opened;
        assert!(
            after <= HANDSHAKE_DEADLINE + Duration::from_secs(3),
            "{what} connection {i} was closed only after {after:?}"
        );
        latest = latest.max(after);
    }
    eprintln!(
        "all {} connections were closed, the last {latest:?} after it was opened ({sent} bytes \
         trickled)",
        conns.len()
    );
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}

// ---------------------------------------------------------------------------------------------
// 5. Enrollment code guessing: in enroll_guessing.rs (per address and per connection, never
//    per student ID)
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// 6. Expiry and renewal
// ---------------------------------------------------------------------------------------------

#[test]
fn an_expired_certificate_is_refused_with_one_line_saying_so() {
    let campus = Campus::new();
    let cuhk = start_cuhk_with_lifetime(&campus, "8s");
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let cert = profile_cert(&campus, ALICE);
    let not_after = handin_core::pki::certificate_info(&cert)
        .expect("the certificate parses")
        .not_after;

    let file = campus.path("answers.txt");
    std::fs::write(&file, b"my answers").expect("write");
    let out = run(submit_cmd(&campus, &bb, ALICE, &file));
    if !out.status.success() {
        assert!(
            SystemTime::now() <= not_after,
            "the machine is too slow: the 8 s certificate expired before the first submission"
        );
        panic!(
            "submitting with a valid certificate failed: {}",
            stderr_of(&out)
        );
    }

    let left = not_after
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    assert!(left <= Duration::from_secs(9), "lifetime {left:?} left");
    // Past the end of its validity (kept to the second).
    std::thread::sleep(left + Duration::from_millis(1_100));
    let refused = poll(Duration::from_secs(10), Duration::from_millis(500), || {
        let out = run(submit_cmd(&campus, &bb, ALICE, &file));
        (!out.status.success()).then_some(out)
    })
    .unwrap_or_else(|| {
        panic!(
            "the submission still succeeds 10 s after the certificate expired; log:\n{}",
            tail(&bb)
        )
    });
    let line = one_line(&refused, "submitting with an expired certificate");
    eprintln!("the student was told: {line}");
    assert!(
        line.contains("expired"),
        "the refusal does not say the certificate expired: {line}"
    );
    assert!(
        line.contains("enroll") || line.contains("renew"),
        "the refusal does not say what to do: {line}"
    );
    assert_eq!(
        names_in(&campus.data().join("files")).len(),
        1,
        "only the submission made before the expiry is stored"
    );
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}

#[test]
fn a_student_who_renews_before_expiry_gets_a_new_certificate_and_can_submit_with_it() {
    let campus = Campus::new();
    let cuhk = start_cuhk_with_lifetime(&campus, "30s");
    let bb = campus.start_blackboard();
    let code = campus.roster_add(ALICE);
    let enrolled = ok(enroll_cmd(&campus, &cuhk, ALICE, &code));
    let old_serial = printed_serial(&enrolled);
    let cert_path = campus.profile(ALICE).join("cert.pem");
    let key_path = campus.profile(ALICE).join("key.pem");
    let old_cert = std::fs::read(&cert_path).expect("cert.pem");
    let old_key = std::fs::read(&key_path).expect("key.pem");
    let old_info = handin_core::pki::certificate_info(&profile_cert(&campus, ALICE)).expect("info");

    let renew = run(campus.student(ALICE, &["renew", "--cuhk", &cuhk.addr]));
    assert!(
        renew.status.success(),
        "renewal failed: {}\nlog:\n{}",
        stderr_of(&renew),
        tail(&cuhk)
    );
    let renewed = stdout_of(&renew);
    eprintln!("{}", renewed.trim());
    let new_serial = printed_serial(&renewed);
    assert_ne!(new_serial, old_serial, "the renewal kept the serial");
    let new_cert = std::fs::read(&cert_path).expect("cert.pem");
    assert_ne!(new_cert, old_cert, "cert.pem did not change");
    assert_ne!(
        std::fs::read(&key_path).expect("key.pem"),
        old_key,
        "the renewal kept the key"
    );
    let new_info = handin_core::pki::certificate_info(&profile_cert(&campus, ALICE)).expect("info");
    assert_eq!(new_info.subject, old_info.subject);
    assert_ne!(new_info.serial, old_info.serial);
    assert_eq!(
        handin_core::pki::serial_hex(&new_info.serial),
        new_serial,
        "the printed serial is the one in cert.pem"
    );
    assert!(new_info.not_after >= old_info.not_after);
    // CUHK saw the old certificate over mutual TLS and recorded a renewal, not an enrollment.
    assert!(
        cuhk.log().contains("renewal=true"),
        "CUHK did not log a renewal:\n{}",
        tail(&cuhk)
    );

    let file = campus.path("answers.txt");
    std::fs::write(&file, b"renewed answers").expect("write");
    let out = run(submit_cmd(&campus, &bb, ALICE, &file));
    assert!(
        out.status.success(),
        "submitting with the renewed certificate failed: {}",
        stderr_of(&out)
    );
    let r = Receipted::from_output(&out, &file);
    assert_intact(&campus, &bb, ALICE, &r);
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
    assert!(cuhk.stop(), "cuhk exits 0 on SIGTERM");
}
