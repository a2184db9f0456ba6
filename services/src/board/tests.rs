//! The submission store's tests: durability order, refusals, restarts; batches in
//! [`batches`].

mod batches;
mod logs;
use super::*;
use crate::store::blobs::is_submission_id;
use handin_core::harness::t0;
use handin_core::pki::unix_secs;
use handin_core::submit::sha256;
use rusqlite::Connection;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::path::Path;
use std::time::Duration;
use tempfile::TempDir;

const MAX: u64 = 1 << 20;

fn sid(s: &str) -> StudentId {
    StudentId::parse(s).unwrap()
}

fn alice() -> StudentId {
    sid("1155000001")
}

fn bob() -> StudentId {
    sid("1155000002")
}

fn due() -> SystemTime {
    t0() + Duration::from_secs(7 * 24 * 3600)
}

/// A store with CSCI3180/hw1 and CSCI3150/lab1, both due a week after t0.
fn store() -> (TempDir, Board) {
    let dir = tempfile::tempdir().unwrap();
    Board::init(dir.path()).unwrap();
    let board = Board::open(dir.path()).unwrap();
    board.add_assignment("CSCI3180", "hw1", due(), MAX).unwrap();
    board
        .add_assignment("CSCI3150", "lab1", due(), MAX)
        .unwrap();
    (dir, board)
}

fn offer(course: &str, assignment: &str, name: &str, bytes: &[u8]) -> UploadOffer {
    UploadOffer {
        course: course.into(),
        assignment: assignment.into(),
        file_name: name.into(),
        size: bytes.len() as u64,
        sha256: sha256(bytes),
    }
}

