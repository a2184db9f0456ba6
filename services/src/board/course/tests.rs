//! A course run through the store: lists, who may act, admission, extensions, status, grades
//! and the log.
use super::*;
use crate::board::io_refusal;
use handin_core::harness::t0;
use handin_core::msg::UploadOffer;
use handin_core::submit::sha256;
use tempfile::TempDir;

const MAX: u64 = 1 << 20;
const HOUR: Duration = Duration::from_secs(3600);

fn sid(s: &str) -> StudentId {
    StudentId::parse(s).unwrap()
}

fn person(s: &str) -> PersonId {
    PersonId::parse(s).unwrap()
}

fn due() -> SystemTime {
    t0() + 24 * HOUR
}

/// CSCI3180 with teacher `lee` and TA 1155000009 on the staff list, students 1 and 2 on the
/// class list, and hw1 due a day after t0, cut off two days after t0.
fn course() -> (TempDir, Board) {
    let dir = tempfile::tempdir().unwrap();
    Board::init(dir.path()).unwrap();
    let board = Board::open(dir.path()).unwrap();
    board
        .add_course("CSCI3180", "Programming Languages", t0())
        .unwrap();
    board
        .add_staff("CSCI3180", &[person("lee"), person("1155000009")], t0())
        .unwrap();
    board
        .add_students("CSCI3180", &[sid("1155000001"), sid("1155000002")], t0())
        .unwrap();
    let spec = AssignmentSpec {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        due: due(),
        max_size: MAX,
        cutoff: Some(due() + 24 * HOUR),
        grace: Duration::from_secs(300),
    };
    board
        .put_assignment(&spec, false, &Actor::Staff(person("lee")), t0())
        .unwrap();
    (dir, board)
}

fn offer(name: &str, bytes: &[u8]) -> UploadOffer {
    UploadOffer {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: name.into(),
        size: bytes.len() as u64,
        sha256: sha256(bytes),
    }
}

fn submit(
    board: &Board,
    student: &StudentId,
    name: &str,
    bytes: &[u8],
    at: SystemTime,
) -> Result<StoredSubmission, BoardError> {
    let o = offer(name, bytes);
    board.admit(student, &o, at)?;
    let mut up = board.begin_upload()?;
    up.write(bytes).map_err(io_refusal)?;
    board.commit(up, student, &o, at)
}

