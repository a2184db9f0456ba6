//! Blackboard's records, whatever the database: a batch's transaction, the order of listings,
//! assignments, and the course records with their log. Each case gets a new, empty store.

use crate::store::{
    Assignment, BoardRecords, Change, Course, Extension, FeedbackFile, Grade, LogEntry,
    StoredSubmission,
};
use handin_core::pki::{PersonId, StudentId};
use std::time::{Duration, SystemTime};

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(s)
}

fn sid(s: &str) -> StudentId {
    StudentId::parse(s).unwrap()
}

fn submission(id: &str, version: u32) -> StoredSubmission {
    StoredSubmission {
        id: id.into(),
        student: sid("1155000001"),
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "a.txt".into(),
        size: 3,
        sha256: [7; 32],
        received_at: at(1_000),
        late: false,
        version,
        due: at(2_000),
        committed_at: None,
        log_index: None,
    }
}

fn with_hw1(records: &dyn BoardRecords) {
    records
        .put_assignment(&Assignment::new("CSCI3180", "hw1", at(2_000), 10))
        .unwrap();
}

fn log(action: &str) -> LogEntry {
    LogEntry {
        at: at(5),
        course: "CSCI3180".into(),
        actor: "operator".into(),
        action: action.into(),
        student: None,
        detail: String::new(),
    }
}

pub(super) fn a_transaction_sees_its_own_records_and_commits_them_whole(
    records: &dyn BoardRecords,
) {
    with_hw1(records);
    let alice = sid("1155000001");
    let mut tx = records.begin().unwrap();
    tx.insert(&submission("S1", 1)).unwrap();
    tx.insert(&submission("S2", 2)).unwrap();
    assert_eq!(tx.usage(&alice, "CSCI3180", "hw1").unwrap().submissions, 2);
    assert_eq!(tx.usage(&alice, "CSCI3180", "hw1").unwrap().bytes, 6);
    assert_eq!(tx.versions(&alice, "CSCI3180", "hw1", "a.txt").unwrap(), 2);
    assert_eq!(tx.versions(&alice, "CSCI3180", "hw1", "b.txt").unwrap(), 0);
    assert_eq!(
        tx.assignment("CSCI3180", "hw1").unwrap().unwrap().max_size,
        10
    );
    assert_eq!(tx.assignment("CSCI3180", "hw9").unwrap(), None);
    assert_eq!(tx.extension("CSCI3180", "hw1", &alice).unwrap(), None);
    tx.commit().unwrap();
    let ids: Vec<String> = records.all().unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(ids, ["S1", "S2"]);
    assert!(records.is_recorded("S2").unwrap());
    assert!(!records.is_recorded("S3").unwrap());
    assert_eq!(records.find("S1").unwrap(), Some(submission("S1", 1)));
    assert_eq!(records.find("S3").unwrap(), None);
    let usage = records.usage(&alice, "CSCI3180", "hw1").unwrap();
    assert_eq!((usage.submissions, usage.bytes), (2, 6));
}

pub(super) fn a_transaction_dropped_without_commit_records_nothing(records: &dyn BoardRecords) {
    with_hw1(records);
    {
        let mut tx = records.begin().unwrap();
        tx.insert(&submission("S1", 1)).unwrap();
    }
    assert!(records.all().unwrap().is_empty());
    assert!(!records.is_recorded("S1").unwrap());
    // The store is usable again at once.
    let mut tx = records.begin().unwrap();
    tx.insert(&submission("S3", 1)).unwrap();
    tx.commit().unwrap();
    assert_eq!(records.all().unwrap().len(), 1);
}

pub(super) fn a_duplicate_version_or_unknown_assignment_fails_the_batch_whole(
    records: &dyn BoardRecords,
) {
    with_hw1(records);
    {
        let mut tx = records.begin().unwrap();
        tx.insert(&submission("S1", 1)).unwrap();
        assert!(
            tx.insert(&submission("S2", 1)).is_err(),
            "same version twice"
        );
    }
    {
        let mut tx = records.begin().unwrap();
        tx.insert(&submission("S1", 1)).unwrap();
        let mut other = submission("S2", 1);
        other.assignment = "hw9".into();
        assert!(tx.insert(&other).is_err(), "no such assignment");
    }
    {
        let mut tx = records.begin().unwrap();
        tx.insert(&submission("S1", 1)).unwrap();
        assert!(tx.insert(&submission("S1", 2)).is_err(), "same id twice");
    }
    assert!(records.all().unwrap().is_empty());
    let mut tx = records.begin().unwrap();
    tx.insert(&submission("S4", 1)).unwrap();
    tx.commit().unwrap();
    assert!(records.is_recorded("S4").unwrap());
}

