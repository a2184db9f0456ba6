//! The checks of an audit, each over a [`LogReader`] and what the profile remembers, with no
//! file or connection of its own (the student's `audit` command wires them up):
//!
//! - [`check_head`]: the log's key is the pinned one, and its current checkpoint continues the
//!   last one seen (same size: same root; larger: a consistency proof; smaller: the log shrank).
//! - [`check_statement`]: a receipt or commitment's own proof verifies, its checkpoint is
//!   consistent with the current one, the log still serves its bytes at its index, and they are
//!   still included at the current size.
//! - [`certificates_of`]: every certificate CUHK's log holds for one ID, revoked or not, and
//!   whether the profile ever held it.
//! - [`compare_checkpoint`]: a checkpoint someone else saw, against the current one.
//!
//! A failed check is an [`StudentError`] of kind `Auth`, and so is a tile or bundle a signed
//! checkpoint covers that the log says it does not hold; a log that cannot be read (the
//! connection broke, the server refused for another reason) fails with that error's own kind,
//! never as an alarm.

use super::reader::{Head, LogReader};
use super::state::{certificate_hash, Log, Pinned};
use crate::session::StudentError;
use crate::ErrorKind;
use handin_core::logs::{LogEntry, LogProof};
use handin_core::pki::{person_of, serial_hex, PersonId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

/// How a log's current checkpoint relates to the last one the profile saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// The profile saved none: this is the first audit of the log.
    First,
    /// The same checkpoint (size and root).
    Same,
    /// The log grew from `from` entries, consistently (proof checked).
    Grew {
        /// The size saved before.
        from: u64,
    },
}

/// A log's key and current head, checked against what the profile knows.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The log key (the pinned one, or the one just served if none was).
    pub pinned: Pinned,
    /// Whether this audit pinned it (first use).
    pub pinned_now: bool,
    /// The current checkpoint.
    pub head: Head,
    /// How it relates to the saved one.
    pub since: Since,
}

fn alarm(m: impl Into<String>) -> StudentError {
    StudentError::auth(m)
}

/// A failed proof check `e` told as `why` says; any other failure (the connection, a refusal)
/// is left as it is, to be tried again: it says nothing about the log.
fn if_alarm(e: StudentError, why: impl FnOnce(&str) -> String) -> StudentError {
    if e.kind() == ErrorKind::Auth {
        alarm(why(e.message()))
    } else {
        e
    }
}

/// Checks `log`'s key as served against `pinned` (the profile's, if any), opens its current
/// checkpoint with that key, and checks that it continues `saved` (the last checkpoint the
/// profile saved).
pub fn check_head(
    reader: &LogReader<'_>,
    log: Log,
    pinned: Option<&Pinned>,
    saved: Option<&Head>,
) -> Result<Checked, StudentError> {
    let served = reader.vkey()?;
    let (pinned, pinned_now) = match pinned {
        Some(p) if p.vkey == served => (p.clone(), false),
        Some(p) => {
            return Err(alarm(format!(
                "{}'S LOG KEY CHANGED: your profile pinned {}, the log now serves {served}; \
                 what it shows cannot be checked against what you saw before: report it to IT \
                 security",
                log.what().to_uppercase(),
                p.vkey
            )))
        }
        None => (Pinned::parse(&served).map_err(alarm)?, true),
    };
    let head = reader.head(&pinned.verifier)?;
    let since = match saved {
        None => Since::First,
        Some(old) => compare(reader, &head, old).map_err(|e| {
            e.context(format!(
                "{}'s log now (size {}) against the checkpoint your profile saved (size {})",
                log.what(),
                head.size(),
                old.size()
            ))
        })?,
    };
    Ok(Checked {
        pinned,
        pinned_now,
        head,
        since,
    })
}

/// `head` against an earlier `old` of the same log.
fn compare(reader: &LogReader<'_>, head: &Head, old: &Head) -> Result<Since, StudentError> {
    use std::cmp::Ordering;
    match old.size().cmp(&head.size()) {
        Ordering::Equal if old.root() == head.root() => Ok(Since::Same),
        Ordering::Equal => Err(alarm(
            "the log shows a different history than before: rewritten or split view (two \
             checkpoints of the same size with different roots, both signed by the log's key)",
        )),
        Ordering::Greater => Err(alarm(format!(
            "the log shrank from {} to {} entries: it was rolled back or shows you another \
             history (split view)",
            old.size(),
            head.size()
        ))),
        Ordering::Less => {
            reader
                .check_consistency(old.size(), old.root(), head)
                .map_err(|e| {
                    if_alarm(e, |m| {
                        format!(
                            "the log is not consistent with what you saw before ({m}): \
                             rewritten or split view"
                        )
                    })
                })?;
            Ok(Since::Grew { from: old.size() })
        }
    }
}

