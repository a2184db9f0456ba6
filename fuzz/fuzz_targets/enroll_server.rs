//! The enrollment server after a completed handshake, fed arbitrary plaintext by an anonymous
//! client, with the in-memory registrar answering: never panics; an error always closes.
#![no_main]

use handin_core::harness::{t0, Campus};
use handin_core::Now;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::time::Instant;

thread_local! {
    static CAMPUS: RefCell<Campus> = RefCell::new({
        let mut c = Campus::new(Now::new(Instant::now(), t0()));
        c.add_student("1155000001");
        c
    });
}

fuzz_target!(|data: &[u8]| {
    CAMPUS.with(|campus| {
        let mut campus = campus.borrow_mut();
        let mut pair = campus.enroll_pair(None);
        if campus.connect_enroll(&mut pair).is_err() {
            return;
        }
        pair.client.danger_send_raw(data);
        campus.pump_enroll(&mut pair);
        let now = pair.now;
        let _ = pair.server.handle_eof(now);
        campus.pump_enroll(&mut pair);
        if pair.server.error().is_some() {
            assert!(pair.server.is_closed());
        }
    });
});