fn submit(
    board: &Board,
    student: &StudentId,
    offer: &UploadOffer,
    bytes: &[u8],
    at: SystemTime,
) -> Result<StoredSubmission, BoardError> {
    let mut up = board.begin_upload()?;
    for chunk in bytes.chunks(7) {
        up.write(chunk).map_err(io_refusal)?;
    }
    board.commit(up, student, offer, at)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn refusal<T: fmt::Debug>(r: Result<T, BoardError>) -> Refusal {
    match r {
        Err(BoardError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Nothing in tmp/ or files/, and no record.
fn assert_nothing_stored(dir: &TempDir, board: &Board) {
    assert_eq!(names_in(&dir.path().join("tmp")), Vec::<String>::new());
    assert_eq!(names_in(&dir.path().join("files")), Vec::<String>::new());
    assert!(board.all().unwrap().is_empty());
}

/// Every record's file exists with the recorded size and SHA-256, and every file has a
/// record.
fn assert_consistent(dir: &Path, board: &Board) {
    let all = board.all().unwrap();
    for e in &all {
        let bytes = fs::read(dir.join("files").join(&e.id)).unwrap();
        assert_eq!(bytes.len() as u64, e.size, "{}", e.id);
        assert_eq!(sha256(&bytes), e.sha256, "{}", e.id);
    }
    let mut ids: Vec<String> = all.into_iter().map(|e| e.id).collect();
    ids.sort();
    assert_eq!(names_in(&dir.join("files")), ids);
}

#[test]
fn a_submission_round_trips() {
    let (dir, board) = store();
    let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let o = offer("CSCI3180", "hw1", "report.pdf", &bytes);
    let mut up = board.begin_upload().unwrap();
    up.write(&bytes[..10]).unwrap();
    up.write(&[]).unwrap();
    up.write(&bytes[10..999]).unwrap();
    up.write(&bytes[999..]).unwrap();
    assert_eq!(up.written(), 1000);
    let at = t0() + Duration::from_millis(1500);
    let entry = board.commit(up, &alice(), &o, at).unwrap();

    assert!(is_submission_id(&entry.id), "{}", entry.id);
    assert_eq!(entry.student.as_str(), "1155000001");
    assert_eq!(
        (entry.course.as_str(), entry.assignment.as_str()),
        ("CSCI3180", "hw1")
    );
    assert_eq!(entry.file_name, "report.pdf");
    assert_eq!(entry.size, 1000);
    assert_eq!(entry.sha256, sha256(&bytes));
    assert_eq!(unix_secs(entry.received_at), unix_secs(t0()) + 1);
    assert!(!entry.late);
    assert_eq!(entry.version, 1);

    assert_eq!(board.list(&alice(), None).unwrap(), vec![entry.clone()]);
    assert_eq!(board.all().unwrap(), vec![entry.clone()]);
    let found = board.find(&alice(), &entry.id).unwrap().unwrap();
    let path = board.blobs().path(&found.id);
    assert_eq!(found, entry);
    assert_eq!(path, dir.path().join("files").join(&entry.id));
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert!(names_in(&dir.path().join("tmp")).is_empty());
    assert_consistent(dir.path(), &board);
}

#[test]
fn a_size_mismatch_is_refused_and_leaves_nothing() {
    let (dir, board) = store();
    let bytes = b"hello, world".to_vec();
    let mut o = offer("CSCI3180", "hw1", "a.txt", &bytes);
    o.size += 1;
    let r = refusal(submit(&board, &alice(), &o, &bytes, t0()));
    assert_eq!(r.code, RefusalCode::SizeMismatch);
    assert!(r.reason.contains("12") && r.reason.contains("13"), "{r:?}");
    assert_nothing_stored(&dir, &board);
}

#[test]
fn a_hash_mismatch_is_refused_and_leaves_nothing() {
    let (dir, board) = store();
    let bytes = b"hello, world".to_vec();
    let o = offer("CSCI3180", "hw1", "a.txt", b"hello, World");
    let r = refusal(submit(&board, &alice(), &o, &bytes, t0()));
    assert_eq!(r.code, RefusalCode::HashMismatch);
    assert_nothing_stored(&dir, &board);
}

#[test]
fn other_refusals_leave_nothing() {
    let (dir, board) = store();
    let bytes = vec![7u8; 100];
    let o = offer("CSCI9999", "hw1", "a.txt", &bytes);
    let r = refusal(submit(&board, &alice(), &o, &bytes, t0()));
    assert_eq!(r.code, RefusalCode::NoSuchAssignment);
    assert!(r.reason.contains("CSCI9999"), "{r:?}");
    let o = offer("CSCI3180", "hw9", "a.txt", &bytes);
    let r = refusal(submit(&board, &alice(), &o, &bytes, t0()));
    assert_eq!(r.code, RefusalCode::NoSuchAssignment);
    let o = offer("CSCI3180", "hw1", "../a.txt", &bytes);
    let r = refusal(submit(&board, &alice(), &o, &bytes, t0()));
    assert_eq!(r.code, RefusalCode::BadFileName);
    board.add_assignment("CSCI3180", "hw1", due(), 99).unwrap();
    let o = offer("CSCI3180", "hw1", "a.txt", &bytes);
    let r = refusal(submit(&board, &alice(), &o, &bytes, t0()));
    assert_eq!(r.code, RefusalCode::TooLarge);
    assert_nothing_stored(&dir, &board);
}

#[test]
fn a_resubmission_is_a_new_version_and_nothing_is_overwritten() {
    let (dir, board) = store();
    let o1 = offer("CSCI3180", "hw1", "a.txt", b"first");
    let o2 = offer("CSCI3180", "hw1", "a.txt", b"second");
    let e1 = submit(&board, &alice(), &o1, b"first", t0()).unwrap();
    let e2 = submit(&board, &alice(), &o2, b"second", t0()).unwrap();
    assert_eq!((e1.version, e2.version), (1, 2));
    assert_ne!(e1.id, e2.id);
    // Another file name, another assignment, another student: each starts at 1.
    let o3 = offer("CSCI3180", "hw1", "b.txt", b"first");
    let o4 = offer("CSCI3150", "lab1", "a.txt", b"first");
    assert_eq!(
        submit(&board, &alice(), &o3, b"first", t0())
            .unwrap()
            .version,
        1
    );
    assert_eq!(
        submit(&board, &alice(), &o4, b"first", t0())
            .unwrap()
            .version,
        1
    );
    assert_eq!(
        submit(&board, &bob(), &o1, b"first", t0()).unwrap().version,
        1
    );
    assert_eq!(
        submit(&board, &alice(), &o1, b"first", t0())
            .unwrap()
            .version,
        3
    );

    let list = board.list(&alice(), Some("CSCI3180")).unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[..2], [e1.clone(), e2.clone()]);
    let p1 = board
        .blobs()
        .path(&board.find(&alice(), &e1.id).unwrap().unwrap().id);
    let p2 = board
        .blobs()
        .path(&board.find(&alice(), &e2.id).unwrap().unwrap().id);
    assert_eq!(fs::read(p1).unwrap(), b"first");
    assert_eq!(fs::read(p2).unwrap(), b"second");
    assert_consistent(dir.path(), &board);
}

#[test]
fn a_submission_after_the_due_second_is_late() {
    let (_dir, board) = store();
    let o = offer("CSCI3180", "hw1", "a.txt", b"x");
    let on_time = submit(&board, &alice(), &o, b"x", due()).unwrap();
    assert!(!on_time.late);
    let late = submit(&board, &alice(), &o, b"x", due() + Duration::from_secs(1)).unwrap();
    assert!(late.late);
    // Moving the due date later changes later submissions, not the records.
    board
        .add_assignment("CSCI3180", "hw1", due() + Duration::from_secs(60), MAX)
        .unwrap();
    let again = submit(&board, &alice(), &o, b"x", due() + Duration::from_secs(2)).unwrap();
    assert!(!again.late);
    assert!(board.list(&alice(), None).unwrap()[1].late);
}

#[test]
fn a_student_never_sees_another_students_work() {
    let (_dir, board) = store();
    let o = offer("CSCI3180", "hw1", "a.txt", b"alice's work");
    let e = submit(&board, &alice(), &o, b"alice's work", t0()).unwrap();
    assert!(board.find(&bob(), &e.id).unwrap().is_none());
    assert!(board.list(&bob(), None).unwrap().is_empty());
    assert!(board.list(&bob(), Some("CSCI3180")).unwrap().is_empty());
    assert!(board.find(&alice(), &e.id).unwrap().is_some());
    for bad in [
        "",
        "S",
        "../blackboard.db",
        "SAAAAAAAAAAAAAAAAAAAA",
        &e.id.to_lowercase(),
    ] {
        assert!(board.find(&alice(), bad).unwrap().is_none(), "{bad:?}");
    }
}

#[test]
fn list_filters_by_course_oldest_first() {
    let (_dir, board) = store();
    let a = offer("CSCI3180", "hw1", "a.txt", b"a");
    let b = offer("CSCI3150", "lab1", "b.txt", b"b");
    // Recorded order wins even if the clock went backwards.
    let e1 = submit(&board, &alice(), &a, b"a", t0() + Duration::from_secs(10)).unwrap();
    let e2 = submit(&board, &alice(), &b, b"b", t0()).unwrap();
    let e3 = submit(&board, &alice(), &a, b"a", t0() + Duration::from_secs(20)).unwrap();
    submit(&board, &bob(), &a, b"a", t0()).unwrap();
    assert_eq!(
        board.list(&alice(), Some("CSCI3180")).unwrap(),
        vec![e1.clone(), e3.clone()]
    );
    assert_eq!(
        board.list(&alice(), Some("CSCI3150")).unwrap(),
        vec![e2.clone()]
    );
    assert_eq!(board.list(&alice(), None).unwrap(), vec![e1, e2, e3]);
    assert!(board.list(&alice(), Some("CSCI1000")).unwrap().is_empty());
    assert_eq!(board.all().unwrap().len(), 4);
}

#[test]
fn leftover_uploads_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    Board::init(dir.path()).unwrap();
    let board = Board::open(dir.path()).unwrap();
    assert_eq!(board.leftovers_removed(), 0);
    let mut up = board.begin_upload().unwrap();
    up.write(b"half a file").unwrap();
    // A crash: the upload is never dropped.
    std::mem::forget(up);
    fs::write(dir.path().join("tmp").join("stray"), b"x").unwrap();
    fs::create_dir(dir.path().join("tmp").join("stray-dir")).unwrap();
    assert_eq!(names_in(&dir.path().join("tmp")).len(), 3);
    drop(board);
    let board = Board::open(dir.path()).unwrap();
    // Files go; a folder is left alone (in a shared blob directory it is another node's
    // `tmp/<node>/`, and no upload makes one).
    assert_eq!(board.leftovers_removed(), 2);
    assert_eq!(names_in(&dir.path().join("tmp")), ["stray-dir"]);
}

#[test]
fn a_second_server_open_is_refused_and_leaves_the_first_ones_uploads_alone() {
    let (dir, board) = store();
    let mut up = board.begin_upload().unwrap();
    up.write(b"half a file").unwrap();
    match Board::open(dir.path()) {
        Err(e @ BoardError::Locked(_)) => {
            let text = e.to_string();
            assert!(text.contains("in use by another server"), "{text}");
            assert!(
                text.contains(&format!("pid {}", std::process::id())),
                "{text}"
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(names_in(&dir.path().join("tmp")).len(), 1);
    // Records may still be read and changed alongside the server.
    let records = Board::open_records(dir.path()).unwrap();
    assert_eq!(records.leftovers_removed(), 0);
    assert_eq!(records.assignments().unwrap().len(), 2);
    up.write(b" and the rest").unwrap();
    let o = offer("CSCI3180", "hw1", "a.txt", b"half a file and the rest");
    assert!(board.commit(up, &alice(), &o, t0()).is_ok());
    drop(board);
    assert!(
        Board::open(dir.path()).is_ok(),
        "free once the first is gone"
    );
}

#[test]
fn dropping_or_aborting_an_upload_removes_its_file() {
    let (dir, board) = store();
    let tmp = dir.path().join("tmp");
    let mut up = board.begin_upload().unwrap();
    up.write(b"abc").unwrap();
    assert_eq!(names_in(&tmp).len(), 1);
    drop(up);
    assert!(names_in(&tmp).is_empty());
    let up = board.begin_upload().unwrap();
    let other = board.begin_upload().unwrap();
    assert_eq!(names_in(&tmp).len(), 2);
    up.abort();
    assert_eq!(names_in(&tmp).len(), 1);
    other.abort();
    assert!(names_in(&tmp).is_empty());
}

#[test]
fn records_survive_a_restart_and_stay_consistent() {
    let dir = tempfile::tempdir().unwrap();
    Board::init(dir.path()).unwrap();
    let board = Board::open(dir.path()).unwrap();
    board.add_assignment("CSCI3180", "hw1", due(), MAX).unwrap();
    let mut entries = Vec::new();
    for i in 0..5u8 {
        let bytes = vec![i; 1000 * usize::from(i)];
        let o = offer("CSCI3180", "hw1", "a.bin", &bytes);
        entries.push(submit(&board, &alice(), &o, &bytes, t0()).unwrap());
    }
    let mut up = board.begin_upload().unwrap();
    up.write(b"in flight when the power went").unwrap();
    std::mem::forget(up);
    drop(board);

    let board = Board::open(dir.path()).unwrap();
    assert_eq!(board.leftovers_removed(), 1);
    assert_eq!(board.list(&alice(), None).unwrap(), entries);
    assert_eq!(
        board.assignment("CSCI3180", "hw1").unwrap().unwrap().due,
        due()
    );
    let e = board.find(&alice(), &entries[3].id).unwrap().unwrap();
    let path = board.blobs().path(&e.id);
    assert_eq!(e, entries[3]);
    assert_eq!(fs::read(path).unwrap(), vec![3u8; 3000]);
    assert_consistent(dir.path(), &board);
}

#[test]
fn a_failed_record_insert_leaves_no_file_behind() {
    let (dir, board) = store();
    // Fault injection: make every insert into submissions fail.
    let raw = Connection::open(dir.path().join("blackboard.db")).unwrap();
    raw.execute_batch(
        "CREATE TRIGGER fail BEFORE INSERT ON submissions
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();
    let o = offer("CSCI3180", "hw1", "a.txt", b"data");
    match submit(&board, &alice(), &o, b"data", t0()) {
        Err(e @ BoardError::Database { .. }) => {
            assert_eq!(e.refusal().code, RefusalCode::Storage)
        }
        other => panic!("expected a database error, got {other:?}"),
    }
    assert_nothing_stored(&dir, &board);
    raw.execute_batch("DROP TRIGGER fail").unwrap();
    assert!(submit(&board, &alice(), &o, b"data", t0()).is_ok());
}

#[test]
fn disk_full_maps_to_a_storage_refusal() {
    for e in [
        io::Error::from(io::ErrorKind::StorageFull),
        io::Error::from(io::ErrorKind::QuotaExceeded),
        io::Error::from(io::ErrorKind::FileTooLarge),
    ] {
        let r = refusal::<()>(Err(io_refusal(e)));
        assert_eq!(
            (r.code, r.reason.as_str()),
            (RefusalCode::Storage, DISK_FULL)
        );
    }
    let r = refusal::<()>(Err(io_refusal(io::Error::other("bad sector"))));
    assert_eq!(r.code, RefusalCode::Storage);
    assert!(r.reason.contains("bad sector"), "{r:?}");

    // A real ENOSPC, through Upload::write.
    let Ok(full) = OpenOptions::new().write(true).open("/dev/full") else {
        return;
    };
    let (dir, board) = store();
    let placeholder = dir.path().join("tmp").join("upload-full");
    fs::write(&placeholder, b"").unwrap();
    let mut up = Upload::new(full, placeholder.clone());
    let r = refusal(up.write(&[0u8; 4096]).map_err(io_refusal));
    assert_eq!(
        (r.code, r.reason.as_str()),
        (RefusalCode::Storage, DISK_FULL)
    );
    assert_eq!(up.written(), 0);
    // The upload is spoiled: no more writes, no commit, and its file goes.
    assert_eq!(
        refusal(up.write(b"x").map_err(io_refusal)).code,
        RefusalCode::Storage
    );
    let o = offer("CSCI3180", "hw1", "a.txt", b"");
    assert_eq!(
        refusal(board.commit(up, &alice(), &o, t0())).code,
        RefusalCode::Storage
    );
    assert!(!placeholder.exists());
    assert_nothing_stored(&dir, &board);
}

#[test]
fn assignments_are_checked_added_and_updated() {
    let dir = tempfile::tempdir().unwrap();
    Board::init(dir.path()).unwrap();
    let board = Board::open(dir.path()).unwrap();
    assert!(board.assignments().unwrap().is_empty());
    board.add_assignment("CSCI3180", "hw2", due(), 10).unwrap();
    board.add_assignment("CSCI3150", "lab1", due(), 20).unwrap();
    let later = due() + Duration::from_secs(3600);
    board.add_assignment("CSCI3180", "hw2", later, 30).unwrap();
    let all = board.assignments().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].course, "CSCI3150");
    assert_eq!(
        board.assignment("CSCI3180", "hw2").unwrap(),
        Some(Assignment::new("CSCI3180", "hw2", later, 30))
    );
    assert_eq!(board.assignment("CSCI3180", "hw3").unwrap(), None);
    for (c, a) in [("CSCI 3180", "hw1"), ("CSCI3180", "../hw1"), ("", "hw1")] {
        assert!(matches!(
            board.add_assignment(c, a, due(), 10),
            Err(BoardError::InvalidName(_))
        ));
    }
    assert!(matches!(
        board.add_assignment("CSCI3180", "hw1", due(), 0),
        Err(BoardError::Invalid(_))
    ));
    assert!(matches!(
        board.add_assignment("CSCI3180", "hw1", due(), u64::MAX),
        Err(BoardError::Invalid(_))
    ));
    assert_eq!(board.assignments().unwrap().len(), 2);
}

#[test]
fn a_students_storage_per_assignment_is_bounded_in_count_and_bytes() {
    let (dir, board) = store();
    let board = board.with_quota(Quota {
        max_submissions: 3,
        max_bytes: 100,
    });
    let hw1 = |name: &str, bytes: &[u8]| offer("CSCI3180", "hw1", name, bytes);
    for n in 0..3 {
        let o = hw1("a.txt", &[n; 10]);
        board.check_quota(&alice(), &o).expect("fits at the offer");
        submit(&board, &alice(), &o, &[n; 10], t0()).expect("stored");
    }
    let fourth = hw1("b.txt", b"x");
    assert_eq!(
        refusal(board.check_quota(&alice(), &fourth)).code,
        RefusalCode::Quota
    );
    let r = refusal(submit(&board, &alice(), &fourth, b"x", t0()));
    assert_eq!(r.code, RefusalCode::Quota);
    // Bob, and Alice's other assignment, are not affected.
    submit(&board, &bob(), &fourth, b"x", t0()).expect("bob stores");
    let lab = offer("CSCI3150", "lab1", "b.txt", b"x");
    submit(&board, &alice(), &lab, b"x", t0()).expect("another assignment");

    // Bytes: Bob stores 1; 100 more would make 101 of 100, 99 more fit exactly.
    let big = vec![1u8; 100];
    let r = refusal(submit(&board, &bob(), &hw1("big", &big), &big, t0()));
    assert!(r.reason.contains("over the 100 bytes"), "{}", r.reason);
    submit(&board, &bob(), &hw1("big", &big[..99]), &big[..99], t0()).expect("fits exactly");
    assert_consistent(dir.path(), &board);
}

#[test]
fn the_bound_counts_submissions_earlier_in_the_same_batch() {
    let (dir, board) = store();
    let board = board.with_quota(Quota {
        max_submissions: 2,
        max_bytes: 1 << 20,
    });
    // Three uploads all passed the check at their offer; the batch records two.
    let mut batch = Vec::new();
    for n in 0..3u8 {
        let bytes = [n; 5];
        let o = offer("CSCI3180", "hw1", "a.txt", &bytes);
        board.check_quota(&alice(), &o).expect("fits at the offer");
        let mut up = board.begin_upload().unwrap();
        up.write(&bytes).unwrap();
        batch.push(board.prepare(up, &alice(), &o, t0()).unwrap());
    }
    let results = board.commit_batch(batch);
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    let third = results.into_iter().nth(2).expect("three results");
    assert_eq!(refusal(third).code, RefusalCode::Quota);
    assert_eq!(board.list(&alice(), None).unwrap().len(), 2);
    assert_consistent(dir.path(), &board);
}

#[test]
fn concurrent_commits_from_worker_threads_get_distinct_versions() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<Board>();
    assert_send::<Upload>();

    let (dir, board) = store();
    let o = offer("CSCI3180", "hw1", "a.txt", b"same");
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| submit(&board, &alice(), &o, b"same", t0()).unwrap());
        }
    });
    let mut versions: Vec<u32> = board.all().unwrap().iter().map(|e| e.version).collect();
    versions.sort();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    assert_consistent(dir.path(), &board);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Board::init(dir.path()).unwrap();
    drop(Board::open(dir.path()).unwrap());
    Connection::open(dir.path().join("blackboard.db"))
        .unwrap()
        .pragma_update(None, "user_version", 7)
        .unwrap();
    match Board::open(dir.path()) {
        Err(e @ BoardError::BadDatabase(_)) => assert!(e.to_string().contains('7')),
        other => panic!("expected BadDatabase, got {other:?}"),
    }
}

