//! Sizes, durations and times as the role binaries read them from the command line: `KB`/`MB`/`GB`
//! are powers of 1000 and `KiB`/`MiB`/`GiB` powers of 1024, durations take several units, due
//! times keep their offset, and a bad value is one line saying what is accepted.

use handin_core::pki::{certificate_info, from_pem_or_der};
use handin_core::rustls::pki_types::CertificateDer;
use handin_tests::*;

/// `blackboard assignment add` for CSCI3180/`assignment` with `args` after the names.
fn add(campus: &Campus, assignment: &str, args: &[&str]) -> std::process::Command {
    let mut c = cmd("blackboard");
    c.args(["assignment", "add", "--data"])
        .arg(campus.data())
        .args(["CSCI3180", assignment])
        .args(args);
    c
}

/// The limit `assignment list` shows for CSCI3180/`assignment`.
fn listed_limit(campus: &Campus, assignment: &str) -> String {
    let mut list = cmd("blackboard");
    list.args(["assignment", "list", "--data"])
        .arg(campus.data());
    let out = ok(list);
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("CSCI3180/{assignment}\t")))
        .unwrap_or_else(|| panic!("{assignment} is listed: {out}"));
    // course/assignment, due, size limit, cut-off, open or closed
    line.split('\t').nth(2).unwrap_or_default().to_owned()
}

#[test]
fn max_size_units_are_decimal_or_binary_as_written() {
    let campus = Campus::new();
    for (spelling, bytes) in [
        ("10MB", 10_000_000u64),
        ("10MiB", 10 << 20),
        ("512KiB", 512 << 10),
        ("100KB", 100_000),
        ("1G", 1_000_000_000),
        ("1.5GiB", 3 << 29),
        ("1000", 1000),
    ] {
        let out = ok(add(
            &campus,
            "hw2",
            &["--due", "2099-01-01T00:00:00Z", "--max-size", spelling],
        ));
        // Shown in binary units, and exactly.
        let shown = handin_core::units::size_exact(bytes);
        assert!(
            out.contains(&format!("at most {shown}")),
            "{spelling}: {out}"
        );
        assert_eq!(
            listed_limit(&campus, "hw2"),
            format!("max {shown}"),
            "{spelling}"
        );
    }
    // The default is 100 MiB, as it was before MB meant 10^6.
    ok(add(&campus, "hw3", &["--due", "2099-01-01T00:00:00Z"]));
    assert_eq!(
        listed_limit(&campus, "hw3"),
        "max 100 MiB (104,857,600 bytes)"
    );
}

#[test]
fn a_bad_size_is_refused_in_one_line_that_names_the_units() {
    let campus = Campus::new();
    for bad in ["lots", "10XB", "1.2.3MB"] {
        let err = fails(add(
            &campus,
            "hw2",
            &["--due", "2099-01-01T00:00:00Z", "--max-size", bad],
        ));
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(&format!("{bad:?} is not a size"))
                && err.contains("KB, MB, GB")
                && err.contains("KiB, MiB, GiB"),
            "{err}"
        );
    }
}

#[test]
fn a_due_time_with_an_offset_is_kept_and_shown_in_utc() {
    let campus = Campus::new();
    let out = ok(add(
        &campus,
        "hw2",
        &["--due", "2026-12-01T23:59:00+08:00", "--max-size", "20MB"],
    ));
    assert!(out.contains("due 2026-12-01T15:59:00Z"), "{out}");
    let err = fails(add(&campus, "hw4", &["--due", "next friday"]));
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("is not an RFC 3339 time"), "{err}");
}

#[test]
fn a_certificate_lifetime_may_combine_units() {
    let campus = Campus::new();
    let mut serve = cmd("cuhk");
    serve.args(["serve", "--dir"]).arg(campus.pki()).args([
        "--listen",
        "127.0.0.1:0",
        "--cert-lifetime",
        "1h 30m",
    ]);
    let cuhk = Server::start(serve, "cuhk");
    campus.enroll(&cuhk, ALICE);
    let pem = std::fs::read(campus.profile(ALICE).join("cert.pem")).expect("the profile's cert");
    let leaf = CertificateDer::from(from_pem_or_der(&pem, "CERTIFICATE").expect("PEM").remove(0));
    let info = certificate_info(&leaf).expect("the certificate parses");
    // CUHK starts validity a minute early, for clock skew.
    let valid = info
        .not_after
        .duration_since(info.not_before)
        .expect("not_after follows not_before");
    assert_eq!(valid.as_secs(), 90 * 60 + 60);
    assert!(cuhk.stop());

    let mut bad = cmd("cuhk");
    bad.args(["serve", "--dir"]).arg(campus.pki()).args([
        "--listen",
        "127.0.0.1:0",
        "--cert-lifetime",
        "90",
    ]);
    let err = fails(bad);
    assert!(
        err.contains("is not a duration such as 120d, 12h, 30m or 90s"),
        "{err}"
    );
}
