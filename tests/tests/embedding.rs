//! The embedding example (a submission client over blocking std::net sockets) builds and
//! submits to a real Blackboard.

use handin_tests::*;
use std::process::Command;

#[test]
fn the_blocking_socket_example_submits_and_gets_a_verified_receipt() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "handin-examples"])
        .current_dir(&root)
        .status()
        .expect("cargo build runs");
    assert!(status.success(), "the example builds");

    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    let id = "1155000001";
    campus.enroll(&cuhk, id);
    let file = campus.path("essay.txt");
    write_pattern(&file, 150_000, 3);
    let profile = campus.profile(id);
    let mut c = Command::new(bin_dir().join("blocking-client"));
    c.arg(campus.pki().join("ca.crt"))
        .arg(profile.join("cert.pem"))
        .arg(profile.join("key.pem"))
        .arg(&bb.addr)
        .arg(&file)
        .args(["CSCI3180", "hw1"]);
    let out = ok(c);
    assert!(out.starts_with("receipt S"), "{out}");
    assert!(out.contains("for 150000 bytes"), "{out}");
    let listed = campus.list(&bb, id);
    assert_eq!(listed.len(), 1);
    assert!(out.contains(listed[0]["id"].as_str().expect("id")), "{out}");
    assert!(
        out.contains(listed[0]["sha256"].as_str().expect("sha")),
        "{out}"
    );
}
