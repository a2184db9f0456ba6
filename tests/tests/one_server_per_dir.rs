//! One server per directory, with the real binaries on both transports: a second
//! `blackboard serve` on the same data directory, or a second `cuhk serve` on the same PKI
//! directory, is refused with one line naming the first, and takes nothing from it (an upload in
//! progress still gets its receipt). The operator's commands keep working alongside a server.

use handin_tests::*;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// How long a refused server gets to exit. One still running after it has started serving on a
/// directory another server holds: it is killed and the test fails.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(20);

/// Runs a server that must refuse to start; returns its output once it exited.
fn second_server(mut c: Command) -> Output {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("the second server starts");
    let exited = poll(REFUSAL_DEADLINE, Duration::from_millis(20), || {
        child.try_wait().ok().flatten()
    })
    .is_some();
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("its output");
    assert!(
        exited,
        "a second server kept running on a directory another server holds:\n{}",
        stderr_of(&out)
    );
    out
}

/// The server exited non-zero with one line saying that `dir` is in use by `holder`.
fn assert_refused_naming(out: &Output, program: &str, dir: &Path, holder: u32) {
    assert!(!out.status.success(), "the second {program} exited 0");
    let err = stderr_of(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one clear line on stderr, got:\n{err}");
    let line = lines[0];
    let expected = format!(
        "{program}: error: {} is in use by another server (pid {holder}, since ",
        dir.display()
    );
    assert!(line.starts_with(&expected), "{line}");
    assert!(line.contains(", listening on 127.0.0.1:"), "{line}");
    assert!(line.ends_with("): stop it first"), "{line}");
}

/// A student process, frozen with SIGSTOP while the test looks at its upload; continued and
/// then killed if the test fails before it finished.
struct Student(Option<Child>);

impl Student {
    fn spawn(mut c: Command) -> Self {
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Self(Some(c.spawn().expect("student starts")))
    }

    fn signal(&self, sig: &str) {
        if let Some(child) = &self.0 {
            let status = Command::new("kill")
                .args([&format!("-{sig}"), &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill -{sig}");
        }
    }

    fn running(&mut self) -> bool {
        self.0
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn wait(mut self) -> Output {
        let child = self.0.take().expect("not yet waited for");
        child.wait_with_output().expect("student output")
    }
}

impl Drop for Student {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn a_second_blackboard_is_refused_and_the_first_ones_upload_gets_its_receipt(transport: &str) {
    // Large enough that the upload is still under way when the student is frozen.
    const SIZE: usize = 64 * 1024 * 1024;
    let campus = Campus::with_transports(transport, transport);
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let file = campus.path("big.bin");
    write_pattern(&file, SIZE, 3);
    let tmp = campus.data().join("tmp");

    let mut student = Student::spawn(submit_cmd(&campus, &bb, ALICE, &file));
    let started = poll(Duration::from_secs(60), Duration::from_millis(2), || {
        (!names_in(&tmp).is_empty()).then_some(())
    });
    student.signal("STOP");
    assert!(started.is_some(), "the upload never started:\n{}", bb.log());
    assert!(
        student.running() && names_in(&tmp).len() == 1,
        "the upload finished before the student could be frozen: make the file larger"
    );

    let out = second_server({
        let mut c = campus.blackboard_serve(&campus.data());
        c.args(["--listen", "127.0.0.1:0", "--transport", transport]);
        c
    });
    assert_refused_naming(&out, "blackboard", &campus.data(), bb.pid());
    assert_eq!(
        names_in(&tmp).len(),
        1,
        "the refused server touched the upload in progress"
    );
    // Changing assignments alongside the server needs no lock and leaves uploads alone.
    campus.add_assignment("CSCI3180", "hw2", "2099-01-01T00:00:00Z", "1MB");
    assert_eq!(names_in(&tmp).len(), 1, "assignment add touched tmp/");

    student.signal("CONT");
    let out = student.wait();
    assert!(
        out.status.success(),
        "the upload in progress failed: {}\n{}",
        stderr_of(&out),
        bb.log()
    );
    let receipt = Receipted::from_output(&out, &file);
    assert_eq!(receipt.size, SIZE as u64);
    let stored = std::fs::read(campus.data().join("files").join(&receipt.id)).expect("stored");
    assert_eq!(
        sha256_hex(&stored),
        receipt.sha256,
        "the stored bytes are the receipt's"
    );
    assert_eq!(
        receipt.sha256,
        sha256_hex(&std::fs::read(&file).expect("original")),
        "the receipt's hash is the original's"
    );
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");

    // Once the first server is gone, the directory is free again.
    let bb = campus.start_blackboard();
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
    assert!(cuhk.stop(), "cuhk exits 0 on SIGTERM");
}

#[test]
fn a_second_blackboard_is_refused_and_the_first_ones_upload_gets_its_receipt_mio() {
    a_second_blackboard_is_refused_and_the_first_ones_upload_gets_its_receipt("mio");
}

#[test]
fn a_second_blackboard_is_refused_and_the_first_ones_upload_gets_its_receipt_smol() {
    a_second_blackboard_is_refused_and_the_first_ones_upload_gets_its_receipt("smol");
}

fn a_second_cuhk_is_refused_and_the_first_keeps_serving(transport: &str) {
    let campus = Campus::with_transports(transport, transport);
    let cuhk = campus.start_cuhk();

    let mut c = cmd("cuhk");
    c.args(["serve", "--dir"]).arg(campus.pki()).args([
        "--listen",
        "127.0.0.1:0",
        "--transport",
        transport,
    ]);
    let out = second_server(c);
    assert_refused_naming(&out, "cuhk", &campus.pki(), cuhk.pid());

    // The operator's commands work alongside the server, and it goes on enrolling.
    campus.enroll(&cuhk, ALICE);
    let mut revoke = cmd("cuhk");
    revoke
        .args(["revoke", "--dir"])
        .arg(campus.pki())
        .args(["--student", ALICE]);
    let printed = ok(revoke);
    assert!(printed.contains("revoked 1 certificate(s)"), "{printed}");
    campus.enroll(&cuhk, BOB);
    assert!(cuhk.stop(), "cuhk exits 0 on SIGTERM");

    let cuhk = campus.start_cuhk();
    assert!(cuhk.stop(), "cuhk exits 0 on SIGTERM");
}

#[test]
fn a_second_cuhk_is_refused_and_the_first_keeps_serving_mio() {
    a_second_cuhk_is_refused_and_the_first_keeps_serving("mio");
}

#[test]
fn a_second_cuhk_is_refused_and_the_first_keeps_serving_smol() {
    a_second_cuhk_is_refused_and_the_first_keeps_serving("smol");
}