pub(super) fn submissions_are_listed_in_the_order_recorded(records: &dyn BoardRecords) {
    with_hw1(records);
    records
        .put_assignment(&Assignment::new("ENGG1110", "lab", at(3_000), 100))
        .unwrap();
    let bob = sid("1155000002");
    // Ids that sort otherwise than the order they are recorded in.
    let mut expected = Vec::new();
    for (i, id) in ["S9", "S10", "A1", "S2"].into_iter().enumerate() {
        let mut tx = records.begin().unwrap();
        let mut s = submission(id, 1);
        s.file_name = format!("f{i}.txt");
        if i % 2 == 1 {
            s.student = bob.clone();
            s.course = "ENGG1110".into();
            s.assignment = "lab".into();
            s.late = true;
            s.size = 50;
        }
        tx.insert(&s).unwrap();
        tx.commit().unwrap();
        expected.push(s);
    }
    assert_eq!(records.all().unwrap(), expected);
    assert_eq!(
        records.list(&bob, None).unwrap(),
        [expected[1].clone(), expected[3].clone()]
    );
    assert_eq!(
        records.list(&bob, Some("ENGG1110")).unwrap(),
        [expected[1].clone(), expected[3].clone()]
    );
    assert!(records.list(&bob, Some("CSCI3180")).unwrap().is_empty());
    assert_eq!(
        records.submissions_to("CSCI3180", "hw1").unwrap(),
        [expected[0].clone(), expected[2].clone()]
    );
    let usage = records.usage(&bob, "ENGG1110", "lab").unwrap();
    assert_eq!((usage.submissions, usage.bytes), (2, 100));
    let usage = records.usage(&bob, "CSCI3180", "hw1").unwrap();
    assert_eq!((usage.submissions, usage.bytes), (0, 0));
}

