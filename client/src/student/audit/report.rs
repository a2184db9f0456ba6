//! What `student audit` is given and what it answers: one report per log, per saved receipt
//! and commitment, per checkpoint given, and the alarms.

use crate::logs::{Head, Issued, Log};
use std::path::PathBuf;

/// What `student audit` is given beyond the profile.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// Checkpoints someone else saw (signed note files), to check against the current ones.
    pub checkpoints: Vec<PathBuf>,
    /// A directory to copy the profile's saved checkpoints into, for others to check.
    pub export: Option<PathBuf>,
}

/// One log, as the audit found it.
#[derive(Debug, Clone)]
pub struct LogReport {
    /// Which log.
    pub log: Log,
    /// Its current checkpoint, if it could be opened with the pinned key.
    pub head: Option<Head>,
    /// The size of the checkpoint the profile saved before, if any.
    pub previous_size: Option<u64>,
    /// Whether this audit pinned the log's key (first use).
    pub pinned_now: bool,
    /// What is wrong with it, if anything.
    pub problem: Option<String>,
}

/// How a saved receipt or commitment fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementStatus {
    /// Still in the log, unchanged, consistent with the current checkpoint.
    Ok,
    /// A receipt of before the logs: nothing to check.
    NotLogged,
    /// The file could not be read as one (not checked).
    Unreadable,
    /// A check failed: see the problem.
    Alarm,
}

/// A saved receipt or commitment, checked against Blackboard's log.
#[derive(Debug, Clone)]
pub struct StatementReport {
    /// The file.
    pub file: PathBuf,
    /// The submission id (receipts) or `COURSE/ASSIGNMENT FILE` (commitments).
    pub what: String,
    /// Its index in the log, if logged.
    pub index: Option<u64>,
    /// How it fared.
    pub status: StatementStatus,
    /// What is wrong, if anything.
    pub problem: Option<String>,
}

/// A checkpoint someone else saw (`--checkpoint`), compared with the current one.
#[derive(Debug, Clone)]
pub struct CheckpointReport {
    /// The file.
    pub file: PathBuf,
    /// The log whose pinned key signed it, if one did.
    pub log: Option<Log>,
    /// Its size, if it opened.
    pub size: Option<u64>,
    /// `same`, `consistent`, `newer_consistent` (ahead of what the log shows now, and
    /// continuing it: proof checked), `newer` (ahead, not provable yet), `split_view`,
    /// `unknown_key` (signed by neither pinned key) or `unchecked` (its log failed its checks).
    pub outcome: &'static str,
    /// What is wrong, if anything.
    pub problem: Option<String>,
}

/// What `student audit` found.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    /// The ID in the profile's certificate.
    pub person: String,
    /// Blackboard's log, then CUHK's.
    pub logs: Vec<LogReport>,
    /// Every saved receipt.
    pub receipts: Vec<StatementReport>,
    /// Every saved commitment.
    pub commitments: Vec<StatementReport>,
    /// Every certificate CUHK's log holds for the ID.
    pub certificates: Vec<Issued>,
    /// The checkpoints given with `--checkpoint`.
    pub checkpoints: Vec<CheckpointReport>,
    /// Every failed check, one sentence each: empty if the audit passed.
    pub alarms: Vec<String>,
    /// Whether the current checkpoints were saved (only if every check passed).
    pub saved: bool,
    /// The checkpoint files written by `--export`.
    pub exported: Vec<PathBuf>,
}

impl Audit {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.alarms.is_empty()
    }
}
