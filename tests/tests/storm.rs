//! A small storm as a correctness test: 500 pre-enrolled students connect to the real
//! `blackboard` binary at once and each submits a file of its own (16 to 100 KiB), on both
//! transports. Every submission must succeed, every receipt must verify against Blackboard's
//! certificate and describe what was sent, and every stored file must equal what was sent.
//! Nothing here is timed: the load generator's storm is reused for its checks.

use handin_perf::loadgen::storm;
use handin_tests::bin_dir;
use std::sync::Mutex;

const STUDENTS: usize = 500;

/// One storm at a time: two at once would only slow each other down.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn storm(transport: &str) {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut opts = storm::Opts::new(transport, STUDENTS, 16 * 1024);
    opts.size_max = 100 * 1024;
    opts.bins = Some(bin_dir());
    let v = storm::run(&opts).unwrap_or_else(|e| panic!("the {transport} storm did not run: {e}"));
    eprintln!("{v}");
    let n = STUDENTS as u64;
    assert_eq!(v["failures"], 0, "submissions failed: {v}");
    assert_eq!(v["succeeded"], n, "{v}");
    assert_eq!(
        v["receipts_verified"], n,
        "receipts that did not verify: {v}"
    );
    assert_eq!(v["files_matched"], n, "stored files that differ: {v}");
    assert_eq!(v["verification_errors"], 0, "{v}");
    assert_eq!(v["verified"], true, "{v}");
}

#[test]
fn five_hundred_students_submit_at_once_to_the_mio_server() {
    storm("mio");
}

#[test]
fn five_hundred_students_submit_at_once_to_the_smol_server() {
    storm("smol");
}
