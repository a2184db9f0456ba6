//! The group commit of a batch: every submission stored or refused on its own, a file that
//! cannot be renamed, a commit that fails whole.

use super::*;

fn ready(
    board: &Board,
    student: &StudentId,
    offer: &UploadOffer,
    bytes: &[u8],
    at: SystemTime,
) -> Ready {
    let mut up = board.begin_upload().unwrap();
    up.write(bytes).unwrap();
    board.prepare(up, student, offer, at).unwrap()
}

#[test]
fn a_batch_stores_every_submission_and_refuses_only_its_own_failures() {
    let (dir, board) = store();
    let late = due() + Duration::from_secs(1);
    let o_a = offer("CSCI3180", "hw1", "a.txt", b"first");
    let o_a2 = offer("CSCI3180", "hw1", "a.txt", b"second");
    let o_big = offer("CSCI3150", "lab1", "big.bin", &[9u8; 500]);
    let o_bob = offer("CSCI3180", "hw1", "a.txt", b"bob's");
    let batch = vec![
        ready(&board, &alice(), &o_a, b"first", t0()),
        ready(&board, &alice(), &o_big, &[9u8; 500], t0()),
        ready(&board, &bob(), &o_bob, b"bob's", late),
        // The same student and file twice in one batch.
        ready(&board, &alice(), &o_a2, b"second", late),
    ];
    // The limit drops below one submission's size after it was prepared.
    board
        .add_assignment("CSCI3150", "lab1", due(), 100)
        .unwrap();
    let mut results = board.commit_batch(batch);
    assert_eq!(results.len(), 4);
    let a2 = results.pop().unwrap().unwrap();
    let b = results.pop().unwrap().unwrap();
    let r = refusal(results.pop().unwrap());
    let a1 = results.pop().unwrap().unwrap();
    assert_eq!(r.code, RefusalCode::TooLarge);
    assert!(r.reason.contains("100"), "{r:?}");
    assert_eq!((a1.record.version, a1.record.late), (1, false));
    assert_eq!((a2.record.version, a2.record.late), (2, true));
    assert_eq!((b.record.version, b.record.late), (1, true));
    assert_eq!(a1.due, due());
    assert_eq!(
        board.list(&alice(), None).unwrap(),
        vec![a1.record.clone(), a2.record.clone()]
    );
    assert_eq!(board.list(&bob(), None).unwrap(), vec![b.record.clone()]);
    let p = board.blobs().path(&a2.record.id);
    assert!(board.find(&alice(), &a2.record.id).unwrap().is_some());
    assert_eq!(fs::read(p).unwrap(), b"second");
    assert!(names_in(&dir.path().join("tmp")).is_empty());
    assert_consistent(dir.path(), &board);

    // A later batch counts the versions already stored.
    let more = vec![
        ready(&board, &alice(), &o_a, b"first", t0()),
        ready(&board, &alice(), &o_a, b"first", t0()),
    ];
    let versions: Vec<u32> = board
        .commit_batch(more)
        .into_iter()
        .map(|r| r.unwrap().record.version)
        .collect();
    assert_eq!(versions, [3, 4]);
    assert_consistent(dir.path(), &board);
}

#[test]
fn a_file_that_cannot_be_renamed_refuses_only_its_submission() {
    let (dir, board) = store();
    let o = offer("CSCI3180", "hw1", "a.txt", b"data");
    let batch: Vec<Ready> = (0..3)
        .map(|_| ready(&board, &alice(), &o, b"data", t0()))
        .collect();
    fs::remove_file(batch[1].upload.path()).unwrap();
    let results = board.commit_batch(batch);
    assert_eq!(results[0].as_ref().unwrap().record.version, 1);
    assert_eq!(
        refusal(board_result(&results[1])).code,
        RefusalCode::Storage
    );
    assert_eq!(results[2].as_ref().unwrap().record.version, 2);
    assert_eq!(board.all().unwrap().len(), 2);
    assert!(names_in(&dir.path().join("tmp")).is_empty());
    assert_consistent(dir.path(), &board);
}

fn board_result(r: &Result<Committed, BoardError>) -> Result<(), BoardError> {
    match r {
        Ok(_) => Ok(()),
        Err(BoardError::Refused(r)) => Err(BoardError::Refused(r.clone())),
        Err(e) => Err(BoardError::Invalid(e.to_string())),
    }
}

#[test]
fn a_failed_commit_refuses_the_whole_batch_and_removes_its_files() {
    let (dir, board) = store();
    let o = offer("CSCI3180", "hw1", "a.txt", b"kept");
    let kept = submit(&board, &alice(), &o, b"kept", t0()).unwrap();
    // Fault injection: every insert succeeds, but the COMMIT fails (a deferred foreign
    // key that is never satisfied), after the files were renamed and the directory synced.
    let raw = Connection::open(dir.path().join("blackboard.db")).unwrap();
    raw.execute_batch(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE fault (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
         CREATE TRIGGER fault AFTER INSERT ON submissions
         BEGIN INSERT INTO fault (p) VALUES (1); END;",
    )
    .unwrap();
    let o2 = offer("CSCI3180", "hw1", "b.txt", b"lost");
    let o3 = offer("CSCI3150", "lab1", "c.txt", b"also lost");
    let o_big = offer("CSCI3180", "hw1", "big.txt", &[1u8; 50]);
    let batch = vec![
        ready(&board, &alice(), &o2, b"lost", t0()),
        ready(&board, &bob(), &o3, b"also lost", t0()),
        ready(&board, &bob(), &o_big, &[1u8; 50], t0()),
    ];
    board.add_assignment("CSCI3180", "hw1", due(), 10).unwrap();
    let results = board.commit_batch(batch);
    for r in &results[..2] {
        match r {
            Err(e @ BoardError::Batch { size: 3, .. }) => {
                assert_eq!(e.refusal().code, RefusalCode::Storage);
                assert!(e.to_string().contains("none was stored"), "{e}");
                assert!(e.to_string().contains("FOREIGN KEY"), "{e}");
            }
            other => panic!("expected the batch to fail, got {other:?}"),
        }
    }
    // Refused on its own, it keeps its own reason.
    assert_eq!(
        refusal(board_result(&results[2])).code,
        RefusalCode::TooLarge
    );
    assert_eq!(board.all().unwrap(), vec![kept.clone()]);
    assert!(names_in(&dir.path().join("tmp")).is_empty());
    assert_eq!(names_in(&dir.path().join("files")), vec![kept.id.clone()]);
    assert_consistent(dir.path(), &board);

    // The fault gone, the next batch is stored.
    raw.execute_batch("DROP TRIGGER fault").unwrap();
    board.add_assignment("CSCI3180", "hw1", due(), MAX).unwrap();
    let again = board.commit_batch(vec![ready(&board, &alice(), &o2, b"lost", t0())]);
    assert_eq!(again[0].as_ref().unwrap().record.version, 1);
    assert_eq!(board.all().unwrap().len(), 2);
    assert_consistent(dir.path(), &board);
}
