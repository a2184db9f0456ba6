//! handin's transparency logs, on top of the generic [`tlog`](crate::tlog) code: what the logs
//! hold ([`LogEntry`]), the proof a receipt or commitment carries ([`LogProof`]), and
//! commitments ([`Commitment`]).
//!
//! CUHK logs every certificate it issues and every revocation; Blackboard every receipt and
//! every commitment. Each log has its own Ed25519 key (a C2SP note key), named after the log's
//! origin: [`receipts_origin`] and [`certificates_origin`].
//!
//! | file | holds |
//! |---|---|
//! | `entries.rs` | [`LogEntry`]: receipts, commitments, certificates, revocations |
//! | `proof.rs` | [`LogProof`]: index, inclusion proof and checkpoint, verified offline |
//! | `commitment.rs` | [`CommitmentBody`], [`Commitment`] |
//! | `fetch.rs` | what a client may ask of a served log (tile paths), and its size limits |

mod commitment;
mod entries;
mod fetch;
mod proof;

pub use commitment::{Commitment, CommitmentBody, PEM_LABEL as COMMITMENT_PEM_LABEL};
pub use entries::{LogEntry, Revocation};
pub use fetch::{check_log_path, LogPath, MAX_LOG_OBJECT};
pub(crate) use fetch::{send_object, Incoming};
pub use proof::LogProof;

/// The origin (and key name) of Blackboard's log on `host`.
pub fn receipts_origin(host: &str) -> String {
    format!("{host}/receipts")
}

/// The origin (and key name) of CUHK's log on `host`.
pub fn certificates_origin(host: &str) -> String {
    format!("{host}/certificates")
}
