//! The course records in SQLite: the upgrade from the first schema, and a change and its log
//! entry recorded together.
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

#[test]
fn a_change_that_fails_leaves_no_log_entry() {
    let dir = tempfile::tempdir().unwrap();
    let board = SqliteBoard::open(&dir.path().join("blackboard.db")).unwrap();
    let log = |action: &str| LogEntry {
        at: at(5),
        course: "CSCI3180".into(),
        actor: "operator".into(),
        action: action.into(),
        student: None,
        detail: String::new(),
    };
    // No such course: the staff list refers to courses, so this fails whole.
    let change = Change::AddStaff {
        course: "CSCI3180".into(),
        people: vec![PersonId::parse("lee").unwrap()],
    };
    assert!(board.change(&change, &log("staff")).is_err());
    assert!(board.log("CSCI3180").unwrap().is_empty());
    let course = Change::PutCourse(Course {
        course: "CSCI3180".into(),
        title: "PL".into(),
    });
    board.change(&course, &log("course")).unwrap();
    board.change(&change, &log("staff")).unwrap();
    assert_eq!(board.log("CSCI3180").unwrap().len(), 2);
    assert_eq!(board.staff("CSCI3180").unwrap(), ["lee"]);
    let m = board
        .membership(&PersonId::parse("lee").unwrap(), "CSCI3180")
        .unwrap();
    assert!(m.course_exists && m.staff && !m.has_class_list);
}
