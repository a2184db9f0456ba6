//! The SQLite stores' upgrades to the schemas with the transparency log: Blackboard's from
//! version 2 (commitments, and submissions' new columns) and CUHK's from version 3, each
//! keeping its rows. (What every backend does is tested by the conformance suite,
//! `store/conformance/`.)

use super::board::{SqliteBoard, SCHEMA as BOARD_V1};
use super::course::UPGRADE_COURSES;
use super::registrar::{SqliteRegistrar, ADD_CRLS, SCHEMA as CUHK_V2};
use crate::store::{BoardRecords, CommitmentRecord, CourseRecords, LogRecords, RegistrarRecords};
use handin_core::pki::{PersonId, StudentId};
use std::time::{Duration, SystemTime};

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(s)
}

fn user_version(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_version_2_board_is_upgraded_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blackboard.db");
    let v2 = super::open(&path, &format!("{BOARD_V1}{UPGRADE_COURSES}"), 2).unwrap();
    v2.execute_batch(
        "INSERT INTO assignments (course, assignment, due, max_size, grace)
         VALUES ('CSCI3180', 'hw1', 2000, 10, 60);
         INSERT INTO submissions (id, student_id, course, assignment, file_name, size, sha256,
             received_at, late, version, due_at)
         VALUES ('S1', '1155000001', 'CSCI3180', 'hw1', 'a.txt', 3, zeroblob(32), 1000, 0, 1,
             2000);
         INSERT INTO courses (course, title) VALUES ('CSCI3180', 'Languages');",
    )
    .unwrap();
    drop(v2);
    let board = SqliteBoard::open(&path).unwrap();
    assert_eq!(user_version(&path), 3);
    let s = board.find("S1").unwrap().unwrap();
    assert_eq!((s.due, s.size, s.version), (at(2000), 3, 1));
    assert_eq!((s.committed_at, s.log_index), (None, None));
    assert_eq!(board.courses().unwrap().len(), 1);
    assert_eq!(
        board.assignment("CSCI3180", "hw1").unwrap().unwrap().grace,
        Duration::from_secs(60)
    );
    assert_eq!(board.log_head().unwrap(), None);
    assert!(board.commitments("CSCI3180", "hw1").unwrap().is_empty());
    // The new tables work.
    let c = CommitmentRecord {
        student: StudentId::parse("1155000001").unwrap(),
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "a.txt".into(),
        size: 3,
        sha256: [0; 32],
        committed_at: at(900),
        log_index: 0,
    };
    let mut tx = board.begin().unwrap();
    tx.insert_commitment(&c).unwrap();
    tx.commit().unwrap();
    drop(board);
    // It reopens as it is.
    let board = SqliteBoard::open(&path).unwrap();
    assert_eq!(board.commitments("CSCI3180", "hw1").unwrap(), [c]);
    assert_eq!(board.all().unwrap().len(), 1);
}

#[test]
fn a_version_3_registrar_is_upgraded_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cuhk.db");
    let v3 = super::open(&path, &format!("{CUHK_V2}{ADD_CRLS}"), 3).unwrap();
    v3.execute_batch(
        "INSERT INTO roster (person_id, added_at, code_salt, code_hash, code_used_at, staff)
         VALUES ('1155000001', 10, x'01', x'02', 20, 0);
         INSERT INTO certificates (serial, person_id, not_before, not_after, issued_at,
             revoked_at)
         VALUES ('0A', '1155000001', 20, 30, 20, 25), ('0B', '1155000001', 21, 31, 21, NULL);
         INSERT INTO crls (number, pem) VALUES (4, x'63726c');",
    )
    .unwrap();
    drop(v3);
    let mut reg = SqliteRegistrar::open(&path).unwrap();
    assert_eq!(user_version(&path), 4);
    let alice = PersonId::parse("1155000001").unwrap();
    assert_eq!(reg.issued(&alice).unwrap().len(), 2);
    assert_eq!(reg.revoked().unwrap().len(), 1);
    assert_eq!(reg.latest_crl().unwrap(), Some((4, b"crl".to_vec())));
    assert_eq!(reg.log_head().unwrap(), None);
    let reader = reg.log_reader().unwrap();
    assert_eq!(reader.log_head().unwrap(), None);
    // A revocation on the upgraded database hears of the one certificate still valid.
    let mut heard = Vec::new();
    let n = reg
        .revoke_person(&alice, at(40), &mut |_, serials| {
            heard.extend_from_slice(serials);
            Ok(())
        })
        .unwrap();
    assert_eq!((n, heard), (Some(1), vec!["0B".to_owned()]));
    drop(reg);
    drop(SqliteRegistrar::open(&path).unwrap());
    assert_eq!(user_version(&path), 4);
}