fn code<T: std::fmt::Debug>(r: Result<T, BoardError>) -> RefusalCode {
    match r {
        Err(BoardError::Refused(r)) => r.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn only_the_course_staff_may_act_and_outsiders_learn_nothing() {
    let (_d, board) = course();
    assert!(board.authorize(&person("lee"), "CSCI3180").is_ok());
    assert!(board.authorize(&person("1155000009"), "CSCI3180").is_ok());
    let stranger = board.authorize(&person("wong"), "CSCI3180").unwrap_err();
    let missing = board.authorize(&person("wong"), "CSCI9999").unwrap_err();
    assert_eq!(stranger.refusal().code, RefusalCode::NotStaff);
    // The same words, apart from the course named in the request itself.
    assert_eq!(
        stranger.refusal().reason.replace("CSCI3180", "X"),
        missing.refusal().reason.replace("CSCI9999", "X")
    );
    // A student of the course is not staff.
    let r = board.extend(
        "CSCI3180",
        "hw1",
        &sid("1155000001"),
        due() + HOUR,
        &Actor::Staff(person("1155000001")),
        t0(),
    );
    assert_eq!(code(r), RefusalCode::NotStaff);
    let courses = board.courses_of(&person("1155000009")).unwrap();
    assert_eq!(courses.len(), 1);
    assert_eq!(courses[0].title, "Programming Languages");
    assert!(board.courses_of(&person("wong")).unwrap().is_empty());
}

#[test]
fn the_class_list_the_cut_off_and_closing_decide_who_may_submit() {
    let (_d, board) = course();
    let alice = sid("1155000001");
    assert!(submit(&board, &alice, "a.txt", b"on time", t0()).is_ok());
    let outsider = sid("1155000077");
    assert_eq!(
        code(submit(&board, &outsider, "a.txt", b"x", t0())),
        RefusalCode::NotOnClassList
    );
    // Late but before the cut-off: taken, and late.
    let late = submit(&board, &alice, "a.txt", b"late", due() + HOUR).unwrap();
    assert!(late.late);
    assert_eq!(late.version, 2);
    // After the cut-off: refused.
    assert_eq!(
        code(submit(
            &board,
            &alice,
            "a.txt",
            b"too late",
            due() + 25 * HOUR
        )),
        RefusalCode::Closed
    );
    // Closed, then reopened.
    let lee = Actor::Staff(person("lee"));
    board
        .set_open("CSCI3180", "hw1", false, &lee, t0())
        .unwrap();
    assert_eq!(
        code(submit(&board, &alice, "b.txt", b"x", t0())),
        RefusalCode::Closed
    );
    board.set_open("CSCI3180", "hw1", true, &lee, t0()).unwrap();
    assert!(submit(&board, &alice, "b.txt", b"x", t0()).is_ok());
    // Changing the times keeps the assignment open.
    let a = board.assignment("CSCI3180", "hw1").unwrap().unwrap();
    assert!(a.open);
}

#[test]
fn an_extension_moves_lateness_and_the_cut_off_for_its_student_only() {
    let (_d, board) = course();
    let (alice, bob) = (sid("1155000001"), sid("1155000002"));
    let ta = Actor::Staff(person("1155000009"));
    let until = due() + 48 * HOUR;
    board
        .extend("CSCI3180", "hw1", &alice, until, &ta, t0())
        .unwrap();
    let at = due() + 30 * HOUR; // after the cut-off, before alice's extended due time
    let s = submit(&board, &alice, "a.txt", b"extended", at).unwrap();
    assert!(!s.late);
    assert_eq!(unix_secs(s.due), unix_secs(until));
    assert_eq!(s.receipt_body().due_at, unix_secs(until));
    assert_eq!(
        code(submit(&board, &bob, "a.txt", b"x", at)),
        RefusalCode::Closed
    );
    // An extension on a missing assignment is refused.
    assert_eq!(
        code(board.extend("CSCI3180", "hw9", &alice, until, &ta, t0())),
        RefusalCode::NoSuchAssignment
    );
}

#[test]
fn the_status_has_a_row_per_listed_student_and_per_submitter_with_the_current_files() {
    let (_d, board) = course();
    let (alice, bob) = (sid("1155000001"), sid("1155000002"));
    // Someone who submitted before the class list existed for them still shows.
    let carol = sid("1155000003");
    board
        .add_students("CSCI3180", std::slice::from_ref(&carol), t0())
        .unwrap();
    submit(&board, &alice, "report.pdf", b"v1", t0()).unwrap();
    submit(&board, &alice, "report.pdf", b"v2", t0() + HOUR).unwrap();
    submit(&board, &alice, "final.pdf", b"f", t0() + 2 * HOUR).unwrap();
    submit(&board, &carol, "a.txt", b"late", due() + HOUR).unwrap();
    let lee = Actor::Staff(person("lee"));
    board
        .extend("CSCI3180", "hw1", &bob, due() + 5 * HOUR, &lee, t0())
        .unwrap();
    let rows = board.status("CSCI3180", "hw1").unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.student.as_str()).collect();
    assert_eq!(ids, ["1155000001", "1155000002", "1155000003"]);
    let a = &rows[0];
    assert_eq!(a.standing, Standing::OnTime);
    let files: Vec<(&str, u32)> = a
        .files
        .iter()
        .map(|f| (f.file_name.as_str(), f.version))
        .collect();
    assert_eq!(files, [("final.pdf", 1), ("report.pdf", 2)]);
    assert_eq!(rows[1].standing, Standing::Nothing);
    assert!(rows[1].extended);
    assert_eq!(unix_secs(rows[1].due), unix_secs(due() + 5 * HOUR));
    assert_eq!(rows[2].standing, Standing::Late);
    // An extension granted afterwards makes carol's work on time in the status.
    board
        .extend("CSCI3180", "hw1", &carol, due() + 2 * HOUR, &lee, t0())
        .unwrap();
    let rows = board.status("CSCI3180", "hw1").unwrap();
    assert_eq!(rows[2].standing, Standing::OnTime);
}

#[test]
fn grades_are_invisible_until_released_and_every_action_is_logged() {
    let (_d, board) = course();
    let alice = sid("1155000001");
    let ta = Actor::Staff(person("1155000009"));
    let grade = Grade {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        student: alice.clone(),
        score: "87.5".into(),
        comment: "Good.\nSee the margins.".into(),
        feedback: None,
        graded_by: String::new(),
        graded_at: t0(),
    };
    board.grade(&grade, &ta, t0() + HOUR).unwrap();
    assert!(board
        .released_grades(&alice, None, t0() + HOUR)
        .unwrap()
        .is_empty());
    let bad = Grade {
        score: "A-".into(),
        ..grade.clone()
    };
    assert_eq!(code(board.grade(&bad, &ta, t0())), RefusalCode::BadField);
    board
        .release("CSCI3180", "hw1", &ta, t0() + 2 * HOUR)
        .unwrap();
    let seen = board
        .released_grades(&alice, Some("CSCI3180"), t0() + 3 * HOUR)
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].grade.score, "87.5");
    assert_eq!(seen[0].grade.graded_by, "1155000009");
    assert!(board
        .released_grades(&sid("1155000002"), None, t0() + 3 * HOUR)
        .unwrap()
        .is_empty());
    let log = board.log("CSCI3180").unwrap();
    let actions: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("operator", "course"),
            ("operator", "staff"),
            ("operator", "students"),
            ("lee", "assignment"),
            ("1155000009", "grade"),
            ("1155000009", "release"),
        ]
    );
    assert_eq!(log[4].student.as_deref(), Some("1155000001"));
    assert!(board.log("CSCI9999").unwrap().is_empty());
}

#[test]
fn times_that_make_no_sense_are_refused() {
    let (_d, board) = course();
    let lee = Actor::Staff(person("lee"));
    let mut spec = AssignmentSpec {
        course: "CSCI3180".into(),
        assignment: "hw2".into(),
        due: t0() - HOUR,
        max_size: MAX,
        cutoff: None,
        grace: Duration::ZERO,
    };
    assert_eq!(
        code(board.put_assignment(&spec, false, &lee, t0())),
        RefusalCode::DueInPast
    );
    assert!(board.put_assignment(&spec, true, &lee, t0()).is_ok());
    spec.due = due();
    spec.cutoff = Some(due() - HOUR);
    assert!(board.put_assignment(&spec, false, &lee, t0()).is_err());
    // Staff of another course cannot add assignments here.
    board.add_course("CSCI3150", "", t0()).unwrap();
    board
        .add_staff("CSCI3150", &[person("wong")], t0())
        .unwrap();
    spec.cutoff = None;
    assert_eq!(
        code(board.put_assignment(&spec, false, &Actor::Staff(person("wong")), t0())),
        RefusalCode::NotStaff
    );
    // Lists need an existing course.
    assert!(board
        .add_students("CSCI0000", &[sid("1155000001")], t0())
        .is_err());
}
