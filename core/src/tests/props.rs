//! Property tests: codec round trips, any-split invariance, and no panics on hostile bytes.

use super::t0;
use crate::error::{Refusal, RefusalCode};
use crate::frame::{FrameDecoder, MAX_PAYLOAD};
use crate::harness::{Campus, Split};
use crate::msg::{Message, StreamedOffer, SubmissionEntry, UploadOffer};
use crate::SubmitClientEvent;
use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    ".{0,40}"
}

fn hash() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn blob() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..2000).prop_map(Bytes::from)
}

fn entry() -> impl Strategy<Value = SubmissionEntry> {
    (
        (text(), text(), text(), text(), text()),
        (
            any::<u64>(),
            hash(),
            any::<u64>(),
            any::<bool>(),
            any::<u32>(),
        ),
    )
        .prop_map(
            |(
                (id, student_id, course, assignment, file_name),
                (size, sha256, received_at, late, version),
            )| {
                SubmissionEntry {
                    id,
                    student_id,
                    course,
                    assignment,
                    file_name,
                    size,
                    sha256,
                    received_at,
                    late,
                    version,
                }
            },
        )
}

fn refusal() -> impl Strategy<Value = Refusal> {
    (any::<u16>(), text()).prop_map(|(c, reason)| Refusal {
        code: RefusalCode::from_u16(c),
        reason,
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (proptest::option::of(text()), any::<u64>()).prop_map(|(student_id, server_time)| {
            Message::Welcome {
                student_id,
                server_time,
            }
        }),
        refusal().prop_map(Message::Refused),
        refusal().prop_map(Message::Error),
        (text(), text(), blob()).prop_map(|(student_id, code, csr)| Message::Enroll {
            student_id,
            code,
            csr
        }),
        blob().prop_map(|csr| Message::Renew { csr }),
        Just(Message::GetCrl),
        vec(blob(), 1..4).prop_map(Message::Issued),
        any::<u64>().prop_map(|size| Message::Crl { size }),
        (text(), text(), text(), any::<u64>(), hash()).prop_map(
            |(course, assignment, file_name, size, sha256)| Message::Submit(UploadOffer {
                course,
                assignment,
                file_name,
                size,
                sha256
            })
        ),
        (text(), text(), text(), any::<u64>(), hash()).prop_map(
            |(course, assignment, file_name, size, sha256)| Message::Commit(UploadOffer {
                course,
                assignment,
                file_name,
                size,
                sha256
            })
        ),
        (text(), text(), text(), any::<u64>()).prop_map(|(course, assignment, file_name, size)| {
            Message::SubmitStreamed(StreamedOffer {
                course,
                assignment,
                file_name,
                size,
            })
        }),
        hash().prop_map(|sha256| Message::DataDigest { sha256 }),
        blob().prop_map(Message::Commitment),
        text().prop_map(|path| Message::GetLog { path }),
        any::<u64>().prop_map(|size| Message::Log { size }),
        Just(Message::Ready),
        blob().prop_map(Message::Receipt),
        proptest::option::of(text()).prop_map(|course| Message::List { course }),
        entry().prop_map(Message::ListEntry),
        Just(Message::ListEnd),
        text().prop_map(|id| Message::Fetch { id }),
        entry().prop_map(Message::FetchBegin),
        blob().prop_map(Message::Data),
        Just(Message::DataEnd),
        proptest::sample::select(super::staff_messages::samples()),
        (proptest::option::of(text()), text(), text()).prop_map(|(course, score, comment)| {
            Message::GradeEntry(crate::msg::GradeEntry {
                course: course.clone().unwrap_or_default(),
                assignment: "hw1".into(),
                score,
                comment,
                feedback: None,
                released_at: 0,
            })
        }),
        (text(), text()).prop_map(|(course, assignment)| Message::Feedback { course, assignment }),
    ]
}

proptest! {
    #[test]
    fn every_message_round_trips_through_the_codec(msgs in vec(message(), 1..8), cuts in vec(1usize..64, 1..8)) {
        let mut wire = BytesMut::new();
        for m in &msgs {
            m.encode(&mut wire).expect("generated messages are small");
        }
        // Decode from arbitrary pieces.
        let mut d = FrameDecoder::new();
        let mut got = Vec::new();
        let mut rest = &wire[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            i += 1;
            d.push(&rest[..n]);
            rest = &rest[n..];
            while let Some(f) = d.next_frame().expect("valid frames") {
                got.push(Message::decode(&f).expect("valid message"));
            }
        }
        prop_assert_eq!(got, msgs);
        prop_assert!(d.finish().is_ok());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(bytes in vec(any::<u8>(), 0..4096)) {
        let mut d = FrameDecoder::new();
        d.push(&bytes);
        while let Ok(Some(f)) = d.next_frame() {
            prop_assert!(f.payload.len() <= MAX_PAYLOAD);
            let _ = Message::decode(&f);
        }
        let _ = crate::receipt::Receipt::decode(&bytes);
        let _ = crate::pki::check_csr(&bytes, None);
        let _ = crate::pki::student_id_of(&bytes);
    }
}

/// Everything observable about a full run, minus what is random by design (keys, signatures).
fn transcript(split: Split) -> Vec<String> {
    let mut campus = Campus::new(t0());
    let mut out = Vec::new();
    let code = campus.add_student("1155000001");
    let key = crate::harness::StudentKey::new("1155000001");
    let mut enroll = campus.enroll_pair(None);
    enroll.split = split.clone();
    let chain = campus
        .enroll(&mut enroll, "1155000001", "wrong", &key.csr_der)
        .map(|_| "issued".to_string())
        .unwrap_or_else(|e| e);
    out.push(chain);
    let chain = campus
        .enroll(&mut enroll, "1155000001", &code, &key.csr_der)
        .expect("enrolls");
    out.push(format!("chain of {}", chain.len()));
    let mut pair = campus.submit_pair(Some(key.identity(chain)));
    pair.split = split;
    campus.connect_submit(&mut pair).expect("connects");
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
    let (_, body) = campus
        .submit(&mut pair, "CSCI3180", "hw1", "a.bin", &data)
        .expect("receipt");
    out.push(format!("{body:?}"));
    let r = campus
        .submit(&mut pair, "CSCI3180", "hw1", "../a", b"x")
        .unwrap_err();
    out.push(format!("{r:?}"));
    out.push(format!("{:?}", campus.list(&mut pair, None).expect("list")));
    let (entry, bytes) = campus.fetch(&mut pair, &body.id).expect("fetch");
    out.push(format!("{entry:?} {}", bytes == data));
    while let Some(ev) = pair.client.poll_event() {
        if !matches!(ev, SubmitClientEvent::Connected { .. }) {
            out.push(format!("{ev:?}"));
        }
    }
    out
}

#[test]
fn one_byte_at_a_time_gives_the_same_run_as_everything_at_once() {
    assert_eq!(transcript(Split::bytes()), transcript(Split::Whole));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn any_split_of_the_streams_gives_the_same_run(sizes in vec(1usize..3000, 1..6)) {
        prop_assert_eq!(transcript(Split::Pattern(sizes)), transcript(Split::Whole));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn hostile_plaintext_never_panics_either_side(
        to_server in vec(any::<u8>(), 0..600),
        to_client in vec(any::<u8>(), 0..600),
        valid_prefix in vec(message(), 0..3),
    ) {
        let mut campus = Campus::new(t0());
        let alice = campus.new_student("1155000001");
        let mut pair = campus.submit_pair(Some(alice));
        campus.connect_submit(&mut pair).expect("connects");
        let mut prefix = BytesMut::new();
        for m in &valid_prefix {
            let _ = m.encode(&mut prefix);
        }
        pair.client.danger_send_raw(&prefix);
        pair.client.danger_send_raw(&to_server);
        pair.server.danger_send_raw(&to_client);
        campus.pump_submit(&mut pair);
        let _ = pair.client.handle_eof(pair.now);
        let _ = pair.server.handle_eof(pair.now);
        // Whatever happened, both sides end in a defined state and drain cleanly.
        let mut sink = Vec::new();
        pair.client.poll_transmit(&mut sink);
        pair.server.poll_transmit(&mut sink);
        prop_assert!(pair.server.is_closed() || pair.server.error().is_none());
    }

    #[test]
    fn mutated_protocol_runs_never_panic_the_server(flips in vec((any::<usize>(), any::<u8>()), 1..6)) {
        // A real client's plaintext, mutated, then fed to the server.
        let mut plain = BytesMut::new();
        let data = b"some homework".to_vec();
        for m in [
            Message::List { course: None },
            Message::Submit(UploadOffer {
                course: "CSCI3180".into(),
                assignment: "hw1".into(),
                file_name: "a.txt".into(),
                size: data.len() as u64,
                sha256: crate::submit::sha256(&data),
            }),
            Message::Data(Bytes::from(data.clone())),
            Message::DataEnd,
            Message::Fetch { id: "s1".into() },
        ] {
            m.encode(&mut plain).expect("small");
        }
        for (at, x) in flips {
            let i = at % plain.len();
            plain[i] ^= x;
        }
        let mut campus = Campus::new(t0());
        let alice = campus.new_student("1155000001");
        let mut pair = campus.submit_pair(Some(alice));
        campus.connect_submit(&mut pair).expect("connects");
        pair.client.danger_send_raw(&plain);
        campus.pump_submit(&mut pair);
        let _ = pair.server.handle_eof(pair.now);
        // Nothing half-stored: every stored file matches its recorded hash.
        for (e, bytes) in &campus.board.stored {
            prop_assert_eq!(e.sha256, crate::submit::sha256(bytes));
        }
    }
}

#[test]
fn random_bytes_before_the_handshake_never_panic_the_servers() {
    let campus = Campus::new(t0());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..200 {
        let mut junk = vec![0u8; 512];
        for b in junk.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        // Half the time, make it look like a TLS handshake record.
        if seed % 2 == 0 {
            junk[0] = 0x16;
            junk[1] = 0x03;
            junk[2] = 0x01;
        }
        let mut pair = campus.submit_pair(None);
        assert!(pair.server.receive(pair.now, &junk).is_err() || !pair.server.is_closed());
        let mut pair = campus.enroll_pair(None);
        let _ = pair.server.receive(pair.now, &junk);
    }
}
