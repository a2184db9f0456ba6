//! `staff audit-log`: a monitor of one log, which anyone with a profile can run. It replays the
//! whole log (every entry bundle checked against the hash tiles, the root recomputed and
//! compared with the signed checkpoint), decodes every entry and counts them by kind, and
//! checks that the log continues the last checkpoint this profile saw. Blackboard's log is read
//! over a staff session, CUHK's over an enrollment connection.

use crate::logs::connect::cuhk_log;
use crate::logs::{
    check_head, pin_vkey, pinned_vkey, replay, save_checkpoint, saved_checkpoint, Head, Log,
    LogReader, Pinned, Replayed, Since,
};
use crate::session::{staff_blackboard, Profile, Remote, StudentError};

/// What a replay of a log found.
#[derive(Debug, Clone)]
pub struct AuditedLog {
    /// Which log.
    pub log: Log,
    /// The checkpoint replayed.
    pub head: Head,
    /// How it relates to the last one this profile saved.
    pub since: Since,
    /// The log key checked against, and whether this run pinned it.
    pub vkey: String,
    /// Whether this run pinned the key (first use).
    pub pinned_now: bool,
    /// The entries, by kind, and those that are not what the log should hold.
    pub replayed: Replayed,
    /// Whether the checkpoint was saved (every entry as it should be).
    pub saved: bool,
}

impl AuditedLog {
    /// Whether every entry is one the log should hold.
    pub fn passed(&self) -> bool {
        self.replayed.problems.is_empty() && self.replayed.unlisted == 0
    }
}

/// Replays `log` (Blackboard's at `bb`, CUHK's at `cuhk`), checking its checkpoint with
/// `vkey` if given (it must then be the key the profile pinned, if it pinned one; else it is
/// pinned), or else with the profile's pinned key, or else the key the log serves (pinned on
/// this first use). A log whose entries do not make its signed root, or that does not continue
/// the checkpoint the profile saved, fails with kind `Auth`; entries that do not decode are
/// reported in the answer, and then the checkpoint is not saved.
pub fn audit_log(
    bb: &Remote,
    cuhk: &Remote,
    profile: &Profile,
    log: Log,
    vkey: Option<&str>,
) -> Result<AuditedLog, StudentError> {
    let pinned = pinned_vkey(profile, log)?;
    let given = vkey
        .map(|v| Pinned::parse(v).map_err(|e| StudentError::usage(format!("--vkey {v:?}: {e}"))))
        .transpose()?;
    let key = match (given, pinned) {
        (Some(g), Some(p)) if g.vkey != p.vkey => {
            return Err(StudentError::auth(format!(
                "the key given ({}) is not the one your profile pinned for {}'s log ({})",
                g.vkey,
                log.what(),
                p.vkey
            )))
        }
        (Some(g), None) => {
            pin_vkey(profile, log, &g.vkey)?;
            Some(g)
        }
        (_, p) => p,
    };
    let saved = match &key {
        Some(k) => saved_checkpoint(profile, log, k)?,
        None => None,
    };
    let run = |reader: &LogReader<'_>| -> Result<AuditedLog, StudentError> {
        let checked = check_head(reader, log, key.as_ref(), saved.as_ref())?;
        let replayed = replay(reader, log, &checked.head)?;
        Ok(AuditedLog {
            log,
            head: checked.head,
            since: checked.since,
            vkey: checked.pinned.vkey,
            pinned_now: checked.pinned_now,
            replayed,
            saved: false,
        })
    };
    let mut audited = match log {
        Log::Blackboard => {
            let mut session = staff_blackboard(bb, profile)?;
            session.keep_open();
            let r = run(&LogReader::new("Blackboard", |p: &str| {
                session.log_object(p)
            }));
            session.finish();
            r?
        }
        Log::Cuhk => {
            let mut session = cuhk_log(cuhk, profile)?;
            let r = run(&LogReader::new("CUHK", |p: &str| session.log_object(p)));
            session.finish();
            r?
        }
    };
    if audited.pinned_now {
        pin_vkey(profile, log, &audited.vkey)?;
    }
    if audited.passed() {
        save_checkpoint(profile, log, &audited.head)?;
        audited.saved = true;
    }
    Ok(audited)
}
