//! One port, two protocols: the ClientHello's ALPN offer picks the connection.

use super::t0;
use crate::accept::{Hello, Incoming};
use crate::config::{server_name, ClientConfig};
use crate::error::Error;
use crate::harness::{Campus, Pair};
use crate::staff::StaffClientEvent;
use crate::{Role, StaffClient, SubmitClient, Timeouts};
use rustls::AlertDescription;
use std::time::Duration;

const ALICE: &str = "1155000001";

/// Feeds `client`'s first flight to a new `Incoming`, `piece` bytes at a time.
fn hello_of<P: crate::Protocol>(
    campus: &Campus,
    client: &mut crate::Connection<P>,
    piece: usize,
) -> (Incoming, Result<Option<Hello>, Error>) {
    let mut incoming = Incoming::new(campus.now, Timeouts::default());
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);
    let mut out = Ok(None);
    for chunk in wire.chunks(piece) {
        out = incoming.receive(campus.now, chunk);
        if !matches!(out, Ok(None)) {
            break;
        }
    }
    (incoming, out)
}

fn submit_client(campus: &Campus, cfg: &ClientConfig) -> SubmitClient {
    SubmitClient::new(cfg, server_name("localhost").expect("name"), campus.now).expect("client")
}

fn staff_client(campus: &Campus, cfg: &ClientConfig) -> StaffClient {
    StaffClient::new(cfg, server_name("localhost").expect("name"), campus.now).expect("client")
}

#[test]
fn a_submission_client_is_dispatched_to_a_submission_server_whatever_the_split() {
    for piece in [1, 7, 100, 100_000] {
        let mut campus = Campus::new(t0());
        let alice = campus.new_student(ALICE);
        let cfg = campus.client_config(Role::Submit, Some(alice));
        let mut client = submit_client(&campus, &cfg);
        let (_, hello) = hello_of(&campus, &mut client, piece);
        let hello = hello.expect("a good hello").expect("complete");
        assert_eq!(
            hello.alpn(),
            [b"handin-submit/2".to_vec(), b"handin-submit/1".to_vec()]
        );
        assert_eq!(hello.role(), Some(Role::Submit));
        assert!(hello.offers(b"handin-submit/1") && !hello.offers(b"handin-staff/1"));
        assert_eq!(hello.server_name().as_deref(), Some("localhost"));
        let server = hello
            .into_submit(campus.blackboard.clone(), campus.now)
            .expect("continues");
        let mut pair = Pair::new(client, server, campus.now);
        campus.connect_submit(&mut pair).expect("connected");
        let (_, body) = campus
            .submit(&mut pair, "CSCI3180", "hw1", "a.txt", b"hello")
            .expect("receipt");
        assert_eq!(body.student_id, ALICE);
    }
}

#[test]
fn a_staff_client_is_dispatched_to_a_staff_server() {
    let mut campus = Campus::new(t0());
    campus
        .board
        .add_course("CSCI3180", "PL", &["prof.lee"], &[]);
    let lee = campus.new_staff("prof.lee");
    let cfg = campus.client_config(Role::Staff, Some(lee));
    let mut client = staff_client(&campus, &cfg);
    let (_, hello) = hello_of(&campus, &mut client, 13);
    let hello = hello.expect("good").expect("complete");
    assert_eq!(hello.role(), Some(Role::Staff));
    let server = hello
        .into_staff(campus.staff.clone(), campus.now)
        .expect("continues");
    let mut pair = Pair::new(client, server, campus.now);
    campus.connect_staff(&mut pair).expect("connected");
    let ev = campus.staff_request(&mut pair, |c| c.courses(), None);
    assert!(matches!(ev.first(), Some(StaffClientEvent::Course(c)) if c.course == "CSCI3180"));
}

