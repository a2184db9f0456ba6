//! How an audit tells a log that cannot back its signed checkpoint (an alarm) from one it could
//! not read (try again): in-memory logs whose fetch fails in each way, and the statements a
//! profile receives once it pinned Blackboard's log key.

use super::tests::TestLog;
use super::*;
use crate::session::{Profile, StudentError};
use crate::ErrorKind;
use handin_core::logs::LogProof;

/// A reader of `log` whose fetch of any path starting with `prefix` fails with `error()`.
fn failing<'a>(
    log: &'a TestLog,
    prefix: &'a str,
    error: impl Fn() -> StudentError + 'a,
) -> LogReader<'a> {
    LogReader::new("Blackboard", move |path: &str| {
        if path.starts_with(prefix) {
            Err(error())
        } else {
            log.serve(path)
        }
    })
}

/// The ways a fetch fails that say nothing about the log: the connection, a refusal other than
/// not found (the store, an internal error).
fn read_failures() -> [(ErrorKind, fn() -> StudentError); 2] {
    [
        (ErrorKind::Unreachable, || {
            StudentError::unreachable("the connection to Blackboard broke off")
        }),
        (ErrorKind::Refused, || {
            StudentError::refused("Blackboard refused to serve it: storage unavailable")
        }),
    ]
}

/// A log grown from 300 to 600 entries, the checkpoint at 300, and a receipt (entry 123).
fn grown() -> (TestLog, Head, LogProof) {
    let mut log = TestLog::of(300);
    let old = log.head();
    let receipt = log.proof(123);
    for i in 300..600 {
        log.append(format!("entry {i}").into_bytes());
    }
    (log, old, receipt)
}

#[test]
fn a_log_that_cannot_be_read_is_no_alarm() {
    let (log, old, receipt) = grown();
    let pinned = log.pinned();
    let head = log.head();
    for (kind, error) in read_failures() {
        // The tiles of the consistency proof from the saved checkpoint.
        let r = check_head(
            &failing(&log, "tile/", error),
            Log::Blackboard,
            Some(&pinned),
            Some(&old),
        );
        assert_eq!(r.expect_err("no tiles").kind(), kind);
        // The statement's bundle, then the tiles of its inclusion proof.
        for prefix in ["tile/entries/", "tile/0/", "tile/1/"] {
            let r = check_statement(
                &failing(&log, prefix, error),
                &pinned,
                &head,
                b"entry 123",
                &pinned.vkey,
                &receipt,
            );
            let e = r.expect_err(prefix);
            assert_eq!(e.kind(), kind, "{prefix}: {e}");
        }
        // Someone else's checkpoint, earlier and later.
        for (now, other) in [(&head, &old), (&old, &head)] {
            let r = compare_checkpoint(&failing(&log, "tile/", error), now, other);
            assert_eq!(r.expect_err("no tiles").kind(), kind);
        }
    }
}

#[test]
fn a_covered_object_the_log_does_not_hold_is_an_alarm() {
    let (log, old, receipt) = grown();
    let pinned = log.pinned();
    let head = log.head();
    let missing = || StudentError::missing("tile not found");
    let r = check_head(
        &failing(&log, "tile/", missing),
        Log::Blackboard,
        Some(&pinned),
        Some(&old),
    );
    let e = r.expect_err("no tiles");
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(
        e.message().contains("cannot back its signed checkpoint"),
        "{e}"
    );
    for prefix in ["tile/entries/000", "tile/0/000", "tile/1/"] {
        let r = check_statement(
            &failing(&log, prefix, missing),
            &pinned,
            &head,
            b"entry 123",
            &pinned.vkey,
            &receipt,
        );
        let e = r.expect_err(prefix);
        assert_eq!(e.kind(), ErrorKind::Auth, "{prefix}: {e}");
        assert!(
            e.message().contains("cannot back its signed checkpoint"),
            "{e}"
        );
    }
    // A replay (a monitor's, or CUHK's for certificates) too.
    let e = failing(&log, "tile/entries/001", missing)
        .replay(&head, |_, _| {})
        .expect_err("no bundle");
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    // The checkpoint itself is not covered by one: a refusal.
    let r = check_head(
        &failing(&log, "checkpoint", missing),
        Log::Blackboard,
        Some(&pinned),
        None,
    );
    assert_eq!(r.expect_err("no checkpoint").kind(), ErrorKind::Refused);
}

#[test]
fn a_newer_checkpoint_is_checked_once_the_log_serves_its_tiles() {
    let (log, old, _) = grown();
    // The log grew since: it serves the tiles at the newer size.
    assert_eq!(
        compare_checkpoint(&log.reader(), &old, &log.head()).expect("provable"),
        Compared::NewerConsistent
    );
    // A log still at 300 serves no tiles at 600 yet.
    let behind = TestLog::of(300);
    assert_eq!(
        compare_checkpoint(&behind.reader(), &behind.head(), &log.head()).expect("not yet"),
        Compared::Newer
    );
    // A later checkpoint of another history: a split view, proven from its own tiles.
    let fork = {
        let mut f = TestLog::new();
        for i in 0..600 {
            f.append(if i == 100 {
                b"rewritten".to_vec()
            } else {
                format!("entry {i}").into_bytes()
            });
        }
        f
    };
    let e = compare_checkpoint(&fork.reader(), &old, &fork.head()).expect_err("split");
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.message().contains("SPLIT VIEW"), "{e}");
}

#[test]
fn once_the_key_is_pinned_a_statement_outside_its_log_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = Profile::locate(Some(dir.path().to_path_buf()));
    let log = TestLog::new();
    let other = TestLog::with_key(&[9; 32]);
    // Before any pin: a statement naming no log is of before the logs; the first key is pinned.
    observe_blackboard_vkey(&profile, "").expect("nothing pinned");
    assert!(pinned_vkey(&profile, Log::Blackboard)
        .expect("read")
        .is_none());
    observe_blackboard_vkey(&profile, &log.pinned().vkey).expect("pins");
    let pinned = pinned_vkey(&profile, Log::Blackboard).expect("read");
    assert_eq!(pinned.expect("pinned").vkey, log.pinned().vkey);
    observe_blackboard_vkey(&profile, &log.pinned().vkey).expect("the pinned key");
    // After: none, or another key, is refused, and the pin stays.
    for vkey in [String::new(), other.pinned().vkey] {
        let e = observe_blackboard_vkey(&profile, &vkey).expect_err("outside the log");
        assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
        assert!(e.message().contains(&log.pinned().vkey), "{e}");
    }
    let pinned = pinned_vkey(&profile, Log::Blackboard).expect("read");
    assert_eq!(pinned.expect("pinned").vkey, log.pinned().vkey);
}