/// Checks a statement Blackboard logged (a receipt's or commitment's `body`, naming the log
/// `log_key`, with its `proof`) against the log at `head`, whose pinned key is `pinned`: the
/// statement names that log, its own proof verifies, its checkpoint is consistent with `head`,
/// the log serves exactly `body` at its index, and it is included at `head`'s size. Answers
/// the index.
pub fn check_statement(
    reader: &LogReader<'_>,
    pinned: &Pinned,
    head: &Head,
    body: &[u8],
    log_key: &str,
    proof: &LogProof,
) -> Result<u64, StudentError> {
    if log_key != pinned.vkey {
        return Err(alarm(format!(
            "it names the log key {log_key}, not the one your profile pinned ({})",
            pinned.vkey
        )));
    }
    let then = proof
        .verify(body, &pinned.verifier)
        .map_err(|e| alarm(format!("its own log proof does not verify: {e}")))?;
    let index = proof.index;
    let then = Head {
        note: proof.checkpoint.clone(),
        checkpoint: then,
    };
    compare(reader, head, &then).map_err(|e| {
        e.context(format!(
            "the log now (size {}) against the checkpoint its proof leads to (size {})",
            head.size(),
            then.size()
        ))
    })?;
    let served = reader.entry(index, head.size())?;
    if served != body {
        return Err(alarm(format!(
            "the log serves other bytes at entry {index}: it was rewritten"
        )));
    }
    reader
        .check_inclusion(body, index, head)
        .map_err(|e| if_alarm(e, |m| format!("entry {index} is no longer in the log: {m}")))?;
    Ok(index)
}

/// A certificate CUHK's log holds for one ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// Its index in CUHK's log.
    pub index: u64,
    /// Serial, upper-case hex.
    pub serial: String,
    /// Subject.
    pub subject: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
    /// When CUHK revoked it (seconds since the Unix epoch), if it did.
    pub revoked_at: Option<u64>,
    /// Whether the profile ever held it.
    pub known: bool,
}

/// Reads all of CUHK's log at `head` (every bundle checked, the root recomputed) and answers
/// every certificate it issued for `person`, with its revocation if logged; `known` is the
/// list of certificates the profile held.
pub fn certificates_of(
    reader: &LogReader<'_>,
    head: &Head,
    person: &PersonId,
    known: &BTreeSet<String>,
) -> Result<Vec<Issued>, StudentError> {
    let mut issued = Vec::new();
    let mut revoked = BTreeMap::new();
    reader.replay(head, |index, entry| match LogEntry::decode(entry) {
        Ok(LogEntry::Certificate(der)) => {
            if let Ok((id, info)) = person_of(&der) {
                if id == *person {
                    let sha256 = certificate_hash(&der);
                    issued.push(Issued {
                        index,
                        serial: serial_hex(&info.serial),
                        subject: info.subject,
                        not_before: info.not_before,
                        not_after: info.not_after,
                        known: known.contains(&sha256),
                        sha256,
                        revoked_at: None,
                    });
                }
            }
        }
        Ok(LogEntry::Revocation(r)) if r.person == person.as_str() => {
            revoked.insert(r.serial_hex, r.revoked_at);
        }
        _ => {}
    })?;
    for c in &mut issued {
        c.revoked_at = revoked.get(&c.serial).copied();
    }
    Ok(issued)
}

/// How a checkpoint someone else saw relates to the log's current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compared {
    /// The same checkpoint.
    Same,
    /// An earlier one, consistent with the current one (proof checked).
    Consistent,
    /// A later one than the log shows now, which continues it: a consistency proof from the
    /// current checkpoint to it, made from the tiles the log serves at its size, checked.
    NewerConsistent,
    /// A later one than the log shows now, whose tiles the log does not serve yet: it cannot
    /// be checked yet (audit again later).
    Newer,
}

/// Checks `other`, a checkpoint of the same log someone else saw (opened with the pinned
/// key), against `head`: same size and another root, or an earlier one that `head` does not
/// continue, is a split view. A later one is checked if the log already serves the tiles at
/// its size (a log that grew since `head` was read): one that does not continue `head` is a
/// split view too; if the log does not serve them yet, it is [`Compared::Newer`].
pub fn compare_checkpoint(
    reader: &LogReader<'_>,
    head: &Head,
    other: &Head,
) -> Result<Compared, StudentError> {
    let split = |why: String| {
        alarm(format!(
            "SPLIT VIEW: the log showed whoever saw this checkpoint another history than \
             it shows you ({why})"
        ))
    };
    if other.size() > head.size() {
        return match reader.check_consistency(head.size(), head.root(), other) {
            Ok(()) => Ok(Compared::NewerConsistent),
            Err(e) if e.is_missing() => Ok(Compared::Newer),
            Err(e) if e.kind() == ErrorKind::Auth => Err(split(format!(
                "size {} is not a prefix of size {}: {}",
                head.size(),
                other.size(),
                e.message()
            ))),
            Err(e) => Err(e),
        };
    }
    if other.size() == head.size() {
        return if other.root() == head.root() {
            Ok(Compared::Same)
        } else {
            Err(split(format!(
                "two checkpoints of size {} with different roots",
                head.size()
            )))
        };
    }
    reader
        .check_consistency(other.size(), other.root(), head)
        .map_err(|e| {
            if_alarm(e, |m| {
                format!(
                    "SPLIT VIEW: the log showed whoever saw this checkpoint another history \
                     than it shows you (size {} is not a prefix of size {}: {m})",
                    other.size(),
                    head.size()
                )
            })
        })?;
    Ok(Compared::Consistent)
}
