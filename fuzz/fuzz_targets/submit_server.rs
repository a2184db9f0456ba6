//! The submission server after a completed mutual-TLS handshake, fed arbitrary plaintext by an
//! enrolled student, with the in-memory board answering: never panics, an error always closes,
//! and nothing is stored that does not match its declared hash.
#![no_main]

use handin_core::harness::{t0, Campus};
use handin_core::submit::sha256;
use handin_core::{ClientConfig, Role};
use handin_core::Now;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::time::Instant;

thread_local! {
    // One client configuration for every run: its session cache makes later handshakes
    // resumptions (cheaper, and they exercise the post-handshake identity checks).
    static CAMPUS: RefCell<(Campus, ClientConfig)> = RefCell::new({
        let mut c = Campus::new(Now::new(Instant::now(), t0()));
        let id = c.new_student("1155000001");
        let config = c.client_config(Role::Submit, Some(id));
        (c, config)
    });
}

fuzz_target!(|data: &[u8]| {
    CAMPUS.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (campus, config) = &mut *guard;
        campus.board.stored.clear();
        let mut pair = campus.submit_pair_with(config);
        if campus.connect_submit(&mut pair).is_err() {
            return;
        }
        pair.client.danger_send_raw(data);
        campus.pump_submit(&mut pair);
        let now = pair.now;
        let _ = pair.server.handle_eof(now);
        campus.pump_submit(&mut pair);
        if pair.server.error().is_some() {
            assert!(pair.server.is_closed());
        }
        for (entry, bytes) in &campus.board.stored {
            assert_eq!(entry.sha256, sha256(bytes));
            assert_eq!(entry.size, bytes.len() as u64);
            assert_eq!(entry.student_id, "1155000001");
        }
    });
});
