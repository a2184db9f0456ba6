//! What a profile remembers of handin's two logs, in `logs/` beside `receipts/`: for each log
//! its verifier key, pinned on first use (`logs/<log>.vkey`, and when, in
//! `logs/<log>.pinned-at`: a receipt naming no log received after that was kept out of the
//! log), and the last checkpoint an audit found consistent (`logs/<log>.checkpoint`, the signed note as served: it can be handed to
//! someone else, who checks it against what the log shows them). And the certificates the
//! profile ever held (`known-certificates`, the SHA-256 of each, one a line): a certificate
//! CUHK's log holds for the profile's ID but this list does not is one someone else obtained.

use super::reader::Head;
use crate::session::{Profile, StudentError};
use handin_core::submit::{hex, Sha256};
use handin_core::tlog::NoteVerifier;
use handin_files::{self as fsio, PUBLIC};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// One of handin's two logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Log {
    /// Blackboard's log of receipts and commitments.
    Blackboard,
    /// CUHK's log of certificates and revocations.
    Cuhk,
}

impl Log {
    /// Both logs, Blackboard's first.
    pub const ALL: [Log; 2] = [Log::Blackboard, Log::Cuhk];

    /// Its name in files, flags and JSON: `blackboard`, `cuhk`.
    pub fn name(self) -> &'static str {
        match self {
            Log::Blackboard => "blackboard",
            Log::Cuhk => "cuhk",
        }
    }

    /// Whose it is, in sentences: `Blackboard`, `CUHK`.
    pub fn what(self) -> &'static str {
        match self {
            Log::Blackboard => "Blackboard",
            Log::Cuhk => "CUHK",
        }
    }

    /// The log named `name` (`blackboard`, `cuhk`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }
}

impl Profile {
    /// Where the logs' pinned keys and last checkpoints are kept.
    pub fn logs(&self) -> PathBuf {
        self.dir().join("logs")
    }

    /// The pinned verifier key of `log`.
    pub fn log_vkey(&self, log: Log) -> PathBuf {
        self.logs().join(format!("{}.vkey", log.name()))
    }

    /// When the verifier key of `log` was pinned: seconds since the Unix epoch, one line
    /// (profiles pinned before it was kept have none: the key file's modification time says).
    pub fn log_pinned_at(&self, log: Log) -> PathBuf {
        self.logs().join(format!("{}.pinned-at", log.name()))
    }

    /// The last checkpoint of `log` an audit found consistent (a signed note).
    pub fn log_checkpoint(&self, log: Log) -> PathBuf {
        self.logs().join(format!("{}.checkpoint", log.name()))
    }

    /// The SHA-256 of every certificate this profile held, one a line.
    pub fn known_certificates(&self) -> PathBuf {
        self.dir().join("known-certificates")
    }

