//! Property tests of the staff protocol: any split of the byte streams gives the same run, and
//! no input sequence panics the staff server.

use super::t0;
use crate::harness::{Campus, Split};
use crate::msg::{AssignmentSpec, FeedbackFile, GradeSpec, Message, StaffMessage};
use crate::pki::{unix_secs, StudentId};
use crate::staff::StaffClientEvent;
use crate::submit::sha256;
use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

/// Everything observable about a staff run, minus what is random by design (signatures).
fn transcript(split: Split) -> Vec<String> {
    let mut campus = Campus::new(t0());
    campus.board.add_course(
        "CSCI3180",
        "PL",
        &["prof.lee"],
        &["1155000001", "1155000002"],
    );
    let alice = campus.new_student("1155000001");
    let lee = campus.new_staff("prof.lee");
    let mut out = Vec::new();
    let mut a = campus.submit_pair(Some(alice));
    campus.connect_submit(&mut a).expect("alice");
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 13) as u8).collect();
    campus
        .submit(&mut a, "CSCI3180", "hw1", "big.bin", &data)
        .expect("stored");

    let mut pair = campus.staff_pair(Some(lee));
    pair.split = split;
    campus.connect_staff(&mut pair).expect("connects");
    let mut record = |events: Vec<StaffClientEvent>| {
        for ev in events {
            out.push(match ev {
                StaffClientEvent::FetchBegin { entry, receipt } => {
                    format!("FetchBegin {entry:?} {:?}", receipt.body_unverified())
                }
                other => format!("{other:?}"),
            });
        }
    };
    let spec = AssignmentSpec {
        course: "CSCI3180".into(),
        assignment: "hw2".into(),
        due: unix_secs(campus.now.wall) + 3_600,
        max_size: 1000,
        cutoff: None,
        grace_secs: 0,
        allow_past: false,
    };
    record(campus.staff_request(&mut pair, |c| c.put_assignment(&spec), None));
    record(campus.staff_request(&mut pair, |c| c.courses(), None));
    record(campus.staff_request(&mut pair, |c| c.status("CSCI3180", "hw1"), None));
    record(campus.staff_request(&mut pair, |c| c.fetch("s1"), None));
    let notes = vec![b'n'; 40_000];
    let grade = GradeSpec {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        student: StudentId::parse("1155000001").expect("id"),
        score: "9.5".into(),
        comment: "ok".into(),
        feedback: Some(FeedbackFile {
            file_name: "notes.txt".into(),
            size: notes.len() as u64,
            sha256: sha256(&notes),
        }),
    };
    record(campus.staff_request(&mut pair, |c| c.grade(&grade), Some(&notes)));
    let bad = GradeSpec {
        score: "nine".into(),
        ..grade.clone()
    };
    record(campus.staff_request(&mut pair, |c| c.grade(&bad), None));
    record(campus.staff_request(&mut pair, |c| c.release("CSCI3180", "hw1"), None));
    record(campus.staff_request(&mut pair, |c| c.log("CSCI3180"), None));
    out.push(format!(
        "{:?} {:?}",
        pair.client.error().map(|e| e.to_string()),
        pair.server.error().map(|e| e.to_string())
    ));
    out
}

#[test]
fn a_staff_run_one_byte_at_a_time_is_the_same_as_everything_at_once() {
    let whole = transcript(Split::Whole);
    assert!(
        whole.iter().any(|l| l.starts_with("FetchEnd")),
        "{whole:#?}"
    );
    assert!(whole.iter().any(|l| l.starts_with("Ready")), "{whole:#?}");
    assert_eq!(transcript(Split::bytes()), whole);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn any_split_of_a_staff_run_gives_the_same_run(sizes in vec(1usize..3000, 1..6)) {
        prop_assert_eq!(transcript(Split::Pattern(sizes)), transcript(Split::Whole));
    }
}

fn staff_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        proptest::sample::select(super::staff_messages::samples()),
        (
            ".{0,12}",
            ".{0,12}",
            any::<u64>(),
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(
                |(course, assignment, due, max_size, cutoff, grace_secs, allow_past)| {
                    Message::Staff(StaffMessage::PutAssignment(AssignmentSpec {
                        course,
                        assignment,
                        due,
                        max_size,
                        cutoff,
                        grace_secs,
                        allow_past,
                    }))
                }
            ),
        (
            "[0-9a-z.]{0,12}",
            ".{0,8}",
            ".{0,30}",
            proptest::option::of((".{0,10}", any::<u64>()))
        )
            .prop_map(
                |(student, score, comment, f)| Message::Staff(StaffMessage::Grade {
                    course: "CSCI3180".into(),
                    assignment: "hw1".into(),
                    student,
                    score,
                    comment,
                    feedback: f.map(|(file_name, size)| FeedbackFile {
                        file_name,
                        size: size % 64,
                        sha256: [0; 32]
                    }),
                })
            ),
        vec(any::<u8>(), 0..200).prop_map(|d| Message::Data(Bytes::from(d))),
        Just(Message::DataEnd),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn staff_messages_round_trip_through_the_codec(msgs in vec(staff_message(), 1..6)) {
        let mut wire = BytesMut::new();
        for m in &msgs {
            m.encode(&mut wire).expect("small");
        }
        let mut d = crate::frame::FrameDecoder::new();
        d.push(&wire);
        let mut got = Vec::new();
        while let Some(f) = d.next_frame().expect("valid") {
            got.push(Message::decode(&f).expect("valid"));
        }
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn no_input_sequence_panics_the_staff_server(
        valid in vec(staff_message(), 0..6),
        junk in vec(any::<u8>(), 0..400),
        flips in vec((any::<usize>(), any::<u8>()), 0..4),
    ) {
        let mut campus = Campus::new(t0());
        campus.board.add_course("CSCI3180", "PL", &["prof.lee"], &["1155000001"]);
        let lee = campus.new_staff("prof.lee");
        let mut pair = campus.staff_pair(Some(lee));
        campus.connect_staff(&mut pair).expect("connects");
        let mut plain = BytesMut::new();
        for m in &valid {
            let _ = m.encode(&mut plain);
        }
        if !plain.is_empty() {
            for (at, x) in flips {
                let i = at % plain.len();
                plain[i] ^= x;
            }
        }
        pair.client.danger_send_raw(&plain);
        pair.client.danger_send_raw(&junk);
        campus.pump_staff(&mut pair);
        let _ = pair.server.handle_eof(pair.now);
        campus.pump_staff(&mut pair);
        let mut sink = Vec::new();
        pair.server.poll_transmit(&mut sink);
        prop_assert!(pair.server.is_closed() || pair.server.error().is_none());
        if pair.server.error().is_some() {
            prop_assert!(pair.server.is_closed());
        }
    }
}
