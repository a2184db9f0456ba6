//! The README's "By hand" section, run verbatim: its `sh` blocks, in order, in one shell, in an
//! empty directory, with the built binaries on `PATH` (as the install step puts them) and a
//! home directory of its own. Between blocks (one person's turn and the next) it waits until
//! the servers the first block started accept connections, as a person would.
//!
//! The section uses the servers' default ports (9335, 3141): if either is taken on this
//! machine, the test says so and checks nothing.

use handin_tests::*;
use std::net::TcpListener;
use std::process::{Command, Stdio};

/// The `sh` code blocks of the README section headed `heading`.
fn blocks_of(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("the README has a section {heading:?}"));
    let section = &readme[start + heading.len() + 5..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("```").expect("a closed code block");
        blocks.push(body[..close].to_owned());
        rest = &body[close + 3..];
    }
    blocks
}

#[test]
fn the_readmes_by_hand_section_runs_verbatim() {
    let ports_free = ["127.0.0.1:9335", "127.0.0.1:3141"]
        .iter()
        .all(|a| TcpListener::bind(a).is_ok());
    if !ports_free {
        eprintln!("skipped: port 9335 or 3141 is in use on this machine");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let blocks = blocks_of(&readme, "By hand");
    assert!(blocks.len() >= 4, "{blocks:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path().join("work");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&work).expect("work");
    std::fs::create_dir_all(&home).expect("home");
    let mut script = String::from(
        "set -euo pipefail\n\
         trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n\
         serving() {\n\
           for port in 9335 3141; do\n\
             for _ in $(seq 1 300); do\n\
               (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break\n\
               sleep 0.1\n\
             done\n\
           done\n\
         }\n",
    );
    for block in &blocks {
        script.push_str(block);
        script.push_str("serving\n");
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin_dir()];
    paths.extend(std::env::split_paths(&path));
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&work)
        .env("PATH", std::env::join_paths(paths).expect("PATH"))
        .env("HOME", &home)
        .env_remove("HANDIN_HOME")
        .env_remove("HANDIN_CUHK")
        .env_remove("HANDIN_BLACKBOARD")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let stdout = stdout_of(&out);
    assert!(
        out.status.success(),
        "the By hand section failed ({}):\n{script}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        stderr_of(&out)
    );
    assert!(stdout.contains("valid receipt: 1155000001"), "{stdout}");
    assert!(stdout.contains("fetched report.pdf"), "{stdout}");
    assert!(stdout.contains("committed to report.pdf"), "{stdout}");
    assert!(stdout.contains("audit passed"), "{stdout}");
    assert_eq!(
        std::fs::read(work.join("report-back.pdf")).expect("fetched"),
        b"my report\n"
    );
    assert!(home.join(".handin/config").exists());
    assert!(work.join("teacher/cert.pem").exists());
    assert_eq!(
        std::fs::read(work.join("feedback.pdf")).expect("feedback"),
        b"marked\n"
    );
}