#[test]
fn a_client_offering_no_protocol_served_here_gets_no_application_protocol() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let cfg = campus.client_config(Role::Enroll, Some(alice));
    let mut client =
        crate::EnrollClient::new(&cfg, server_name("localhost").expect("name"), campus.now)
            .expect("client");
    let (_, hello) = hello_of(&campus, &mut client, 1000);
    let hello = hello.expect("good").expect("complete");
    assert_eq!(hello.role(), Some(Role::Enroll));
    let mut rejected = hello.refuse();
    assert_eq!(
        rejected.error(),
        &Error::Tls(rustls::Error::NoApplicationProtocol)
    );
    let mut alert = Vec::new();
    assert!(rejected.poll_transmit(&mut alert) > 0);
    assert_eq!(rejected.poll_transmit(&mut alert), 0, "sent once");
    let _ = client.receive(campus.now, &alert);
    assert_eq!(
        client.error(),
        Some(&Error::Tls(rustls::Error::AlertReceived(
            AlertDescription::NoApplicationProtocol
        )))
    );
    assert!(crate::driver::Driven::is_closed(&rejected));
}

#[test]
fn a_client_continued_as_the_wrong_protocol_gets_the_alert_from_tls() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let cfg = campus.client_config(Role::Staff, Some(alice));
    let mut client = staff_client(&campus, &cfg);
    let (_, hello) = hello_of(&campus, &mut client, 1000);
    let hello = hello.expect("good").expect("complete");
    let mut rejected = hello
        .into_submit(campus.blackboard.clone(), campus.now)
        .expect_err("the client does not offer submission");
    let mut alert = Vec::new();
    rejected.poll_transmit(&mut alert);
    let _ = client.receive(campus.now, &alert);
    assert_eq!(
        client.error(),
        Some(&Error::Tls(rustls::Error::AlertReceived(
            AlertDescription::NoApplicationProtocol
        )))
    );
    // A configuration of the wrong role is refused too, never served.
    let mut client = staff_client(&campus, &cfg);
    let (_, hello) = hello_of(&campus, &mut client, 1000);
    let hello = hello.expect("good").expect("complete");
    let rejected = hello
        .into_staff(campus.blackboard.clone(), campus.now)
        .expect_err("a submission configuration");
    assert!(matches!(rejected.into_error(), Error::Protocol(_)));
}

#[test]
fn a_malformed_hello_is_answered_with_an_alert() {
    let campus = Campus::new(t0());
    let mut incoming = Incoming::new(campus.now, Timeouts::default());
    // A handshake record holding a message that is not a ClientHello.
    let junk = [0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00];
    assert!(incoming.receive(campus.now, &junk).is_err());
    assert!(incoming.is_closed());
    let mut out = Vec::new();
    assert!(incoming.poll_transmit(&mut out) > 0, "an alert");
    assert_eq!(out[0], 0x15, "an alert record");
    assert!(incoming.receive(campus.now, b"more").is_err(), "sticky");
    assert_eq!(incoming.poll_timeout(), None);
    // Not TLS at all.
    let mut incoming = Incoming::new(campus.now, Timeouts::default());
    assert!(incoming
        .receive(campus.now, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .is_err());
}

#[test]
fn a_hello_that_does_not_arrive_in_time_or_at_all_fails() {
    let campus = Campus::new(t0());
    let timeouts = Timeouts {
        handshake: Duration::from_secs(5),
        idle: Duration::from_secs(60),
    };
    let mut incoming = Incoming::new(campus.now, timeouts);
    assert_eq!(
        incoming.poll_timeout(),
        Some(campus.now.mono + Duration::from_secs(5))
    );
    assert!(incoming
        .receive(campus.now, &[0x16, 0x03])
        .expect("partial")
        .is_none());
    assert!(incoming
        .handle_timeout(campus.now + Duration::from_secs(4))
        .is_ok());
    assert!(matches!(
        incoming.handle_timeout(campus.now + Duration::from_secs(5)),
        Err(Error::Timeout(_))
    ));
    assert!(incoming.is_closed());
    let mut incoming = Incoming::new(campus.now, timeouts);
    assert_eq!(incoming.handle_eof(campus.now), Err(Error::Closed));
}

#[test]
fn the_connection_keeps_the_deadline_that_started_at_the_hello() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let cfg = campus.client_config(Role::Submit, Some(alice));
    let mut client = submit_client(&campus, &cfg);
    let start = campus.now;
    let mut incoming = Incoming::new(start, Timeouts::default());
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);
    let later = start + Duration::from_secs(8);
    let hello = incoming
        .receive(later, &wire)
        .expect("good")
        .expect("complete");
    let server = hello
        .into_submit(campus.blackboard.clone(), later)
        .expect("continues");
    assert_eq!(
        server.poll_timeout(),
        Some(start.mono + Timeouts::default().handshake)
    );
}
