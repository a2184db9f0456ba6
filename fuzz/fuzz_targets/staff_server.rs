//! The staff server after a completed mutual-TLS handshake, fed arbitrary plaintext by a
//! member of staff, with the in-memory board answering: never panics, an error always closes,
//! nothing is recorded for a course the caller does not teach, and every stored feedback file
//! matches its declared size and hash.
#![no_main]

use handin_core::harness::{t0, Campus};
use handin_core::submit::sha256;
use handin_core::Now;
use handin_core::{ClientConfig, Role};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::time::Instant;

thread_local! {
    // One client configuration for every run: its session cache makes later handshakes
    // resumptions (cheaper, and they exercise the post-handshake identity checks).
    static CAMPUS: RefCell<(Campus, ClientConfig)> = RefCell::new({
        let mut c = Campus::new(Now::new(Instant::now(), t0()));
        c.board.add_course("CSCI3180", "PL", &["prof.lee"], &["1155000001"]);
        c.board.add_course("CSCI2100", "DS", &["prof.wong"], &[]);
        let id = c.new_staff("prof.lee");
        let config = c.client_config(Role::Staff, Some(id));
        (c, config)
    });
}

fuzz_target!(|data: &[u8]| {
    CAMPUS.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (campus, config) = &mut *guard;
        campus.board.forget_staff_records();
        let mut pair = campus.staff_pair_with(config);
        if campus.connect_staff(&mut pair).is_err() {
            return;
        }
        pair.client.danger_send_raw(data);
        campus.pump_staff(&mut pair);
        let now = pair.now;
        let _ = pair.server.handle_eof(now);
        campus.pump_staff(&mut pair);
        if pair.server.error().is_some() {
            assert!(pair.server.is_closed());
        }
        for (course, row) in &campus.board.log {
            assert_eq!(course, "CSCI3180", "an action on a course prof.lee does not teach");
            assert_eq!(row.actor, "prof.lee");
        }
        for (file, bytes) in campus.board.feedback_files() {
            assert_eq!(file.size, bytes.len() as u64);
            assert_eq!(file.sha256, sha256(bytes));
        }
    });
});
