//! handin's log formats fed arbitrary bytes: log entries (receipt and commitment bodies,
//! certificates, revocations), log proofs, receipt and commitment envelopes, and requested
//! log paths. Never panics; what parses encodes to what parses the same again, and a log proof
//! prints back to the very bytes it came from.
#![no_main]

use handin_core::logs::{check_log_path, Commitment, LogEntry, LogProof};
use handin_core::Receipt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = LogEntry::decode(data) {
        assert_eq!(LogEntry::decode(&entry.encode()).ok(), Some(entry));
    }
    if let Ok(proof) = LogProof::decode(data) {
        assert_eq!(proof.encode(), data);
    }
    if let Ok(r) = Receipt::decode(data) {
        let again = Receipt::decode(&r.encode()).ok();
        assert_eq!(again.as_ref(), Some(&r));
        let _ = r.body_unverified();
        // Any certificate bytes: an answer, never a panic.
        let _ = r.verify_logged(data);
    }
    if let Ok(c) = Commitment::decode(data) {
        assert_eq!(Commitment::decode(&c.encode()).ok().as_ref(), Some(&c));
        let _ = c.body_unverified();
        let _ = c.verify(data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = check_log_path(text);
    }
});
