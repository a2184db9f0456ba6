//! The core stays sans-IO: no runtime or socket crates among its dependencies, and no sockets,
//! files, threads or clock reads in its source.

use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("core/src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source is UTF-8");
            out.push((path.display().to_string(), text));
        }
    }
}

#[test]
fn the_core_source_opens_no_sockets_files_or_threads_and_reads_no_clock() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 10, "found only {} source files", files.len());
    let forbidden = [
        "std::net",
        "std::fs",
        "std::thread",
        "Instant::now",
        "SystemTime::now",
        "std::process",
        "std::env",
    ];
    // The one exception: the in-crate tests take the origin of their virtual monotonic clock
    // there (an `Instant` cannot be made otherwise; only distances from it matter). Their wall
    // clock is a fixed date, never read.
    let origin = Path::new("src").join("tests").join("mod.rs");
    for (path, text) in &files {
        for word in forbidden {
            if word == "Instant::now" && Path::new(path).ends_with(&origin) {
                assert_eq!(
                    text.matches(word).count(),
                    1,
                    "{path} reads the clock twice"
                );
                continue;
            }
            assert!(!text.contains(word), "{path} mentions {word}");
        }
    }
}

#[test]
fn the_core_depends_on_no_runtime_or_socket_crate() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("core/Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table")
        .split("\n[")
        .next()
        .unwrap_or_default();
    for name in [
        "mio",
        "smol",
        "async-io",
        "tokio",
        "async-std",
        "socket2",
        "rusqlite",
    ] {
        assert!(
            !deps.lines().any(|l| l.trim_start().starts_with(name)),
            "core depends on {name}"
        );
    }
}

#[test]
fn the_workspace_compiles_in_one_crypto_provider_only() {
    // With two rustls providers compiled in and none chosen, rustls's config builders panic.
    // handin uses aws-lc-rs everywhere (rustls, rcgen, x509-parser) and passes it explicitly.
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "handin-core",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let has = |name: &str| tree.lines().any(|l| l.starts_with(&format!("{name} v")));
    assert!(has("aws-lc-rs"), "{tree}");
    assert!(
        !has("ring"),
        "a dependency pulls in ring: pick its aws-lc-rs feature instead"
    );
}

#[test]
fn configs_build_without_a_process_wide_default_provider() {
    use handin_core::harness::{t0, Campus};
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    let campus = Campus::new(handin_core::Now::new(std::time::Instant::now(), t0()));
    let _ = campus.client_config(handin_core::Role::Enroll, None);
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
}
