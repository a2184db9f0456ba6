//! The course records in SQLite: the upgrade from the first schema. (What every backend does
//! is tested by the conformance suite, `store/conformance/`.)
use super::super::board::SCHEMA;
use super::*;
use crate::store::{Assignment, BoardRecords};
use std::time::Duration;

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(s)
}

#[test]
fn a_first_version_database_is_upgraded_with_its_submissions_judged_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blackboard.db");
    let v1 = super::super::open(&path, SCHEMA, 1).unwrap();
    v1.execute_batch(
        "INSERT INTO assignments VALUES ('CSCI3180', 'hw1', 2000, 10);
         INSERT INTO submissions (id, student_id, course, assignment, file_name, size, sha256,
             received_at, late, version)
         VALUES ('S1', '1155000001', 'CSCI3180', 'hw1', 'a.txt', 3, zeroblob(32), 1000, 0, 1);",
    )
    .unwrap();
    drop(v1);
    let board = SqliteBoard::open(&path).unwrap();
    let s = board.find("S1").unwrap().unwrap();
    assert_eq!(s.due, at(2000));
    let a = board.assignment("CSCI3180", "hw1").unwrap().unwrap();
    assert_eq!(a, Assignment::new("CSCI3180", "hw1", at(2000), 10));
    assert!(board.courses().unwrap().is_empty());
    // And it opens again as it is.
    drop(board);
    assert!(SqliteBoard::open(&path).is_ok());
}
