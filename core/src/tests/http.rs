//! Blackboard's HTTP/1.1 connection, driven by a plain rustls client as a browser would be:
//! dispatched by ALPN at the ClientHello, the certificate optional, requests answered one at a
//! time (pipelined ones in order), bodies streamed in both directions, and every bad head
//! answered by the connection itself before it closes.

use super::t0;
use crate::harness::{Campus, WebPair};
use crate::http::{HttpLimits, HttpServerEvent, Response};
use crate::{PersonId, Role};
use std::sync::Arc;

const ALICE: &str = "1155000001";

fn connect(campus: &Campus, identity: Option<crate::Identity>, limits: HttpLimits) -> WebPair {
    campus.web_pair(identity, limits)
}

fn requests(events: &[HttpServerEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            HttpServerEvent::Request(r) => Some(r.path.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_browser_without_a_certificate_is_served_and_told_so() {
    let campus = Campus::new(t0());
    let mut b = connect(&campus, None, HttpLimits::default());
    let ev = b.events();
    assert!(
        matches!(&ev[..], [HttpServerEvent::Connected { person: None, .. }]),
        "{ev:?}"
    );
    b.send(&campus, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(requests(&b.events()), ["/"]);
    b.server
        .respond(&Response::html(200), b"<p>import your certificate</p>")
        .expect("answer");
    b.pump(&campus);
    let text = b.text();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("content-security-policy: "), "{text}");
    assert!(text.ends_with("<p>import your certificate</p>"), "{text}");
    assert!(!b.server.is_closed(), "kept alive for the next request");
}

#[test]
fn a_certificate_names_the_person_and_pipelined_requests_are_answered_in_order() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let mut b = connect(&campus, Some(alice), HttpLimits::default());
    let ev = b.events();
    let Some(HttpServerEvent::Connected {
        person: Some(PersonId::Student(id)),
        ..
    }) = ev.first()
    else {
        panic!("{ev:?}");
    };
    assert_eq!(id.as_str(), ALICE);
    b.send(
        &campus,
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(requests(&b.events()), ["/a"], "one at a time");
    b.server.respond(&Response::new(200), b"A").expect("a");
    assert_eq!(requests(&b.events()), ["/b"], "the next once answered");
    b.server
        .start_response(&Response::new(200), None)
        .expect("b");
    b.server.send_body(b"chunk one,").expect("body");
    b.server.send_body(b" two").expect("body");
    b.server.end_response().expect("end");
    b.pump(&campus);
    let text = b.text();
    let second = text
        .find("HTTP/1.1 200 OK\r\n")
        .and_then(|i| text[i + 1..].find("HTTP/1.1 200"));
    assert!(second.is_some(), "two answers: {text}");
    assert!(text.contains("transfer-encoding: chunked\r\n"));
    assert!(
        text.ends_with("a\r\nchunk one,\r\n4\r\n two\r\n0\r\n\r\n"),
        "{text:?}"
    );
}

#[test]
fn a_body_arrives_in_pieces_and_whole() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let mut b = connect(&campus, Some(alice), HttpLimits::default());
    b.events();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    b.send(&campus, head.as_bytes());
    let ev = b.events();
    assert_eq!(requests(&ev), ["/upload"]);
    b.server.read_body().expect("take the body");
    let mut got = Vec::new();
    let mut ended = false;
    for piece in body.chunks(7000) {
        b.send(&campus, piece);
        for e in b.events() {
            match e {
                HttpServerEvent::Body(bytes) => got.extend_from_slice(&bytes),
                HttpServerEvent::BodyEnd => ended = true,
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(ended);
    assert_eq!(got, body);
    b.server
        .respond(&Response::see_other("/"), b"")
        .expect("answer");
    b.pump(&campus);
    assert!(b.text().starts_with("HTTP/1.1 303 See Other\r\n"));
    assert!(b.text().contains("location: /\r\n"));
    assert!(!b.server.is_closed());
}

#[test]
fn bad_heads_are_answered_by_the_connection_which_then_closes() {
    let campus = Campus::new(t0());
    let cases: [(&[u8], u16); 5] = [
        (b"GET / HTTP/1.1\r\nX: \x01\r\n\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            411,
        ),
        (b"POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", 417),
        (&[b'a'; 3000], 431),
    ];
    for (head, status) in cases {
        let limits = HttpLimits {
            head: 2048,
            body: 4096,
        };
        let mut b = connect(&campus, None, limits);
        b.events();
        b.send(&campus, head);
        let ev = b.events();
        assert!(
            ev.iter()
                .any(|e| matches!(e, HttpServerEvent::Refused { status: s, .. } if *s == status)),
            "{status}: {ev:?}"
        );
        assert!(
            b.text().starts_with(&format!("HTTP/1.1 {status} ")),
            "{}",
            b.text()
        );
        assert!(b.text().contains("connection: close\r\n"));
        assert!(b.server.is_closed(), "{status}: closed");
    }
}

#[test]
fn an_answer_before_the_body_drops_the_rest_of_it_then_closes() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let mut b = connect(&campus, Some(alice), HttpLimits::default());
    b.events();
    // The body would be a request of its own if it were ever parsed as one.
    b.send(
        &campus,
        b"POST /upload HTTP/1.1\r\nContent-Length: 33\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n12345",
    );
    assert_eq!(requests(&b.events()), ["/upload"]);
    b.server
        .respond(&Response::html(413), b"too large")
        .expect("answer");
    b.pump(&campus);
    assert!(requests(&b.events()).is_empty(), "nothing smuggled");
    assert!(b.text().contains("connection: close\r\n"));
    // The body's last two bytes are still read (and dropped), so that the browser sees the
    // answer instead of a reset; then the connection closes, whatever follows.
    assert!(!b.server.is_closed(), "draining the body");
    b.send(&campus, b"67GET /after HTTP/1.1\r\n\r\n");
    assert!(
        requests(&b.events()).is_empty(),
        "nothing after the body either"
    );
    assert!(b.server.is_closed());
}

#[test]
fn a_body_too_large_to_drain_is_cut_off_after_the_answer() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let mut b = connect(&campus, Some(alice), HttpLimits::default());
    b.events();
    b.send(
        &campus,
        b"POST /upload HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n",
    );
    assert_eq!(requests(&b.events()), ["/upload"]);
    b.server
        .respond(&Response::html(413), b"too large")
        .expect("answer");
    b.pump(&campus);
    assert!(b.server.is_closed());
}

#[test]
fn head_and_http_1_0_get_what_they_can_read() {
    let campus = Campus::new(t0());
    let mut b = connect(&campus, None, HttpLimits::default());
    b.events();
    b.send(
        &campus,
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(requests(&b.events()), ["/"]);
    b.server
        .respond(&Response::html(200), b"<p>page</p>")
        .expect("head");
    assert_eq!(requests(&b.events()), ["/next"]);
    b.server
        .respond(&Response::new(200), b"next")
        .expect("next");
    b.pump(&campus);
    let text = b.text();
    assert!(text.contains("content-length: 11\r\n"), "{text}");
    assert!(!text.contains("<p>page</p>"), "no body for HEAD: {text}");
    assert!(text.ends_with("\r\n\r\nnext"), "{text}");

    let mut old = connect(&campus, None, HttpLimits::default());
    old.events();
    old.send(&campus, b"GET /zip HTTP/1.0\r\n\r\n");
    assert_eq!(requests(&old.events()), ["/zip"]);
    old.server
        .start_response(&Response::new(200), None)
        .expect("start");
    old.server.send_body(b"zip bytes").expect("body");
    old.server.end_response().expect("end");
    old.pump(&campus);
    let text = old.text();
    assert!(!text.contains("transfer-encoding"), "{text}");
    assert!(text.contains("connection: close\r\n"));
    assert!(text.ends_with("\r\n\r\nzip bytes"), "{text}");
    assert!(
        old.server.is_closed(),
        "the end of the body is the end of the connection"
    );
}

#[test]
fn a_certificate_revoked_while_connected_ends_the_connection_at_the_next_request() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let mut b = connect(&campus, Some(alice), HttpLimits::default());
    b.events();
    campus.revoke(ALICE);
    // The connection learns the new revoked set as Blackboard installs it.
    let web = Arc::new(campus.blackboard.with_role(Role::Web).expect("web"));
    assert!(b.server.set_config(campus.now, web).is_err());
    assert!(b.server.is_closed());
}

fn after(campus: &Campus, d: std::time::Duration) -> crate::Now {
    crate::Now::new(campus.now.mono + d, campus.now.wall + d)
}

#[test]
fn a_slow_request_meets_the_same_idle_deadline_as_any_connection() {
    let campus = Campus::new(t0());
    let idle = campus.timeouts.idle;
    let mut b = connect(&campus, None, HttpLimits::default());
    b.events();
    // Half a head, then silence.
    b.send(&campus, b"GET / HTTP/1.1\r\nHost: loc");
    assert!(requests(&b.events()).is_empty());
    let deadline = b.server.poll_timeout().expect("a deadline");
    assert!(
        deadline <= campus.now.mono + idle,
        "the idle deadline runs on a partial head"
    );
    let _ = b
        .server
        .handle_timeout(after(&campus, idle + std::time::Duration::from_secs(1)));
    assert!(b.server.is_closed(), "closed at the idle deadline");
    assert!(matches!(b.server.error(), Some(crate::Error::Timeout(_))));
}

#[test]
fn the_idle_deadline_does_not_run_while_blackboard_answers() {
    let campus = Campus::new(t0());
    let idle = campus.timeouts.idle;
    let mut b = connect(&campus, None, HttpLimits::default());
    b.events();
    b.send(&campus, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(requests(&b.events()), ["/"]);
    // The answer takes longer than the idle timeout (a slow disk): the browser is not at fault.
    assert_eq!(
        b.server.poll_timeout(),
        None,
        "no deadline while the answer is owed"
    );
    let late = after(&campus, idle * 3);
    let _ = b.server.handle_timeout(late);
    assert!(!b.server.is_closed());
    b.server
        .respond(&Response::new(200), b"done")
        .expect("answer");
    assert!(
        b.server.poll_timeout().is_some(),
        "the idle deadline runs again"
    );
}

#[test]
fn a_head_trickling_in_byte_by_byte_is_cut_off_one_idle_timeout_after_it_began() {
    let campus = Campus::new(t0());
    let idle = campus.timeouts.idle;
    let mut b = connect(&campus, None, HttpLimits::default());
    b.events();
    b.send(&campus, b"GET / HTTP/1.1\r\n");
    // One more byte well within every idle period: the idle deadline alone never fires.
    let third = idle / 3;
    for (i, byte) in b"X-Slow: 1".iter().enumerate() {
        let now = after(&campus, third * (i as u32 + 1) / 4);
        b.send_at(now, &[*byte]);
        assert!(!b.server.is_closed(), "byte {i}: still open");
    }
    let _ = b
        .server
        .handle_timeout(after(&campus, idle + std::time::Duration::from_secs(1)));
    assert!(b.server.is_closed(), "the head's own deadline");
    assert!(matches!(b.server.error(), Some(crate::Error::Timeout(_))));
}
