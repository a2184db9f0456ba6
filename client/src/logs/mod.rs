//! handin's transparency logs from the client's side: reading a served log object by object
//! and checking it, what a profile remembers of each log, and the checks of `student audit`
//! and `staff audit-log`.
//!
//! CUHK logs every certificate it issues and every revocation; Blackboard every receipt and
//! every commitment. A student checks that the statements they hold are still in Blackboard's
//! log and that the log only ever grows, and that CUHK's log holds no certificate for their ID
//! that they never had; a monitor replays a whole log.
//!
//! | file | holds |
//! |---|---|
//! | `reader.rs` | [`LogReader`]: a log's objects over any connection, hash tiles cached, entries checked against them, proofs from tiles; [`Head`] |
//! | `connect.rs` | the connections a log is read over (Blackboard's student and staff sessions, CUHK's enrollment connection) |
//! | `state.rs` | [`Log`]; the profile's pinned log keys, last checkpoints and known certificates |
//! | `audit.rs` | the checks of an audit: a log's head, a logged statement, CUHK's certificates for one ID, others' checkpoints |
//! | `replay.rs` | a monitor's replay of a whole log |
//! | `tests.rs`, `tests_fetch.rs` | the checks against in-memory logs; fetches that fail in each way, and statements outside the pinned log |

mod audit;
pub(crate) mod connect;
mod reader;
mod replay;
mod state;

pub use audit::{
    certificates_of, check_head, check_statement, compare_checkpoint, Checked, Compared, Issued,
    Since,
};
pub use reader::{Bundle, Fetch, Head, LogReader};
pub use replay::{replay, Replayed};
pub use state::{
    certificate_hash, known_certificates, observe_blackboard_vkey, pin_vkey, pinned_at,
    pinned_vkey, remember_certificate, save_checkpoint, saved_checkpoint, Log, Pinned,
};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fetch;