    /// Where commitments are kept.
    pub fn commitments(&self) -> PathBuf {
        self.dir().join("commitments")
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StudentError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StudentError::file(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), StudentError> {
    if let Some(dir) = path.parent() {
        fsio::create_dir(dir, 0o700)
            .map_err(|e| StudentError::file(format!("cannot create {}: {e}", dir.display())))?;
    }
    fsio::write_atomic(path, bytes, PUBLIC)
        .map_err(|e| StudentError::file(format!("cannot write {}: {e}", path.display())))
}

/// A log key the profile pinned: its text and verifier.
#[derive(Debug, Clone)]
pub struct Pinned {
    /// The vkey text.
    pub vkey: String,
    /// Its verifier.
    pub verifier: NoteVerifier,
}

impl Pinned {
    /// A pinned key from its text.
    pub fn parse(vkey: &str) -> Result<Self, String> {
        let vkey = vkey.trim();
        let verifier = NoteVerifier::from_vkey(vkey).map_err(|e| e.to_string())?;
        Ok(Self {
            vkey: vkey.to_owned(),
            verifier,
        })
    }
}

/// The verifier key the profile pinned for `log`, if any.
pub fn pinned_vkey(profile: &Profile, log: Log) -> Result<Option<Pinned>, StudentError> {
    let path = profile.log_vkey(log);
    let Some(bytes) = read_optional(&path)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    Pinned::parse(&text).map(Some).map_err(|e| {
        StudentError::file(format!(
            "{} is damaged ({e}): restore it from a backup of your profile; deleting it pins \
             the key the log serves next",
            path.display()
        ))
    })
}

/// Pins `vkey` as `log`'s key.
pub fn pin_vkey(profile: &Profile, log: Log, vkey: &str) -> Result<Pinned, StudentError> {
    let pinned = Pinned::parse(vkey)
        .map_err(|e| StudentError::auth(format!("{}'s log key: {e}", log.what())))?;
    write(
        &profile.log_vkey(log),
        format!("{}\n", pinned.vkey).as_bytes(),
    )?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    write(&profile.log_pinned_at(log), format!("{now}\n").as_bytes())?;
    tracing::info!(log = log.name(), vkey = %pinned.vkey, "pinned the log's key");
    Ok(pinned)
}

/// When `log`'s key was pinned (seconds since the Unix epoch): as recorded beside it, else (a
/// profile that pinned it before the time was recorded) the key file's modification time;
/// `None` if no key is pinned.
pub fn pinned_at(profile: &Profile, log: Log) -> Result<Option<u64>, StudentError> {
    if let Some(bytes) = read_optional(&profile.log_pinned_at(log))? {
        if let Some(t) = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
        {
            return Ok(Some(t));
        }
    }
    let path = profile.log_vkey(log);
    match std::fs::metadata(&path) {
        Ok(m) => Ok(Some(
            m.modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs()),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StudentError::file(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// After a receipt or commitment from Blackboard verified, the log key it names (`vkey`,
/// empty if it names none): pins it if the profile has no key for Blackboard's log. Once a key
/// is pinned, a statement naming no log or another key is one Blackboard's log (as this
/// profile knows it) does not hold: refused (kind `Auth`), whatever was saved is kept. A
/// failure to pin is only a warning on stderr.
pub fn observe_blackboard_vkey(profile: &Profile, vkey: &str) -> Result<(), StudentError> {
    let pinned = match pinned_vkey(profile, Log::Blackboard) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("student: warning: {e}");
            return Ok(());
        }
    };
    match pinned {
        None if vkey.is_empty() => Ok(()),
        None => {
            if let Err(e) = pin_vkey(profile, Log::Blackboard, vkey) {
                eprintln!("student: warning: {e}");
            }
            Ok(())
        }
        Some(p) if p.vkey == vkey => Ok(()),
        Some(p) => Err(StudentError::auth(if vkey.is_empty() {
            format!(
                "it names no log, though your profile pinned Blackboard's log key {} (all \
                 Blackboard signs since is logged)",
                p.vkey
            )
        } else {
            format!(
                "it names the log key {vkey}, not the one your profile pinned ({})",
                p.vkey
            )
        })),
    }
}

/// The last checkpoint of `log` the profile saved, opened with the pinned key `pinned`.
pub fn saved_checkpoint(
    profile: &Profile,
    log: Log,
    pinned: &Pinned,
) -> Result<Option<Head>, StudentError> {
    let path = profile.log_checkpoint(log);
    let Some(note) = read_optional(&path)? else {
        return Ok(None);
    };
    Head::open(&note, &pinned.verifier).map(Some).map_err(|e| {
        StudentError::file(format!(
            "{} is not a checkpoint signed by the pinned key of {}'s log ({e}): restore it from \
             a backup of your profile",
            path.display(),
            log.what()
        ))
    })
}

/// Saves `head` as the last checkpoint of `log` found consistent.
pub fn save_checkpoint(profile: &Profile, log: Log, head: &Head) -> Result<(), StudentError> {
    write(&profile.log_checkpoint(log), head.note.as_bytes())
}

/// The SHA-256 of a certificate, as the known-certificates list holds it.
pub fn certificate_hash(der: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(der);
    hex(&h.finish())
}

/// The certificates the profile held (SHA-256, lower-case hex); `None` if it keeps no list
/// yet (a profile from before the logs).
pub fn known_certificates(profile: &Profile) -> Result<Option<BTreeSet<String>>, StudentError> {
    let Some(bytes) = read_optional(&profile.known_certificates())? else {
        return Ok(None);
    };
    Ok(Some(
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| l.trim().to_ascii_lowercase())
            .filter(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect(),
    ))
}

/// Adds a certificate (DER) to the list of those the profile held.
pub fn remember_certificate(profile: &Profile, der: &[u8]) -> Result<(), StudentError> {
    let mut known = known_certificates(profile)?.unwrap_or_default();
    if known.insert(certificate_hash(der)) {
        let text: String = known.iter().map(|h| format!("{h}\n")).collect();
        write(&profile.known_certificates(), text.as_bytes())?;
    }
    Ok(())
}
