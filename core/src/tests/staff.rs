//! The staff protocol on the in-memory harness: a teacher and a TA run a course from the
//! assignment to the released grades, and everyone else is refused.

use super::t0;
use crate::error::{Error, Refusal, RefusalCode};
use crate::harness::{Campus, Pair};
use crate::msg::{AssignmentSpec, FeedbackFile, GradeSpec, Message, StaffMessage};
use crate::pki::{unix_secs, PersonId, StudentId};
use crate::staff::{StaffClient, StaffClientEvent, StaffServer, StaffServerEvent};
use crate::submit::{sha256, SubmitClientEvent};
use crate::{Identity, Role, SubmissionState};
use std::time::Duration;

const ALICE: &str = "1155000001";
const BOB: &str = "1155000002";
const CAROL: &str = "1155000003";
const TA: &str = "1155000099";
const OUTSIDER: &str = "1155000077";

fn sid(s: &str) -> StudentId {
    StudentId::parse(s).expect("a test ID")
}

/// A campus with CSCI3180 (taught by prof.lee and a TA, class list Alice, Bob, Carol) and
/// CSCI2100 (taught by prof.wong).
fn course(campus: &mut Campus) {
    campus.board.add_course(
        "CSCI3180",
        "Principles of Programming Languages",
        &["prof.lee", TA],
        &[ALICE, BOB, CAROL],
    );
    campus
        .board
        .add_course("CSCI2100", "Data Structures", &["prof.wong"], &[]);
}

fn connected(campus: &mut Campus, identity: Identity) -> Pair<StaffClient, StaffServer> {
    let mut pair = campus.staff_pair(Some(identity));
    campus.connect_staff(&mut pair).expect("connected");
    pair
}

fn refusal(events: &[StaffClientEvent]) -> Refusal {
    match events.last() {
        Some(StaffClientEvent::Refused(r)) => r.clone(),
        other => panic!("expected a refusal, got {other:?} in {events:?}"),
    }
}

fn done(events: &[StaffClientEvent]) -> String {
    match events.last() {
        Some(StaffClientEvent::Done(d)) => d.clone(),
        other => panic!("expected Done, got {other:?} in {events:?}"),
    }
}

fn spec(campus: &Campus, assignment: &str, due_in: u64) -> AssignmentSpec {
    AssignmentSpec {
        course: "CSCI3180".into(),
        assignment: assignment.into(),
        due: unix_secs(campus.now.wall) + due_in,
        max_size: 1 << 20,
        cutoff: Some(unix_secs(campus.now.wall) + 2 * due_in),
        grace_secs: 300,
        allow_past: false,
    }
}

