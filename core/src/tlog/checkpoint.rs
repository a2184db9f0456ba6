//! C2SP checkpoints (<https://c2sp.org/tlog-checkpoint>): a log's signed statement of its size
//! and root, as the text of a signed note:
//!
//! ```text
//! <origin>
//! <tree size, decimal, no leading zeros>
//! <base64 root hash>
//! [extension lines]
//! ```
//!
//! handin's origins are plain strings to this code, e.g. `cuhk.example/certificates` and
//! `blackboard.example/receipts`.

use super::hash::Hash;
use super::note::{Note, NoteSigner, NoteVerifier};
use super::TlogError;

/// A checkpoint body: which log, how many leaves, which root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `cuhk.example/certificates`.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The root of the tree of `size` leaves.
    pub root: Hash,
    /// Optional extension lines (not recommended by the specification), each non-empty.
    pub extensions: Vec<String>,
}

fn bad(msg: impl Into<String>) -> TlogError {
    TlogError::BadCheckpoint(msg.into())
}

fn check_line(line: &str, what: &str) -> Result<(), TlogError> {
    if line.is_empty() {
        return Err(bad(format!("an empty {what}")));
    }
    if let Some(c) = line.chars().find(|c| c.is_control()) {
        return Err(bad(format!("the {what} contains {c:?}")));
    }
    Ok(())
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: origin, size and base64 root, then the extension lines, each line ending
    /// in a newline. Fails on an empty origin or extension line, or one with a control
    /// character.
    pub fn to_text(&self) -> Result<String, TlogError> {
        check_line(&self.origin, "origin")?;
        for ext in &self.extensions {
            check_line(ext, "extension line")?;
        }
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for ext in &self.extensions {
            text.push_str(ext);
            text.push('\n');
        }
        Ok(text)
    }

    /// Parses a note text as a checkpoint, strictly: a size without leading zeros that fits in
    /// 64 bits, the standard base64 of 32 bytes, no empty line.
    pub fn parse_text(text: &str) -> Result<Self, TlogError> {
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("the text does not end in a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(bad("fewer than three lines"));
        };
        check_line(origin, "origin")?;
        let size = parse_size(size)?;
        let root = Hash::from_base64(root).map_err(|e| bad(format!("the root hash: {e}")))?;
        let extensions = lines
            .map(|l| check_line(l, "extension line").map(|()| l.to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint: the signed note a log publishes.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, TlogError> {
        signer.sign(&self.to_text()?)
    }

    /// Opens a signed checkpoint: the note must carry a valid signature by one of `verifiers`
    /// (see [`Note::open`]) and its body must be a checkpoint of the log `origin`.
    pub fn open(note: &[u8], origin: &str, verifiers: &[NoteVerifier]) -> Result<Self, TlogError> {
        let (note, _) = Note::open(note, verifiers)?;
        let checkpoint = Self::parse_text(&note.text)?;
        if checkpoint.origin != origin {
            return Err(bad(format!(
                "it is from the log {:?}, not {origin:?}",
                checkpoint.origin
            )));
        }
        Ok(checkpoint)
    }
}

fn parse_size(text: &str) -> Result<u64, TlogError> {
    let canonical = !text.is_empty()
        && text.len() <= 20
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(bad(format!(
            "the tree size {:?} is not a decimal number without leading zeros",
            text.chars().take(24).collect::<String>()
        )));
    }
    text.parse()
        .map_err(|_| bad(format!("the tree size {text} is too large")))
}