#[test]
fn records_opened_beside_a_server_leave_its_uploads_alone() {
    let (dir, board) = store();
    let mut up = board.begin_upload().unwrap();
    up.write(b"in progress").unwrap();
    let admin = Board::open_records(dir.path()).unwrap();
    assert_eq!(admin.leftovers_removed(), 0);
    admin.add_assignment("CSCI3180", "hw1", due(), 5).unwrap();
    assert_eq!(names_in(&dir.path().join("tmp")).len(), 1);
    let o = offer("CSCI3180", "hw1", "a.txt", b"in progress");
    // The running server sees the new limit.
    assert_eq!(
        refusal(board.commit(up, &alice(), &o, t0())).code,
        RefusalCode::TooLarge
    );
    assert_nothing_stored(&dir, &board);
}

#[test]
fn a_missing_or_empty_data_directory_is_refused_with_the_command_that_makes_one() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("dta");
    for open in [Board::open, Board::open_records] {
        match open(&typo) {
            Err(e @ BoardError::NoStore { exists: false, .. }) => assert_eq!(
                e.to_string(),
                format!(
                    "the data directory {} does not exist: create it with `blackboard init \
                     --data {}`, or check the path",
                    typo.display(),
                    typo.display()
                )
            ),
            other => panic!("expected NoStore, got {other:?}"),
        }
        assert!(!typo.exists(), "nothing is created");
        match open(dir.path()) {
            Err(e @ BoardError::NoStore { exists: true, .. }) => {
                assert!(e.to_string().contains("has no blackboard.db"), "{e}")
            }
            other => panic!("expected NoStore, got {other:?}"),
        }
        assert!(names_in(dir.path()).is_empty(), "nothing is created");
    }
    Board::init(&typo).unwrap();
    assert!(Board::open_records(&typo).is_ok());
    assert!(matches!(
        Board::init(&typo),
        Err(BoardError::AlreadyInitialized(_))
    ));
}