#[test]
fn a_teacher_and_a_ta_are_told_who_they_are() {
    let mut campus = Campus::new(t0());
    let lee = campus.new_staff("prof.lee");
    let ta = campus.new_student(TA);
    let mut pair = campus.staff_pair(Some(lee));
    campus.pump_staff(&mut pair);
    match pair.client.poll_event() {
        Some(StaffClientEvent::Connected { person, .. }) => {
            assert_eq!(person.to_string(), "prof.lee");
            assert!(matches!(person, PersonId::Staff(_)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pair.server.person().map(|p| p.to_string()),
        Some("prof.lee".to_string())
    );
    let pair = connected(&mut campus, ta);
    assert_eq!(pair.client.person(), Some(&PersonId::Student(sid(TA))));
}

#[test]
fn a_course_is_run_from_the_assignment_to_the_released_grades() {
    let mut campus = Campus::new(t0());
    course(&mut campus);
    let lee = campus.new_staff("prof.lee");
    let ta = campus.new_student(TA);
    let alice = campus.new_student(ALICE);
    let bob = campus.new_student(BOB);
    let outsider = campus.new_student(OUTSIDER);
    let mut staff = connected(&mut campus, lee);

    // Courses: only the ones prof.lee teaches.
    let ev = campus.staff_request(&mut staff, |c| c.courses(), None);
    let courses: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            StaffClientEvent::Course(c) => Some(c.course.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(courses, ["CSCI3180"]);
    assert!(matches!(ev.last(), Some(StaffClientEvent::RowsEnd)));

    // A new assignment due in a day, cut off a day later.
    let hw2 = spec(&campus, "hw2", 86_400);
    done(&campus.staff_request(&mut staff, |c| c.put_assignment(&hw2), None));

    // Alice submits on time, the outsider is not on the class list.
    let mut a = campus.submit_pair(Some(alice.clone()));
    campus.connect_submit(&mut a).expect("alice");
    let (_, alice_receipt) = campus
        .submit(&mut a, "CSCI3180", "hw2", "main.rs", b"fn main() {}")
        .expect("on time");
    let (_, alice_v2) = campus
        .submit(&mut a, "CSCI3180", "hw2", "main.rs", b"fn main() { v2 }")
        .expect("a second version");
    assert_eq!(alice_v2.version, 2);
    let mut o = campus.submit_pair(Some(outsider));
    campus.connect_submit(&mut o).expect("outsider");
    let r = campus
        .submit(&mut o, "CSCI3180", "hw2", "x.txt", b"x")
        .expect_err("not on the class list");
    assert_eq!(r.code, RefusalCode::NotOnClassList);

    // Bob gets an extension, then submits after the due time: on time for him.
    let due = hw2.due + 3_600 * 36;
    done(&campus.staff_request(
        &mut staff,
        |c| c.extend("CSCI3180", "hw2", &sid(BOB), due),
        None,
    ));
    campus.now += Duration::from_secs(86_400 + 3_600);
    let mut b = campus.submit_pair(Some(bob));
    campus.connect_submit(&mut b).expect("bob");
    let (_, bob_receipt) = campus
        .submit(&mut b, "CSCI3180", "hw2", "main.rs", b"bob's")
        .expect("extended");
    assert!(!bob_receipt.late);
    assert_eq!(bob_receipt.due_at, due);
    // Alice resubmits now: late.
    let mut a = campus.submit_pair(Some(alice.clone()));
    campus.connect_submit(&mut a).expect("alice again");
    let (_, late) = campus
        .submit(&mut a, "CSCI3180", "hw2", "extra.txt", b"late")
        .expect("late but accepted");
    assert!(late.late);
    // After the cut-off, nothing is taken.
    campus.now += Duration::from_secs(86_400);
    let mut a = campus.submit_pair(Some(alice.clone()));
    campus
        .connect_submit(&mut a)
        .expect("alice after the cut-off");
    let r = campus
        .submit(&mut a, "CSCI3180", "hw2", "main.rs", b"too late")
        .expect_err("past the cut-off");
    assert_eq!(r.code, RefusalCode::Closed);

    // Status: one row per student on the class list, with the current submission.
    let again = campus_identity(&mut campus, "prof.lee");
    let mut staff = connected(&mut campus, again);
    let ev = campus.staff_request(&mut staff, |c| c.status("CSCI3180", "hw2"), None);
    let rows: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            StaffClientEvent::Status(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert!(matches!(ev.last(), Some(StaffClientEvent::RowsEnd)));
    let who: Vec<_> = rows.iter().map(|r| r.student_id.as_str()).collect();
    assert_eq!(who, [ALICE, BOB, CAROL]);
    let alice_row = &rows[0];
    assert_eq!(alice_row.state, SubmissionState::Late);
    assert!(!alice_row.extended && alice_row.on_class_list);
    let files: Vec<_> = alice_row
        .files
        .iter()
        .map(|f| (f.file_name.as_str(), f.version))
        .collect();
    assert_eq!(files, [("extra.txt", 1), ("main.rs", 2)]);
    assert_eq!(rows[1].state, SubmissionState::OnTime);
    assert!(rows[1].extended);
    assert_eq!(rows[1].due_at, due);
    assert_eq!(rows[2].state, SubmissionState::Nothing);
    assert!(rows[2].files.is_empty());

    // Collect: each file with its receipt, checked on arrival.
    let wanted = &alice_row.files[1];
    let id = wanted.id.clone();
    let ev = campus.staff_request(&mut staff, |c| c.fetch(&id), None);
    let mut bytes = Vec::new();
    let mut got_receipt = None;
    for e in &ev {
        match e {
            StaffClientEvent::FetchBegin { entry, receipt } => {
                assert_eq!(entry.id, alice_v2.id);
                got_receipt = Some(receipt.clone());
            }
            StaffClientEvent::FetchData(d) => bytes.extend_from_slice(d),
            _ => {}
        }
    }
    assert!(matches!(ev.last(), Some(StaffClientEvent::FetchEnd)));
    assert_eq!(bytes, b"fn main() { v2 }");
    let body = got_receipt
        .expect("a receipt")
        .verify(&campus.blackboard_cert.cert)
        .expect("signed by Blackboard");
    assert_eq!(body, alice_v2);
    assert_ne!(alice_receipt.id, alice_v2.id);

    // Grades: Bob's with a comment, Alice's with a feedback file.
    let plain = GradeSpec {
        course: "CSCI3180".into(),
        assignment: "hw2".into(),
        student: sid(BOB),
        score: "17".into(),
        comment: "Well done.\nSee the style notes.".into(),
        feedback: None,
    };
    done(&campus.staff_request(&mut staff, |c| c.grade(&plain), None));
    let notes = "Feedback for Alice: 好".repeat(2000).into_bytes();
    let with_file = GradeSpec {
        student: sid(ALICE),
        score: "8.5".into(),
        comment: String::new(),
        feedback: Some(FeedbackFile {
            file_name: "feedback.txt".into(),
            size: notes.len() as u64,
            sha256: sha256(&notes),
        }),
        ..plain.clone()
    };
    let ev = campus.staff_request(&mut staff, |c| c.grade(&with_file), Some(&notes));
    assert!(
        matches!(ev.first(), Some(StaffClientEvent::Ready)),
        "{ev:?}"
    );
    done(&ev);

    // Before the release, students see nothing.
    let mut a = campus.submit_pair(Some(alice.clone()));
    campus.connect_submit(&mut a).expect("alice");
    assert!(grades(&mut campus, &mut a).is_empty());
    a.client.feedback("CSCI3180", "hw2").expect("asks");
    campus.pump_submit(&mut a);
    match a.client.poll_event() {
        Some(SubmitClientEvent::Refused(r)) => assert_eq!(r.code, RefusalCode::NotFound),
        other => panic!("{other:?}"),
    }

    // The TA releases; then Alice sees her grade and downloads her feedback.
    let mut ta_pair = connected(&mut campus, ta);
    done(&campus.staff_request(&mut ta_pair, |c| c.release("CSCI3180", "hw2"), None));
    let g = grades(&mut campus, &mut a);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].score, "8.5");
    assert_eq!(
        g[0].feedback.as_ref().map(|f| f.size),
        Some(notes.len() as u64)
    );
    a.client.feedback("CSCI3180", "hw2").expect("asks");
    campus.pump_submit(&mut a);
    let mut got = Vec::new();
    loop {
        match a.client.poll_event() {
            Some(SubmitClientEvent::FeedbackBegin(f)) => assert_eq!(f.file_name, "feedback.txt"),
            Some(SubmitClientEvent::FeedbackData(d)) => got.extend_from_slice(&d),
            Some(SubmitClientEvent::FeedbackEnd) => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, notes);

    // Every action is in the log, with who did it.
    let ev = campus.staff_request(&mut ta_pair, |c| c.log("CSCI3180"), None);
    let log: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            StaffClientEvent::Log(l) => {
                Some((l.actor.clone(), l.action.clone(), l.student.clone()))
            }
            _ => None,
        })
        .collect();
    let lee = "prof.lee".to_string();
    assert_eq!(
        log,
        [
            (lee.clone(), "put-assignment".into(), None),
            (lee.clone(), "extend".into(), Some(BOB.into())),
            (lee.clone(), "grade".into(), Some(BOB.into())),
            (lee, "grade".into(), Some(ALICE.into())),
            (TA.into(), "release".into(), None),
        ]
    );
    assert!(staff.client.error().is_none() && staff.server.error().is_none());
}

/// Another certificate for a staff login (a second device, say).
fn campus_identity(campus: &mut Campus, login: &str) -> Identity {
    campus.new_staff(login)
}

fn grades(
    campus: &mut Campus,
    pair: &mut Pair<crate::SubmitClient, crate::SubmitServer>,
) -> Vec<crate::GradeEntry> {
    pair.client.grades(None).expect("asks");
    campus.pump_submit(pair);
    let mut out = Vec::new();
    loop {
        match pair.client.poll_event() {
            Some(SubmitClientEvent::Grade(g)) => out.push(g),
            Some(SubmitClientEvent::GradesEnd) => return out,
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn people_outside_a_course_learn_nothing_about_it() {
    let mut campus = Campus::new(t0());
    course(&mut campus);
    let wong = campus.new_staff("prof.wong");
    let alice = campus.new_student(ALICE);
    for identity in [wong, alice] {
        let mut pair = connected(&mut campus, identity);
        for course in ["CSCI3180", "NOSUCH101"] {
            let ev = campus.staff_request(&mut pair, |c| c.status(course, "hw1"), None);
            let r = refusal(&ev);
            assert_eq!(r.code, RefusalCode::NotStaff);
            assert_eq!(ev.len(), 1, "no rows before the refusal");
            let ev = campus.staff_request(&mut pair, |c| c.log(course), None);
            assert_eq!(refusal(&ev).code, RefusalCode::NotStaff);
            let ev = campus.staff_request(&mut pair, |c| c.release(course, "hw1"), None);
            assert_eq!(refusal(&ev).code, RefusalCode::NotStaff);
        }
        // Someone else's submission is answered as a missing one.
        let ev = campus.staff_request(&mut pair, |c| c.fetch("s1"), None);
        assert_eq!(refusal(&ev).code, RefusalCode::NotFound);
        assert!(
            pair.client.is_connected(),
            "refusals leave the connection open"
        );
    }
    assert!(campus.board.log.is_empty());
}

#[test]
fn malformed_fields_are_refused_by_the_core_before_the_application_sees_them() {
    let mut campus = Campus::new(t0());
    course(&mut campus);
    let lee = campus.new_staff("prof.lee");
    let mut pair = connected(&mut campus, lee);
    let now = unix_secs(campus.now.wall);
    let good = spec(&campus, "hw9", 3_600);
    let cases: Vec<(AssignmentSpec, RefusalCode)> = vec![
        (
            AssignmentSpec {
                course: "../etc".into(),
                ..good.clone()
            },
            RefusalCode::BadField,
        ),
        (
            AssignmentSpec {
                due: now - 1,
                cutoff: None,
                ..good.clone()
            },
            RefusalCode::DueInPast,
        ),
        (
            AssignmentSpec {
                cutoff: Some(good.due - 1),
                ..good.clone()
            },
            RefusalCode::BadField,
        ),
    ];
    for (s, code) in cases {
        let ev = campus.staff_request(&mut pair, |c| c.put_assignment(&s), None);
        assert_eq!(refusal(&ev).code, code, "{s:?}");
    }
    let grade = |score: &str, comment: &str, file: &str| GradeSpec {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        student: sid(ALICE),
        score: score.into(),
        comment: comment.into(),
        feedback: (!file.is_empty()).then(|| FeedbackFile {
            file_name: file.into(),
            size: 1,
            sha256: [0; 32],
        }),
    };
    for (g, code) in [
        (grade("1e9", "", ""), RefusalCode::BadField),
        (grade("12345678901234567", "", ""), RefusalCode::BadField),
        (grade("9", "bell\u{7}", ""), RefusalCode::BadField),
        (grade("9", &"x".repeat(4001), ""), RefusalCode::BadField),
        (grade("9", "", "../../x"), RefusalCode::BadFileName),
    ] {
        let ev = campus.staff_request(&mut pair, |c| c.grade(&g), None);
        assert_eq!(refusal(&ev).code, code, "{g:?}");
    }
    // A student ID that is not one, and a time after the year 9999, sent raw.
    for m in [
        StaffMessage::Extend {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            student: "prof.lee".into(),
            due: now,
        },
        StaffMessage::Extend {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            student: ALICE.into(),
            due: u64::MAX,
        },
        StaffMessage::Fetch {
            id: "../../etc/passwd".into(),
        },
    ] {
        // The client did not ask, so the refusal will confuse it: one connection per case.
        let lee = campus.new_staff("prof.lee");
        let mut pair = connected(&mut campus, lee);
        let mut wire = bytes::BytesMut::new();
        Message::Staff(m).encode(&mut wire).expect("small");
        pair.client.danger_send_raw(&wire);
        pair.drive();
        match pair.server.poll_event() {
            Some(StaffServerEvent::Rejected(r)) => assert_eq!(r.code, RefusalCode::BadField),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        campus.board.log.is_empty(),
        "nothing reached the application"
    );
}

#[test]
fn a_feedback_file_that_does_not_match_its_declaration_is_refused_and_nothing_stored() {
    let mut campus = Campus::new(t0());
    course(&mut campus);
    let lee = campus.new_staff("prof.lee");
    let mut pair = connected(&mut campus, lee);
    let data = b"the feedback".to_vec();
    let g = |size: u64, sha256: [u8; 32]| GradeSpec {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        student: sid(ALICE),
        score: "3".into(),
        comment: String::new(),
        feedback: Some(FeedbackFile {
            file_name: "f.txt".into(),
            size,
            sha256,
        }),
    };
    for (spec, code) in [
        (
            g(data.len() as u64 + 1, sha256(&data)),
            RefusalCode::SizeMismatch,
        ),
        (
            g(data.len() as u64 - 1, sha256(&data)),
            RefusalCode::SizeMismatch,
        ),
        (g(data.len() as u64, [7; 32]), RefusalCode::HashMismatch),
    ] {
        let ev = campus.staff_request(&mut pair, |c| c.grade(&spec), Some(&data));
        assert_eq!(refusal(&ev).code, code);
        assert!(pair.client.is_connected() && !pair.client.is_uploading());
    }
    assert!(campus.board.log.is_empty());
    // The connection is still good for an honest one.
    let honest = g(data.len() as u64, sha256(&data));
    done(&campus.staff_request(&mut pair, |c| c.grade(&honest), Some(&data)));
}

#[test]
fn a_refusal_in_the_middle_of_a_feedback_upload_leaves_the_connection_usable() {
    let mut campus = Campus::new(t0());
    course(&mut campus);
    let lee = campus.new_staff("prof.lee");
    let mut pair = connected(&mut campus, lee);
    let data = vec![1u8; 100_000];
    let spec = GradeSpec {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        student: sid(ALICE),
        score: "3".into(),
        comment: String::new(),
        feedback: Some(FeedbackFile {
            file_name: "f.bin".into(),
            size: data.len() as u64,
            sha256: sha256(&data),
        }),
    };
    pair.client.grade(&spec).expect("asks");
    pair.drive();
    assert!(matches!(
        pair.server.poll_event(),
        Some(StaffServerEvent::Request(_))
    ));
    pair.server.accept_feedback().expect("accepts");
    pair.drive();
    assert!(matches!(
        pair.client.poll_event(),
        Some(StaffClientEvent::Ready)
    ));
    pair.client.send_data(&data[..50_000]).expect("sends");
    pair.drive();
    pair.server
        .refuse(Refusal::new(RefusalCode::Storage, "disk full"))
        .expect("refuses");
    pair.client.send_data(&data[50_000..]).ok();
    pair.drive();
    let mut aborted = false;
    while let Some(ev) = pair.server.poll_event() {
        aborted |= matches!(ev, StaffServerEvent::FeedbackAborted { .. });
    }
    assert!(aborted);
    let mut refused = false;
    while let Some(ev) = pair.client.poll_event() {
        refused |= matches!(ev, StaffClientEvent::Refused(ref r) if r.code == RefusalCode::Storage);
    }
    assert!(refused);
    let ev = campus.staff_request(&mut pair, |c| c.courses(), None);
    assert!(
        matches!(ev.last(), Some(StaffClientEvent::RowsEnd)),
        "{ev:?}"
    );
    assert!(pair.server.error().is_none() && pair.client.error().is_none());
}

#[test]
fn a_staff_login_cannot_submit_homework() {
    let mut campus = Campus::new(t0());
    let lee = campus.new_staff("prof.lee");
    let mut pair = campus.submit_pair(Some(lee));
    campus.pump_submit(&mut pair);
    match pair.server.error() {
        Some(Error::Refused(r)) => {
            assert_eq!(r.code, RefusalCode::BadCertificate);
            assert!(
                r.reason.ends_with(crate::peer::STAFF_CANNOT_SUBMIT),
                "{}",
                r.reason
            );
        }
        other => panic!("{other:?}"),
    }
    match pair.client.error() {
        Some(Error::Remote(r)) => assert!(r.reason.contains("use the staff command")),
        other => panic!("{other:?}"),
    }
    assert!(!pair.client.is_connected());
}

#[test]
fn each_protocol_refuses_a_client_of_the_other_at_the_handshake() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    // A staff client at a submission-only server, and the other way round: ALPN does not
    // match, so the TLS handshake fails with no_application_protocol.
    let staff_cfg = campus.client_config(Role::Staff, Some(alice.clone()));
    let mut pair = Pair::new(
        StaffClient::new(
            &staff_cfg,
            crate::config::server_name("localhost").expect("name"),
            campus.now,
        )
        .expect("client"),
        crate::SubmitServer::new(campus.blackboard.clone(), campus.now).expect("server"),
        campus.now,
    );
    pair.drive();
    assert!(
        matches!(
            pair.client.error(),
            Some(Error::Tls(rustls::Error::AlertReceived(
                rustls::AlertDescription::NoApplicationProtocol
            )))
        ),
        "{:?}",
        pair.client.error()
    );
    let submit_cfg = campus.client_config(Role::Submit, Some(alice));
    let mut pair = Pair::new(
        crate::SubmitClient::new(
            &submit_cfg,
            crate::config::server_name("localhost").expect("name"),
            campus.now,
        )
        .expect("client"),
        StaffServer::new(campus.staff.clone(), campus.now).expect("server"),
        campus.now,
    );
    pair.drive();
    assert!(matches!(
        pair.client.error(),
        Some(Error::Tls(rustls::Error::AlertReceived(
            rustls::AlertDescription::NoApplicationProtocol
        )))
    ));
    // A staff connection needs a staff configuration on both sides.
    assert!(StaffServer::new(campus.blackboard.clone(), campus.now).is_err());
    assert!(StaffClient::new(
        &submit_cfg,
        crate::config::server_name("localhost").expect("name"),
        campus.now
    )
    .is_err());
}

#[test]
fn a_staff_connection_needs_a_certificate() {
    let mut campus = Campus::new(t0());
    let mut pair = campus.staff_pair(None);
    campus.pump_staff(&mut pair);
    assert!(pair.server.error().is_some());
    assert!(!pair.client.is_connected());
}

#[test]
fn revoking_a_ta_ends_their_staff_connection_and_a_revoked_login_cannot_connect() {
    let mut campus = Campus::new(t0());
    course(&mut campus);
    let ta = campus.new_student(TA);
    let mut pair = connected(&mut campus, ta);
    campus.revoke(TA);
    let now = pair.now;
    let r = pair.server.set_config(now, campus.staff.clone());
    assert!(matches!(r, Err(Error::Refused(ref r)) if r.code == RefusalCode::Revoked));
    pair.drive();
    match pair.client.error() {
        Some(Error::Remote(r)) => {
            assert_eq!(r.code, RefusalCode::Revoked);
            assert!(r.reason.contains(&format!("student {TA}")), "{}", r.reason);
        }
        other => panic!("{other:?}"),
    }

    let lee = campus.new_staff("prof.lee");
    campus.revoke_staff("prof.lee");
    let mut pair = campus.staff_pair(Some(lee));
    campus.pump_staff(&mut pair);
    assert!(!pair.client.is_connected());
    assert!(matches!(
        pair.server.error(),
        Some(Error::Tls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Revoked
        )))
    ));
}

#[test]
fn answers_out_of_order_are_usage_errors_and_change_nothing() {
    let mut campus = Campus::new(t0());
    course(&mut campus);
    let lee = campus.new_staff("prof.lee");
    let mut pair = connected(&mut campus, lee);
    let s = &mut pair.server;
    assert!(s.done("x").is_err());
    assert!(s.finish_rows().is_err());
    assert!(s.accept_feedback().is_err());
    assert!(s.refuse(Refusal::new(RefusalCode::Internal, "x")).is_err());
    pair.client.status("CSCI3180", "hw1").expect("asks");
    pair.drive();
    assert!(matches!(
        pair.server.poll_event(),
        Some(StaffServerEvent::Request(
            crate::StaffRequest::Status { .. }
        ))
    ));
    // A row of another assignment, or one whose state contradicts its files, is not sent.
    let mut row = crate::StatusRow {
        student_id: ALICE.into(),
        on_class_list: true,
        due_at: 0,
        extended: false,
        state: SubmissionState::Nothing,
        files: vec![crate::SubmissionEntry {
            id: "s1".into(),
            student_id: ALICE.into(),
            course: "CSCI3180".into(),
            assignment: "hw2".into(),
            file_name: "a".into(),
            size: 0,
            sha256: [0; 32],
            received_at: 0,
            late: false,
            version: 1,
        }],
        committed_at: None,
    };
    assert!(pair.server.send_status(&row).is_err());
    row.files[0].assignment = "hw1".into();
    assert!(
        pair.server.send_status(&row).is_err(),
        "state Nothing with a file"
    );
    row.state = SubmissionState::OnTime;
    assert!(pair
        .server
        .send_course(&crate::CourseRow {
            course: "x".into(),
            title: String::new()
        })
        .is_err());
    pair.server.send_status(&row).expect("a good row");
    pair.server.finish_rows().expect("ends");
    pair.drive();
    let mut rows = 0;
    while let Some(ev) = pair.client.poll_event() {
        rows += usize::from(matches!(ev, StaffClientEvent::Status(_)));
    }
    assert_eq!(rows, 1);
    // A client request while one is in flight is refused by the client itself.
    pair.client.courses().expect("asks");
    assert!(pair.client.courses().is_err());
}

#[test]
fn a_staff_message_in_the_wrong_direction_or_state_is_fatal() {
    let mut campus = Campus::new(t0());
    course(&mut campus);
    let lee = campus.new_staff("prof.lee");
    let mut pair = connected(&mut campus, lee);
    let mut wire = bytes::BytesMut::new();
    Message::Staff(StaffMessage::Done {
        detail: "forged".into(),
    })
    .encode(&mut wire)
    .expect("small");
    pair.client.danger_send_raw(&wire);
    campus.pump_staff(&mut pair);
    assert!(matches!(pair.server.error(), Some(Error::Protocol(_))));
    assert!(pair.server.is_closed());

    let lee = campus.new_staff("prof.lee");
    let mut pair = connected(&mut campus, lee);
    let mut wire = bytes::BytesMut::new();
    Message::Staff(StaffMessage::RowsEnd)
        .encode(&mut wire)
        .expect("small");
    pair.server.danger_send_raw(&wire);
    pair.drive();
    assert!(matches!(pair.client.error(), Some(Error::Protocol(_))));
}
