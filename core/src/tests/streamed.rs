//! Streamed offers (`handin-submit/2`): the client hashes while it sends and declares the
//! digest after the bytes; the server checks it, and an older peer falls back to declaring the
//! digest up front.

use super::t0;
use crate::error::{Error, RefusalCode};
use crate::harness::{Campus, Pair};
use crate::msg::{Message, StreamedOffer, UploadOffer};
use crate::submit::{sha256, SubmitClientEvent};
use crate::{Role, SubmitClient, SubmitServer};
use bytes::{Bytes, BytesMut};
use std::sync::Arc;

const ALICE: &str = "1155000001";

fn connected(campus: &mut Campus) -> Pair<SubmitClient, SubmitServer> {
    let alice = campus.new_student(ALICE);
    let mut pair = campus.submit_pair(Some(alice));
    campus.connect_submit(&mut pair).expect("connected");
    pair
}

fn assert_protocol_error(pair: &Pair<SubmitClient, SubmitServer>, needle: &str) {
    match pair.server.error() {
        Some(Error::Protocol(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected a protocol error containing {needle:?}, got {other:?}"),
    }
    assert!(pair.server.is_closed());
}

fn streamed(size: u64) -> StreamedOffer {
    StreamedOffer {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "a.txt".into(),
        size,
    }
}

#[test]
fn a_streamed_offer_is_hashed_as_it_is_sent_and_the_receipt_holds_that_digest() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    assert!(
        pair.client.streams_digests(),
        "both ends speak handin-submit/2"
    );
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (_, body) = campus
        .submit_streamed(&mut pair, streamed(data.len() as u64), &data)
        .expect("stored");
    assert_eq!(body.sha256, sha256(&data));
    assert_eq!(body.size, data.len() as u64);
    let (_, bytes) = campus.fetch(&mut pair, &body.id).expect("fetched");
    assert_eq!(bytes, data);
    // The same connection takes a classic offer next.
    campus
        .submit(&mut pair, "CSCI3180", "hw1", "b.txt", b"classic")
        .expect("a declared offer after a streamed one");
}

#[test]
fn a_streamed_upload_of_the_wrong_size_is_refused_and_nothing_stored() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    let r = campus
        .submit_streamed(&mut pair, streamed(10), b"twelve bytes")
        .unwrap_err();
    assert_eq!(r.code, RefusalCode::SizeMismatch, "{}", r.reason);
    assert!(campus.board.stored.is_empty());
}

/// Makes an offer with the real client and waits until the server said Ready; the test then
/// sends what the real client would not.
fn offered(
    campus: &mut Campus,
    pair: &mut Pair<SubmitClient, SubmitServer>,
    offer: impl FnOnce(&mut SubmitClient) -> Result<(), crate::UsageError>,
) {
    offer(&mut pair.client).expect("offered");
    campus.pump_submit(pair);
    assert!(
        std::iter::from_fn(|| pair.client.poll_event())
            .any(|e| matches!(e, SubmitClientEvent::UploadReady)),
        "the offer was accepted"
    );
}

fn send_raw(pair: &mut Pair<SubmitClient, SubmitServer>, messages: &[Message]) {
    let mut raw = BytesMut::new();
    for m in messages {
        m.encode(&mut raw).expect("encodes");
    }
    pair.client.danger_send_raw(&raw);
}

/// A client that declares a digest other than that of the bytes it sent (the real client
/// cannot: it hashes what it sends).
#[test]
fn a_streamed_upload_whose_declared_digest_is_wrong_is_refused_and_nothing_stored() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    let data = b"the real bytes";
    offered(&mut campus, &mut pair, |c| {
        c.submit_streamed(streamed(data.len() as u64))
    });
    send_raw(
        &mut pair,
        &[
            Message::Data(Bytes::from_static(data)),
            Message::DataDigest {
                sha256: sha256(b"other bytes"),
            },
        ],
    );
    campus.pump_submit(&mut pair);
    let refused = std::iter::from_fn(|| pair.client.poll_event())
        .find_map(|e| match e {
            SubmitClientEvent::Refused(r) => Some(r),
            _ => None,
        })
        .expect("a refusal");
    assert_eq!(
        refused.code,
        RefusalCode::HashMismatch,
        "{}",
        refused.reason
    );
    assert!(campus.board.stored.is_empty());
}

#[test]
fn an_upload_must_end_the_way_its_offer_said() {
    let declared = UploadOffer {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "a.txt".into(),
        size: 3,
        sha256: sha256(b"abc"),
    };
    for streamed_offer in [true, false] {
        let mut campus = Campus::new(t0());
        let mut pair = connected(&mut campus);
        let declared = declared.clone();
        let (end, needle) = if streamed_offer {
            offered(&mut campus, &mut pair, |c| c.submit_streamed(streamed(3)));
            (Message::DataEnd, "ends with DataDigest")
        } else {
            offered(&mut campus, &mut pair, |c| c.submit(declared));
            (
                Message::DataDigest {
                    sha256: sha256(b"abc"),
                },
                "ends with DataEnd",
            )
        };
        send_raw(&mut pair, &[Message::Data(Bytes::from_static(b"abc")), end]);
        pair.drive();
        assert_protocol_error(&pair, needle);
        assert!(campus.board.stored.is_empty());
    }
}

/// A client of this version against a server that speaks only `handin-submit/1` (an older
/// Blackboard): the streamed offer is not available, and the declared one still works.
#[test]
fn a_client_falls_back_to_declared_offers_with_a_server_of_handin_submit_1() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let cfg = campus.client_config(Role::Submit, Some(alice));
    let mut tls = (*cfg.tls).clone();
    tls.alpn_protocols = vec![crate::config::SUBMIT_ALPN.to_vec()];
    let old = crate::ClientConfig {
        tls: Arc::new(tls),
        ..cfg
    };
    let mut pair = campus.submit_pair_with(&old);
    campus
        .connect_submit(&mut pair)
        .expect("connected over handin-submit/1");
    assert!(!pair.client.streams_digests());
    assert!(pair.client.submit_streamed(streamed(3)).is_err());
    campus
        .submit(&mut pair, "CSCI3180", "hw1", "a.txt", b"abc")
        .expect("a declared offer");
    // A client that sends the streamed offer anyway, over handin-submit/1.
    send_raw(&mut pair, &[Message::SubmitStreamed(streamed(3))]);
    pair.drive();
    assert_protocol_error(&pair, "handin-submit/2");
}
