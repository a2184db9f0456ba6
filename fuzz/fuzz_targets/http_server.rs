//! Blackboard's HTTP/1.1 connection after a completed handshake, fed arbitrary plaintext by a
//! browser, with an application that reads every body and answers every request: never
//! panics, an error or a refused head always closes, every answer is a well-formed status
//! line, and no more answers leave than requests arrived.
#![no_main]

use handin_core::harness::{t0, Campus};
use handin_core::http::{HttpLimits, HttpServerEvent, Response};
use handin_core::Now;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::time::Instant;

thread_local! {
    static CAMPUS: RefCell<(Campus, handin_core::Identity)> = RefCell::new({
        let mut c = Campus::new(Now::new(Instant::now(), t0()));
        let id = c.new_student("1155000001");
        (c, id)
    });
}

fuzz_target!(|data: &[u8]| {
    CAMPUS.with(|cell| {
        let guard = cell.borrow();
        let (campus, id) = &*guard;
        let limits = HttpLimits {
            head: 1024,
            body: 4096,
        };
        let with_cert = data.first().is_some_and(|b| b & 1 == 1);
        let mut pair = campus.web_pair(with_cert.then(|| id.clone()), limits);
        let mut requests = 0usize;
        // Two pieces, so that a request can span two reads.
        let cut = data.len() / 2;
        for piece in [&data[..cut], &data[cut..]] {
            pair.send(campus, piece);
            loop {
                let events = pair.events();
                if events.is_empty() {
                    break;
                }
                for ev in events {
                    match ev {
                        HttpServerEvent::Request(r) => {
                            requests += 1;
                            if r.content_length > 0 && r.content_length % 2 == 0 {
                                let _ = pair.server.read_body();
                            } else {
                                let _ = pair.server.respond(&Response::new(200), b"ok");
                            }
                        }
                        HttpServerEvent::BodyEnd => {
                            let _ = pair.server.respond(&Response::new(204), b"");
                        }
                        HttpServerEvent::Refused { .. } => assert!(pair.server.is_closed()),
                        _ => {}
                    }
                }
                pair.pump(campus);
            }
        }
        if pair.server.error().is_some() {
            assert!(pair.server.is_closed());
        }
        let text = pair.text();
        // `100 Continue` is not an answer, only leave to send a body.
        let answers = text.matches("HTTP/1.1 ").count() - text.matches("HTTP/1.1 100 ").count();
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 "), "{text:?}");
        // One answer per request, plus at most one the connection made itself (400-431).
        assert!(answers <= requests + 1, "{answers} answers to {requests} requests");
    });
});
