//! Blackboard's commitments, whatever the database: listed by assignment and by student, the
//! earliest commitment to exactly a file's bytes found when a submission is recorded, a
//! commitment committed with its log entry or not at all, and what a submission's record
//! keeps of both.

use crate::store::log::kept;
use crate::store::{Assignment, BoardRecords, CommitmentRecord, LogHead, StoredSubmission};
use handin_core::pki::StudentId;
use handin_core::tlog::{leaf_hash, Frontier, Node};
use std::time::{Duration, SystemTime};

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(s)
}

fn sid(s: &str) -> StudentId {
    StudentId::parse(s).unwrap()
}

fn commitment(student: &str, assignment: &str, sha: u8, t: u64) -> CommitmentRecord {
    CommitmentRecord {
        student: sid(student),
        course: "CSCI3180".into(),
        assignment: assignment.into(),
        file_name: "a.txt".into(),
        size: 3,
        sha256: [sha; 32],
        committed_at: at(t),
        log_index: t,
    }
}

/// Two assignments, and commitments inserted in an order that is neither by student nor by
/// time, each in a transaction of its own.
fn with_commitments(records: &dyn BoardRecords) -> Vec<CommitmentRecord> {
    for hw in ["hw1", "hw2"] {
        records
            .put_assignment(&Assignment::new("CSCI3180", hw, at(2_000), 10))
            .unwrap();
    }
    let made = vec![
        commitment("1155000002", "hw1", 7, 1_400),
        commitment("1155000001", "hw1", 7, 1_500),
        commitment("1155000001", "hw1", 7, 1_200),
        commitment("1155000001", "hw1", 8, 1_100),
        commitment("1155000001", "hw2", 7, 1_000),
    ];
    for c in &made {
        let mut tx = records.begin().unwrap();
        tx.insert_commitment(c).unwrap();
        tx.commit().unwrap();
    }
    made
}

pub(super) fn commitments_are_listed_by_student_and_by_assignment(records: &dyn BoardRecords) {
    assert!(records.commitments("CSCI3180", "hw1").unwrap().is_empty());
    let made = with_commitments(records);
    let hw1 = records.commitments("CSCI3180", "hw1").unwrap();
    assert_eq!(
        hw1,
        [
            made[3].clone(),
            made[2].clone(),
            made[1].clone(),
            made[0].clone()
        ]
    );
    assert_eq!(
        records.commitments("CSCI3180", "hw2").unwrap(),
        [made[4].clone()]
    );
    assert!(records.commitments("CSCI3180", "hw3").unwrap().is_empty());
    assert!(records.commitments("csci3180", "hw1").unwrap().is_empty());
    let alice = records.student_commitments(&sid("1155000001")).unwrap();
    assert_eq!(
        alice,
        [
            made[4].clone(),
            made[3].clone(),
            made[2].clone(),
            made[1].clone()
        ]
    );
    assert_eq!(
        records.student_commitments(&sid("1155000002")).unwrap(),
        [made[0].clone()]
    );
    assert!(records
        .student_commitments(&sid("1155000003"))
        .unwrap()
        .is_empty());
    // To an assignment that does not exist: refused, and nothing is recorded.
    {
        let mut tx = records.begin().unwrap();
        assert!(tx
            .insert_commitment(&commitment("1155000001", "hw9", 7, 1))
            .is_err());
    }
    // The largest numbers round-trip.
    let mut big = commitment("1155000003", "hw1", 9, 1_600);
    big.size = u64::try_from(i64::MAX).unwrap();
    big.log_index = u64::try_from(i64::MAX).unwrap();
    let mut tx = records.begin().unwrap();
    tx.insert_commitment(&big).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        records.student_commitments(&sid("1155000003")).unwrap(),
        [big]
    );
}

