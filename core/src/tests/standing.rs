//! A certificate's standing is checked for the life of a connection, not only at its
//! handshake: revocation and expiry reach connections that are already open.

use super::t0;
use crate::error::{Error, Refusal, RefusalCode};
use crate::harness::{Campus, Pair};
use crate::msg::UploadOffer;
use crate::submit::{sha256, SubmitClientEvent, SubmitServerEvent};
use crate::{Role, SubmitClient, SubmitServer};
use std::time::Duration;

const ALICE: &str = "1155000001";
const BOB: &str = "1155000002";

fn connected(campus: &mut Campus, id: &str) -> Pair<SubmitClient, SubmitServer> {
    let who = campus.new_student(id);
    let mut pair = campus.submit_pair(Some(who));
    campus.connect_submit(&mut pair).expect("connects");
    pair
}

fn client_refusal(pair: &Pair<SubmitClient, SubmitServer>) -> Refusal {
    match pair.client.error() {
        Some(Error::Remote(r)) => r.clone(),
        other => panic!("the client was not told why: {other:?}"),
    }
}

#[test]
fn an_open_connection_is_closed_when_its_certificate_is_revoked() {
    let mut campus = Campus::new(t0());
    let mut alice = connected(&mut campus, ALICE);
    let mut bob = connected(&mut campus, BOB);
    campus.list(&mut alice, None).expect("lists before");

    campus.revoke(ALICE);
    let now = campus.now;
    let revoked = alice.server.set_config(now, campus.blackboard.clone());
    assert!(
        matches!(&revoked, Err(Error::Refused(r)) if r.code == RefusalCode::Revoked),
        "{revoked:?}"
    );
    alice.drive();
    assert!(alice.server.is_closed());
    assert_eq!(client_refusal(&alice).code, RefusalCode::Revoked);

    // Others are untouched by the new set.
    bob.server
        .set_config(now, campus.blackboard.clone())
        .expect("bob still stands");
    campus.list(&mut bob, None).expect("bob still lists");
}

#[test]
fn a_request_after_the_certificate_expired_is_refused_even_before_its_timer_fires() {
    let mut campus = Campus::new(t0());
    campus.registrar.lifetime = Duration::from_secs(3600);
    campus.timeouts.idle = Duration::from_secs(24 * 3600);
    let mut alice = connected(&mut campus, ALICE);
    // The transport is late with the timer: the request itself arrives after the end.
    campus.now += Duration::from_secs(7200);
    alice.now = campus.now;
    let listed = campus.list(&mut alice, None);
    assert!(listed.is_err(), "{listed:?}");
    assert!(
        matches!(alice.server.error(), Some(Error::Refused(r)) if r.code == RefusalCode::Expired)
    );
    assert_eq!(client_refusal(&alice).code, RefusalCode::Expired);
}

#[test]
fn an_upload_in_progress_is_aborted_when_its_student_is_revoked() {
    let mut campus = Campus::new(t0());
    let mut alice = connected(&mut campus, ALICE);
    let data = vec![7u8; 100_000];
    let offer = UploadOffer {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "report.pdf".into(),
        size: data.len() as u64,
        sha256: sha256(&data),
    };
    alice.client.submit(offer).expect("offer");
    alice.drive();
    let Some(SubmitServerEvent::UploadRequested(_)) = alice.server.poll_event() else {
        panic!("no offer");
    };
    alice.server.accept_upload().expect("accepted");
    alice.drive();
    assert!(matches!(
        alice.client.poll_event(),
        Some(SubmitClientEvent::UploadReady)
    ));
    alice.client.send_data(&data[..50_000]).expect("sends");
    alice.drive();
    while let Some(SubmitServerEvent::UploadData(_)) = alice.server.poll_event() {}

    campus.revoke(ALICE);
    let now = campus.now;
    assert!(alice
        .server
        .set_config(now, campus.blackboard.clone())
        .is_err());
    let mut aborted = false;
    while let Some(ev) = alice.server.poll_event() {
        aborted |= matches!(ev, SubmitServerEvent::UploadAborted { .. });
    }
    assert!(aborted, "the half upload must be discarded");
    alice.drive();
    assert_eq!(client_refusal(&alice).code, RefusalCode::Revoked);
}

#[test]
fn a_certificate_that_expires_while_connected_ends_the_connection_then() {
    let mut campus = Campus::new(t0());
    campus.registrar.lifetime = Duration::from_secs(3600);
    // Long enough that only the certificate's end can close this connection.
    campus.timeouts.idle = Duration::from_secs(24 * 3600);
    let who = campus.new_student(ALICE);
    let cfg = campus.client_config(Role::Submit, Some(who));
    let mut alice = campus.submit_pair_with(&cfg);
    campus.connect_submit(&mut alice).expect("valid now");
    let deadline = alice.server.poll_timeout().expect("a deadline");
    assert!(
        deadline <= t0().mono + Duration::from_secs(3600),
        "{deadline:?}"
    );

    alice.advance(Duration::from_secs(1800));
    assert!(!alice.server.is_closed(), "still valid half way");
    campus.now = alice.now;
    campus.list(&mut alice, None).expect("lists while valid");

    alice.advance(Duration::from_secs(1802));
    assert!(
        matches!(alice.server.error(), Some(Error::Refused(r)) if r.code == RefusalCode::Expired)
    );
    alice.drive();
    assert_eq!(client_refusal(&alice).code, RefusalCode::Expired);
}

#[test]
fn the_application_can_turn_an_authenticated_student_away() {
    let mut campus = Campus::new(t0());
    let mut alice = connected(&mut campus, ALICE);
    alice.server.disconnect(Refusal::new(
        RefusalCode::Unavailable,
        "too many connections of yours are open",
    ));
    alice.drive();
    assert!(alice.server.is_closed());
    let r = client_refusal(&alice);
    assert_eq!(r.code, RefusalCode::Unavailable);
    assert!(r.reason.contains("too many"), "{}", r.reason);
}