pub(super) fn assignments_are_added_changed_and_sorted_bytewise(records: &dyn BoardRecords) {
    assert!(records.assignments().unwrap().is_empty());
    let mut a = Assignment::new("csci1000", "hw1", at(2_000), 10);
    records.put_assignment(&a).unwrap();
    records
        .put_assignment(&Assignment::new("CSCI3180", "hw2", at(1), 1))
        .unwrap();
    records
        .put_assignment(&Assignment::new("CSCI3180", "Hw3", at(1), 1))
        .unwrap();
    a.due = at(4_000);
    a.max_size = u64::try_from(i64::MAX).unwrap();
    a.cutoff = Some(at(5_000));
    a.grace = Duration::from_secs(600);
    a.open = false;
    records.put_assignment(&a).unwrap();
    assert_eq!(records.assignment("csci1000", "hw1").unwrap(), Some(a));
    assert_eq!(records.assignment("CSCI1000", "hw1").unwrap(), None);
    let names: Vec<(String, String)> = records
        .assignments()
        .unwrap()
        .into_iter()
        .map(|a| (a.course, a.assignment))
        .collect();
    // Byte order: upper case before lower case, whatever the database's locale.
    let expected = [
        ("CSCI3180", "Hw3"),
        ("CSCI3180", "hw2"),
        ("csci1000", "hw1"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(c, a)| (c.to_string(), a.to_string()))
        .collect();
    assert_eq!(names, expected);
}

pub(super) fn a_change_that_fails_leaves_no_log_entry(board: &dyn BoardRecords) {
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

pub(super) fn course_records_round_trip(board: &dyn BoardRecords) {
    let course = |c: &str, t: &str| Course {
        course: c.into(),
        title: t.into(),
    };
    for c in [course("ENGG1110", "Eng"), course("CSCI3180", "PL")] {
        board.change(&Change::PutCourse(c), &log("course")).unwrap();
    }
    board
        .change(
            &Change::PutCourse(course("CSCI3180", "Principles")),
            &log("course"),
        )
        .unwrap();
    assert_eq!(
        board.courses().unwrap(),
        [course("CSCI3180", "Principles"), course("ENGG1110", "Eng")]
    );
    assert_eq!(
        board.course("ENGG1110").unwrap(),
        Some(course("ENGG1110", "Eng"))
    );
    assert_eq!(board.course("MATH1010").unwrap(), None);
    let lee = PersonId::parse("lee").unwrap();
    let ta = PersonId::parse("1155000009").unwrap();
    for c in ["ENGG1110", "CSCI3180"] {
        let people = vec![lee.clone(), ta.clone(), lee.clone()];
        let change = Change::AddStaff {
            course: c.into(),
            people,
        };
        board.change(&change, &log("staff")).unwrap();
    }
    assert_eq!(board.staff("CSCI3180").unwrap(), ["1155000009", "lee"]);
    assert_eq!(
        board.courses_of(&lee).unwrap(),
        [course("CSCI3180", "Principles"), course("ENGG1110", "Eng")]
    );
    let (alice, bob) = (sid("1155000001"), sid("1155000002"));
    let students = vec![bob.clone(), alice.clone()];
    let change = Change::AddStudents {
        course: "CSCI3180".into(),
        students,
    };
    board.change(&change, &log("students")).unwrap();
    assert_eq!(
        board.class_list("CSCI3180").unwrap(),
        [alice.clone(), bob.clone()]
    );
    let m = board.membership(&alice.clone().into(), "CSCI3180").unwrap();
    assert!(m.course_exists && !m.staff && m.has_class_list && m.on_class_list);
    let m = board.membership(&alice.clone().into(), "ENGG1110").unwrap();
    assert!(m.course_exists && !m.has_class_list && !m.on_class_list);
    let m = board.membership(&lee, "MATH1010").unwrap();
    assert!(!m.course_exists && !m.staff);

    let hw1 = Assignment::new("CSCI3180", "hw1", at(2_000), 10);
    board
        .change(&Change::PutAssignment(hw1.clone()), &log("assignment"))
        .unwrap();
    assert_eq!(board.assignment("CSCI3180", "hw1").unwrap(), Some(hw1));
    for (student, due) in [(&bob, 3_000), (&alice, 2_500), (&bob, 3_500)] {
        let e = Extension {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            student: student.clone(),
            due: at(due),
        };
        board.change(&Change::Extend(e), &log("extend")).unwrap();
    }
    assert_eq!(
        board.extension("CSCI3180", "hw1", &bob).unwrap(),
        Some(at(3_500))
    );
    let ext = board.extensions("CSCI3180", "hw1").unwrap();
    let who: Vec<(StudentId, SystemTime)> = ext.into_iter().map(|e| (e.student, e.due)).collect();
    assert_eq!(who, [(alice.clone(), at(2_500)), (bob.clone(), at(3_500))]);
    let mut tx = board.begin().unwrap();
    assert_eq!(
        tx.extension("CSCI3180", "hw1", &alice).unwrap(),
        Some(at(2_500))
    );
    drop(tx);

    let grade = |student: &StudentId, score: &str, feedback: Option<FeedbackFile>| Grade {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        student: student.clone(),
        score: score.into(),
        comment: "ok".into(),
        feedback,
        graded_by: "lee".into(),
        graded_at: at(4_000),
    };
    let feedback = FeedbackFile {
        id: "F1".into(),
        file_name: "notes.pdf".into(),
        size: 1234,
        sha256: [9; 32],
    };
    for g in [
        grade(&bob, "7", None),
        grade(&alice, "8.5", Some(feedback.clone())),
        grade(&bob, "9", Some(feedback.clone())),
        grade(&alice, "10", None),
    ] {
        board.change(&Change::Grade(g), &log("grade")).unwrap();
    }
    let expected = [grade(&alice, "10", None), grade(&bob, "9", Some(feedback))];
    assert_eq!(board.grades("CSCI3180", "hw1").unwrap(), expected);
    assert_eq!(board.released("CSCI3180", "hw1").unwrap(), None);
    assert_eq!(
        board.grades_of(&alice, None).unwrap(),
        [(expected[0].clone(), None)]
    );
    for t in [6_000, 7_000] {
        let release = Change::Release {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            at: at(t),
        };
        board.change(&release, &log("release")).unwrap();
    }
    assert_eq!(board.released("CSCI3180", "hw1").unwrap(), Some(at(6_000)));
    assert_eq!(
        board.grades_of(&bob, Some("CSCI3180")).unwrap(),
        [(expected[1].clone(), Some(at(6_000)))]
    );
    assert!(board.grades_of(&bob, Some("ENGG1110")).unwrap().is_empty());

    let mut entry = log("grade");
    entry.student = Some(bob.as_str().to_owned());
    entry.detail = "score 9 — ünïcode".into();
    entry.at = at(8_000);
    let change = Change::Grade(grade(&bob, "9", None));
    board.change(&change, &entry).unwrap();
    let actions: Vec<String> = board
        .log("CSCI3180")
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    // Every change made so far, in order (the log of each course holds its own entries only,
    // here all under CSCI3180).
    assert_eq!(actions.len(), 17);
    assert_eq!(actions[..3], ["course", "course", "course"]);
    assert_eq!(board.log("CSCI3180").unwrap().last(), Some(&entry));
    assert!(board.log("MATH1010").unwrap().is_empty());
}

pub(super) fn the_facts_read_at_once_are_the_facts_read_one_by_one(records: &dyn BoardRecords) {
    let alice = sid("1155000001");
    let bob = sid("1155000002");
    let log = log("setup");
    // Nothing there yet: no assignment, no course, nothing stored.
    let none = records.offer_facts(&alice, "CSCI3180", "hw1").unwrap();
    assert_eq!(none.assignment, None);
    assert!(!none.membership.course_exists);
    assert_eq!(none.usage.submissions, 0);
    with_hw1(records);
    let course = Course {
        course: "CSCI3180".into(),
        title: "Languages".into(),
    };
    records.change(&Change::PutCourse(course), &log).unwrap();
    let students = vec![alice.clone()];
    let class = Change::AddStudents {
        course: "CSCI3180".into(),
        students,
    };
    records.change(&class, &log).unwrap();
    let extension = Extension {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        student: alice.clone(),
        due: at(9_000),
    };
    records.change(&Change::Extend(extension), &log).unwrap();
    let mut tx = records.begin().unwrap();
    tx.insert(&submission("S1", 1)).unwrap();
    tx.insert(&submission("S2", 2)).unwrap();
    // In the transaction, its own records count.
    let facts = tx
        .record_facts(&alice, "CSCI3180", "hw1", "a.txt", 3, &[7; 32])
        .unwrap();
    assert_eq!(facts.assignment, tx.assignment("CSCI3180", "hw1").unwrap());
    assert!(facts.assignment.is_some());
    assert_eq!(facts.usage, tx.usage(&alice, "CSCI3180", "hw1").unwrap());
    assert_eq!(facts.usage.submissions, 2);
    assert_eq!(facts.usage.bytes, 6);
    assert_eq!(facts.versions, 2);
    assert_eq!(facts.extension, Some(at(9_000)));
    let other = tx
        .record_facts(&bob, "CSCI3180", "hw2", "b.txt", 3, &[7; 32])
        .unwrap();
    assert_eq!(
        (other.assignment, other.versions, other.extension),
        (None, 0, None)
    );
    tx.commit().unwrap();
    for who in [&alice, &bob] {
        let facts = records.offer_facts(who, "CSCI3180", "hw1").unwrap();
        let person = PersonId::Student(who.clone());
        assert_eq!(
            facts.assignment,
            records.assignment("CSCI3180", "hw1").unwrap()
        );
        assert_eq!(
            facts.membership,
            records.membership(&person, "CSCI3180").unwrap()
        );
        assert_eq!(
            facts.extension,
            records.extension("CSCI3180", "hw1", who).unwrap()
        );
        assert_eq!(facts.usage, records.usage(who, "CSCI3180", "hw1").unwrap());
    }
    let alice_facts = records.offer_facts(&alice, "CSCI3180", "hw1").unwrap();
    assert!(alice_facts.membership.on_class_list && alice_facts.membership.has_class_list);
    assert_eq!(alice_facts.usage.submissions, 2);
    assert!(
        !records
            .offer_facts(&bob, "CSCI3180", "hw1")
            .unwrap()
            .membership
            .on_class_list
    );
}
