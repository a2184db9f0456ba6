//! The whole scenario with the real binaries on loopback.

use handin_tests::*;
use std::path::Path;

#[test]
fn the_whole_scenario_runs_on_real_sockets_and_the_bytes_come_back_equal() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let file = campus.path("report.pdf");
    write_pattern(&file, 300_000, 7);
    let receipt = campus.submit(&bb, ALICE, &file, "hw1");
    let id = receipt["id"].as_str().expect("id").to_owned();
    assert_eq!(receipt["size"], 300_000);
    assert_eq!(receipt["late"], false);

    // The receipt verifies with Blackboard's certificate, independently of the session.
    let verify = campus.verify_receipt(
        ALICE,
        Path::new(receipt["receipt"].as_str().expect("receipt path")),
        &campus.path("bb.crt"),
    );
    assert!(ok(verify).contains("valid receipt"));

    let listed = campus.list(&bb, ALICE);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["sha256"], receipt["sha256"]);

    let back = campus.path("back.pdf");
    let out = campus.fetch(&bb, ALICE, &id, &back);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&back).expect("fetched"),
        std::fs::read(&file).expect("original")
    );
    // The bytes Blackboard stored are the original's.
    let stored = campus.data().join("files").join(&id);
    assert_eq!(
        std::fs::read(stored).expect("stored file"),
        std::fs::read(&file).expect("original")
    );

    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
    assert!(cuhk.stop(), "cuhk exits 0 on SIGTERM");
}

#[test]
fn a_tampered_receipt_is_reported_invalid() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let file = campus.path("a.txt");
    std::fs::write(&file, b"answer: 42").expect("write");
    let receipt = campus.submit(&bb, ALICE, &file, "hw1");
    let path = receipt["receipt"].as_str().expect("path").to_owned();
    // Another Blackboard certificate does not verify it.
    let mut issue = campus.cuhk(&["issue-server"]);
    issue
        .args(["--name", "Impostor", "--san", "localhost", "--out-cert"])
        .arg(campus.path("other.crt"))
        .arg("--out-key")
        .arg(campus.path("other.key"));
    ok(issue);
    let verify = campus.verify_receipt(ALICE, Path::new(&path), &campus.path("other.crt"));
    assert!(fails(verify).contains("NOT valid"));
}

#[test]
fn a_second_student_cannot_list_or_fetch_the_first_ones_work() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    campus.enroll(&cuhk, BOB);
    let file = campus.path("alice.txt");
    std::fs::write(&file, b"alice's answers").expect("write");
    let receipt = campus.submit(&bb, ALICE, &file, "hw1");
    let id = receipt["id"].as_str().expect("id");
    assert!(campus.list(&bb, BOB).is_empty());
    let out = campus.fetch(&bb, BOB, id, &campus.path("stolen.txt"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no submission"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!campus.path("stolen.txt").exists());
}

#[test]
fn enroll_asks_for_the_id_until_it_is_ten_digits() {
    use std::io::Write;
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let code = campus.roster_add(ALICE);
    let mut c = campus.student(
        ALICE,
        &["enroll", "--code", &code, "--cuhk", &cuhk.addr, "--ca"],
    );
    c.arg(campus.pki().join("ca.crt"));
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("student starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("12345\nabcdefghij\n{ALICE}\n").as_bytes())
        .expect("typing");
    let out = child.wait_with_output().expect("student ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("Student ID (10 digits):").count(),
        3,
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("CN=1155000001"));
}

#[test]
fn the_private_key_is_written_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    for key in [
        campus.profile(ALICE).join("key.pem"),
        campus.pki().join("ca.key"),
        campus.pki().join("cuhk.key"),
        campus.path("bb.key"),
    ] {
        let mode = std::fs::metadata(&key)
            .expect("key exists")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
}

#[test]
fn failures_exit_non_zero_with_one_clear_line() {
    let campus = Campus::new();
    // Nothing listens here.
    let mut c = campus.student(ALICE, &["list", "--blackboard", "127.0.0.1:1"]);
    c.arg("--json");
    let err = fails(c);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("run `student enroll` first") || err.contains("cannot reach"),
        "{err}"
    );
    let mut bad_id = campus.student(
        ALICE,
        &[
            "enroll",
            "--id",
            "12ab",
            "--code",
            "x",
            "--ca",
            "/nonexistent",
        ],
    );
    bad_id.arg("--cuhk").arg("127.0.0.1:1");
    let err = fails(bad_id);
    assert!(err.contains("10 digits"), "{err}");
}

#[test]
fn the_demo_script_runs_the_whole_scenario_and_exits_zero() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/demo.sh"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the demo starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It says what it is doing before the (possibly long) build.
    assert!(
        stdout.starts_with("Building cuhk, blackboard, student and staff"),
        "{stdout}"
    );
    assert!(stdout.contains("\nBuilt in "), "{stdout}");
    assert!(
        stdout.contains("the fetched bytes are identical to the original"),
        "{stdout}"
    );
    assert!(stdout.contains("both servers exited 0"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("The whole scenario ran."),
        "{stdout}"
    );
}

#[test]
fn sslkeylogfile_records_the_session_secrets_for_decrypting_a_capture() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let keys = campus.path("keys.log");
    let mut c = campus.student(ALICE, &["list", "--blackboard", &bb.addr]);
    c.env("SSLKEYLOGFILE", &keys);
    ok(c);
    let log = std::fs::read_to_string(&keys).expect("the key log was written");
    assert!(log.contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET"), "{log}");
    assert!(log.contains("CLIENT_TRAFFIC_SECRET_0"), "{log}");
    // Without the variable, nothing is written.
    std::fs::remove_file(&keys).expect("remove");
    ok(campus.student(ALICE, &["list", "--blackboard", &bb.addr]));
    assert!(!keys.exists());
}
