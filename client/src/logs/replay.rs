//! A monitor's replay of a whole log (`staff audit-log`): every entry read (each bundle checked
//! against the hash tiles, the root recomputed and compared with the signed checkpoint), every
//! entry decoded and counted by kind, and any entry that does not decode, or does not belong in
//! that log, reported.

use super::reader::{Head, LogReader};
use super::state::Log;
use crate::session::StudentError;
use handin_core::logs::LogEntry;

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Receipts.
    pub receipts: u64,
    /// Commitments.
    pub commitments: u64,
    /// Certificates.
    pub certificates: u64,
    /// Revocations.
    pub revocations: u64,
    /// Entries that do not decode or are of a kind the log does not hold: index and why (the
    /// first thousand).
    pub problems: Vec<(u64, String)>,
    /// Such entries past the first thousand, counted only.
    pub unlisted: u64,
}

/// The most problems listed one by one (the rest are counted).
const MAX_LISTED: usize = 1000;

/// Replays `log` at `head`: fails (kind `Auth`) if the entries served do not make the signed
/// root; answers the counts and the entries that are not what the log should hold.
pub fn replay(reader: &LogReader<'_>, log: Log, head: &Head) -> Result<Replayed, StudentError> {
    let mut r = Replayed::default();
    reader.replay(head, |index, entry| {
        let problem = match (log, LogEntry::decode(entry)) {
            (_, Err(e)) => Some(format!("does not decode: {e}")),
            (Log::Blackboard, Ok(LogEntry::Receipt(_))) => {
                r.receipts += 1;
                None
            }
            (Log::Blackboard, Ok(LogEntry::Commitment(_))) => {
                r.commitments += 1;
                None
            }
            (Log::Cuhk, Ok(LogEntry::Certificate(der))) => {
                r.certificates += 1;
                handin_core::pki::certificate_info(&der)
                    .err()
                    .map(|e| format!("a certificate that does not parse: {e}"))
            }
            (Log::Cuhk, Ok(LogEntry::Revocation(_))) => {
                r.revocations += 1;
                None
            }
            (_, Ok(other)) => Some(format!(
                "a {} in {}'s log",
                match other {
                    LogEntry::Receipt(_) => "receipt",
                    LogEntry::Commitment(_) => "commitment",
                    LogEntry::Certificate(_) => "certificate",
                    LogEntry::Revocation(_) => "revocation",
                },
                log.what()
            )),
        };
        if let Some(p) = problem {
            if r.problems.len() < MAX_LISTED {
                r.problems.push((index, p));
            } else {
                r.unlisted += 1;
            }
        }
    })?;
    Ok(r)
}