pub(super) fn the_earliest_matching_commitment_is_found_and_no_other(records: &dyn BoardRecords) {
    with_commitments(records);
    let (alice, bob) = (sid("1155000001"), sid("1155000002"));
    let mut tx = records.begin().unwrap();
    let mut found = |who: &StudentId, assignment: &str, size: u64, sha: u8| {
        let facts = tx
            .record_facts(who, "CSCI3180", assignment, "any.txt", size, &[sha; 32])
            .unwrap();
        let one_by_one = tx
            .earliest_commitment(who, "CSCI3180", assignment, size, &[sha; 32])
            .unwrap();
        assert_eq!(facts.committed_at, one_by_one);
        facts.committed_at
    };
    // The earliest of Alice's two commitments to these bytes, whatever the file name.
    assert_eq!(found(&alice, "hw1", 3, 7), Some(at(1_200)));
    assert_eq!(found(&alice, "hw1", 3, 8), Some(at(1_100)));
    assert_eq!(found(&alice, "hw2", 3, 7), Some(at(1_000)));
    assert_eq!(found(&bob, "hw1", 3, 7), Some(at(1_400)));
    // Another student, assignment, size or hash: none.
    assert_eq!(found(&sid("1155000003"), "hw1", 3, 7), None);
    assert_eq!(found(&bob, "hw2", 3, 7), None);
    assert_eq!(found(&alice, "hw1", 4, 7), None);
    assert_eq!(found(&alice, "hw1", 3, 9), None);
    assert_eq!(found(&alice, "hw1", u64::MAX, 7), None);
    let other_course = tx
        .record_facts(&alice, "CSCI3181", "hw1", "a.txt", 3, &[7; 32])
        .unwrap();
    assert_eq!(other_course.committed_at, None);
    // A commitment recorded in this transaction counts.
    tx.insert_commitment(&commitment("1155000001", "hw1", 7, 900))
        .unwrap();
    let facts = tx
        .record_facts(&alice, "CSCI3180", "hw1", "a.txt", 3, &[7; 32])
        .unwrap();
    assert_eq!(facts.committed_at, Some(at(900)));
}

pub(super) fn a_commitment_and_its_log_entry_are_committed_together(records: &dyn BoardRecords) {
    records
        .put_assignment(&Assignment::new("CSCI3180", "hw1", at(2_000), 10))
        .unwrap();
    let c = commitment("1155000001", "hw1", 7, 0);
    let write = || {
        let mut tx = records.begin().unwrap();
        let mut frontier = Frontier::new();
        let entry = b"commitment 0".to_vec();
        let appended = frontier.append(&[leaf_hash(&entry)]).unwrap();
        let nodes: Vec<Node> = appended.nodes.into_iter().filter(kept).collect();
        let head = LogHead {
            size: 1,
            frontier: frontier.nodes().to_vec(),
            checkpoint: "checkpoint 1".into(),
        };
        let first = tx.log().log_head().unwrap().map_or(0, |h| h.size);
        tx.log().log_append(first, &[entry], &nodes, &head).unwrap();
        tx.insert_commitment(&c).unwrap();
        tx
    };
    drop(write());
    assert!(records.commitments("CSCI3180", "hw1").unwrap().is_empty());
    assert_eq!(records.log_head().unwrap(), None);
    write().commit().unwrap();
    assert_eq!(records.commitments("CSCI3180", "hw1").unwrap(), [c]);
    assert_eq!(records.log_head().unwrap().map(|h| h.size), Some(1));
    assert_eq!(
        records.log_entries(0, 1).unwrap(),
        [b"commitment 0".to_vec()]
    );
}

pub(super) fn a_submission_keeps_its_commitment_time_and_log_index(records: &dyn BoardRecords) {
    records
        .put_assignment(&Assignment::new("CSCI3180", "hw1", at(2_000), 10))
        .unwrap();
    let plain = StoredSubmission {
        id: "S1".into(),
        student: sid("1155000001"),
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "a.txt".into(),
        size: 3,
        sha256: [7; 32],
        received_at: at(2_100),
        late: false,
        version: 1,
        due: at(2_000),
        committed_at: None,
        log_index: None,
    };
    let committed = StoredSubmission {
        id: "S2".into(),
        version: 2,
        committed_at: Some(at(1_900)),
        log_index: Some(u64::try_from(i64::MAX).unwrap()),
        ..plain.clone()
    };
    let mut tx = records.begin().unwrap();
    tx.insert(&plain).unwrap();
    tx.insert(&committed).unwrap();
    tx.commit().unwrap();
    assert_eq!(records.find("S1").unwrap(), Some(plain.clone()));
    assert_eq!(records.find("S2").unwrap(), Some(committed.clone()));
    assert_eq!(records.all().unwrap(), [plain, committed]);
}
