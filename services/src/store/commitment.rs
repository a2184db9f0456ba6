//! [`CommitmentRecord`]: a student's commitment to a file's bytes (name, size, SHA-256) before
//! the due time, as Blackboard keeps it. A later submission of the same bytes within the
//! assignment's grace counts as on time ([`RecordFacts::committed_at`](super::RecordFacts)).

use handin_core::pki::StudentId;
use std::time::SystemTime;

/// A commitment as Blackboard keeps it: recorded in a transaction of its own, with its entry
/// in Blackboard's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentRecord {
    /// Who committed (from their certificate).
    pub student: StudentId,
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// The file name committed to.
    pub file_name: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// SHA-256 of its bytes.
    pub sha256: [u8; 32],
    /// When Blackboard recorded the commitment (to the second).
    pub committed_at: SystemTime,
    /// The index of its entry in Blackboard's log.
    pub log_index: u64,
}
