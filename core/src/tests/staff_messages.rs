//! The staff protocol's messages and the students' grade messages on the wire: every one
//! round-trips, every truncation and every hostile count is refused.

use crate::error::{Refusal, RefusalCode};
use crate::frame::{Frame, FrameDecoder, HEADER_LEN};
use crate::msg::{
    staff::tag as staff_tag, tag, AssignmentSpec, CourseRow, FeedbackFile, GradeEntry, LogRow,
    Message, StaffMessage, StatusRow, SubmissionEntry, SubmissionState,
};
use bytes::{Bytes, BytesMut};

fn entry(n: u32) -> SubmissionEntry {
    SubmissionEntry {
        id: format!("S{n}"),
        student_id: "1155000001".into(),
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: format!("報告 {n}.pdf"),
        size: 1234,
        sha256: [n as u8; 32],
        received_at: 1_788_220_800,
        late: n % 2 == 0,
        version: n,
    }
}

fn feedback() -> FeedbackFile {
    FeedbackFile {
        file_name: "hw1-feedback.pdf".into(),
        size: 77,
        sha256: [9; 32],
    }
}

/// One of every message added for the staff role, with awkward values where there are some.
pub(super) fn samples() -> Vec<Message> {
    let s = |m| Message::Staff(m);
    vec![
        Message::Grades { course: None },
        Message::Grades {
            course: Some("CSCI3180".into()),
        },
        Message::GradeEntry(GradeEntry {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            score: "8.5".into(),
            comment: "Good.\n\tSee p. 3 — 好".into(),
            feedback: Some(feedback()),
            released_at: u64::MAX,
        }),
        Message::GradeEntry(GradeEntry {
            course: "C".into(),
            assignment: "a".into(),
            score: "0".into(),
            comment: String::new(),
            feedback: None,
            released_at: 0,
        }),
        Message::Feedback {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
        },
        Message::FeedbackBegin(feedback()),
        s(StaffMessage::Courses),
        s(StaffMessage::PutAssignment(AssignmentSpec {
            course: "CSCI3180".into(),
            assignment: "hw2".into(),
            due: 1_790_000_000,
            max_size: 10 << 20,
            cutoff: Some(1_790_086_400),
            grace_secs: 300,
            allow_past: false,
        })),
        s(StaffMessage::PutAssignment(AssignmentSpec {
            course: "X".into(),
            assignment: "y".into(),
            due: 0,
            max_size: u64::MAX,
            cutoff: None,
            grace_secs: 0,
            allow_past: true,
        })),
        s(StaffMessage::SetOpen {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            open: false,
        }),
        s(StaffMessage::Status {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
        }),
        s(StaffMessage::Fetch { id: "S1".into() }),
        s(StaffMessage::Extend {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            student: "1155000001".into(),
            due: 1_790_000_000,
        }),
        s(StaffMessage::Grade {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            student: "1155000001".into(),
            score: "17".into(),
            comment: "line one\nline two".into(),
            feedback: Some(feedback()),
        }),
        s(StaffMessage::Grade {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            student: "1155000002".into(),
            score: "-1".into(),
            comment: String::new(),
            feedback: None,
        }),
        s(StaffMessage::Release {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
        }),
        s(StaffMessage::Log {
            course: "CSCI3180".into(),
        }),
        s(StaffMessage::CourseRow(CourseRow {
            course: "CSCI3180".into(),
            title: "Principles of Programming Languages".into(),
        })),
        s(StaffMessage::StatusRow(StatusRow {
            student_id: "1155000001".into(),
            on_class_list: true,
            due_at: 1_790_000_000,
            extended: true,
            state: SubmissionState::Late,
            files: vec![entry(1), entry(2)],
            committed_at: Some(1_800_000_000),
        })),
        s(StaffMessage::StatusRow(StatusRow {
            student_id: "1155000009".into(),
            on_class_list: false,
            due_at: 0,
            extended: false,
            state: SubmissionState::Nothing,
            files: Vec::new(),
            committed_at: None,
        })),
        s(StaffMessage::LogRow(LogRow {
            at: 1_788_220_800,
            actor: "prof.lee".into(),
            action: "extend".into(),
            student: Some("1155000001".into()),
            detail: "hw1 due 1790000000".into(),
        })),
        s(StaffMessage::LogRow(LogRow {
            at: 0,
            actor: "1155000007".into(),
            action: "release".into(),
            student: None,
            detail: String::new(),
        })),
        s(StaffMessage::RowsEnd),
        s(StaffMessage::Done {
            detail: "CSCI3180/hw2 saved".into(),
        }),
        s(StaffMessage::FetchBegin {
            entry: entry(3),
            receipt: Bytes::from_static(b"receipt bytes"),
        }),
    ]
}

fn frame_of(m: &Message) -> Frame {
    let mut out = BytesMut::new();
    m.encode(&mut out).expect("encodes");
    let mut d = FrameDecoder::new();
    d.push(&out);
    let f = d.next_frame().expect("a frame").expect("whole");
    assert!(d.finish().is_ok());
    f
}

#[test]
fn every_staff_and_grade_message_round_trips() {
    for m in samples() {
        let f = frame_of(&m);
        assert_eq!(Message::decode(&f).as_ref(), Ok(&m), "{}", m.name());
    }
}

#[test]
fn the_tags_are_the_documented_ones() {
    let tags: Vec<u8> = samples().iter().map(|m| frame_of(m).kind).collect();
    for t in [
        tag::GRADES,
        tag::GRADE_ENTRY,
        tag::FEEDBACK,
        tag::FEEDBACK_BEGIN,
        staff_tag::COURSES,
        staff_tag::PUT_ASSIGNMENT,
        staff_tag::SET_OPEN,
        staff_tag::STATUS,
        staff_tag::STAFF_FETCH,
        staff_tag::EXTEND,
        staff_tag::GRADE,
        staff_tag::RELEASE,
        staff_tag::LOG,
        staff_tag::COURSE_ROW,
        staff_tag::STATUS_ROW,
        staff_tag::LOG_ROW,
        staff_tag::ROWS_END,
        staff_tag::DONE,
        staff_tag::STAFF_FETCH_BEGIN,
    ] {
        assert!(tags.contains(&t), "0x{t:02x} has a sample");
    }
    assert_eq!(
        (
            tag::GRADES,
            tag::GRADE_ENTRY,
            tag::FEEDBACK,
            tag::FEEDBACK_BEGIN
        ),
        (0x28, 0x29, 0x2a, 0x2b)
    );
    assert_eq!((staff_tag::COURSES, staff_tag::LOG), (0x40, 0x48));
    assert_eq!(
        (staff_tag::COURSE_ROW, staff_tag::STAFF_FETCH_BEGIN),
        (0x50, 0x55)
    );
    assert_eq!(
        (tag::GET_LOG, tag::LOG, tag::COMMIT, tag::COMMITMENT),
        (0x13, 0x1a, 0x2c, 0x2d)
    );
    assert_eq!((tag::SUBMIT_STREAMED, tag::DATA_DIGEST), (0x2e, 0x32));
    // The gaps of the staff range are unknown types.
    for unknown in [0x49, 0x4f, 0x56, 0x5f, 0x2f, 0x33, 0x14, 0x1b] {
        let f = Frame {
            kind: unknown,
            payload: Bytes::new(),
        };
        assert!(Message::decode(&f)
            .expect_err("unknown")
            .0
            .contains("unknown message type"));
    }
}

#[test]
fn every_truncation_and_every_extra_byte_is_refused() {
    for m in samples() {
        let f = frame_of(&m);
        for cut in 0..f.payload.len() {
            let short = Frame {
                kind: f.kind,
                payload: f.payload.slice(..cut),
            };
            assert!(
                Message::decode(&short).is_err(),
                "{} cut to {cut} bytes decoded",
                m.name()
            );
        }
        let mut long = f.payload.to_vec();
        long.push(0);
        let long = Frame {
            kind: f.kind,
            payload: Bytes::from(long),
        };
        assert!(
            Message::decode(&long).is_err(),
            "{} with a byte more",
            m.name()
        );
    }
}

#[test]
fn hostile_counts_states_and_flags_are_refused() {
    // A status row announcing 65,535 files with none present: refused, nothing allocated for
    // the lie.
    let mut p = vec![0, 10];
    p.extend_from_slice(b"1155000001");
    p.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    let f = Frame {
        kind: staff_tag::STATUS_ROW,
        payload: Bytes::from(p.clone()),
    };
    assert!(Message::decode(&f)
        .expect_err("lying count")
        .0
        .contains("truncated"));
    // A state that does not exist.
    p[22] = 3;
    let f = Frame {
        kind: staff_tag::STATUS_ROW,
        payload: Bytes::from(p),
    };
    assert!(Message::decode(&f)
        .expect_err("state 3")
        .0
        .contains("state"));
    // A boolean that is neither 0 nor 1.
    let f = frame_of(&Message::Staff(StaffMessage::SetOpen {
        course: "C".into(),
        assignment: "a".into(),
        open: true,
    }));
    let mut bad = f.payload.to_vec();
    *bad.last_mut().expect("a flag") = 2;
    let f = Frame {
        kind: f.kind,
        payload: Bytes::from(bad),
    };
    assert!(Message::decode(&f)
        .expect_err("flag 2")
        .0
        .contains("boolean"));
}

#[test]
fn a_row_too_large_for_a_frame_fails_to_encode_instead_of_panicking() {
    let row = StatusRow {
        student_id: "1155000001".into(),
        on_class_list: true,
        due_at: 0,
        extended: false,
        state: SubmissionState::OnTime,
        files: (0..300)
            .map(|n| SubmissionEntry {
                file_name: "x".repeat(250),
                ..entry(n)
            })
            .collect(),
        committed_at: None,
    };
    let mut out = BytesMut::new();
    assert!(Message::Staff(StaffMessage::StatusRow(row))
        .encode(&mut out)
        .is_err());
    assert!(out.is_empty());
    // A refusal of a staff request always encodes, whatever its reason.
    let r = Message::Refused(Refusal::new(RefusalCode::NotStaff, "x".repeat(100_000)));
    r.encode(&mut out).expect("refusals always encode");
    assert!(out.len() <= HEADER_LEN + 4 + crate::msg::MAX_REASON);
}

#[test]
fn submission_states_have_their_wire_values() {
    for (s, v) in [
        (SubmissionState::Nothing, 0),
        (SubmissionState::OnTime, 1),
        (SubmissionState::Late, 2),
    ] {
        assert_eq!(s.to_u8(), v);
        assert_eq!(SubmissionState::from_u8(v), Some(s));
    }
    assert_eq!(SubmissionState::from_u8(3), None);
}

#[test]
fn the_worked_examples_of_the_protocol_document_hold() {
    let hex = |m: &Message| {
        let mut out = BytesMut::new();
        m.encode(&mut out).expect("small");
        out.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        hex(&Message::Staff(StaffMessage::Courses)),
        "40 00 00 00 00"
    );
    assert_eq!(
        hex(&Message::Staff(StaffMessage::RowsEnd)),
        "53 00 00 00 00"
    );
    assert_eq!(
        hex(&Message::Staff(StaffMessage::SetOpen {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            open: false,
        })),
        "42 00 00 00 10 00 08 43 53 43 49 33 31 38 30 00 03 68 77 31 00"
    );
}
