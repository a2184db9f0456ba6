//! [`LogProof`]: where a statement sits in a log, and the proof of it: the leaf index, the
//! inclusion proof, and the signed checkpoint the proof leads to. Attached to a receipt or a
//! commitment, it lets anyone holding the log's verifier key check, offline, that the log
//! holds the statement.
//!
//! ```text
//! log_proof = u64 index | u8 n | n * [32] hash | u16 len | checkpoint (signed note text)
//! ```

use crate::msg::Reader;
use crate::tlog::{leaf_hash, verify_inclusion, Checkpoint, Hash, NoteVerifier, MAX_NOTE_LEN};
use bytes::{BufMut, Bytes, BytesMut};

/// The most hashes an inclusion proof has (a tree of 2^64 leaves).
const MAX_PROOF: usize = 64;

/// A statement's place in a log and the proof of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogProof {
    /// The leaf index.
    pub index: u64,
    /// The inclusion proof of the leaf in the tree of the checkpoint's size.
    pub hashes: Vec<Hash>,
    /// The log's signed checkpoint (a C2SP signed note).
    pub checkpoint: String,
}

impl LogProof {
    /// The proof's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_u64(self.index);
        b.put_u8(self.hashes.len().min(MAX_PROOF) as u8);
        for h in self.hashes.iter().take(MAX_PROOF) {
            b.put_slice(h.as_bytes());
        }
        let note = self.checkpoint.as_bytes();
        let note = &note[..note.len().min(usize::from(u16::MAX))];
        b.put_u16(note.len() as u16);
        b.put_slice(note);
        b.to_vec()
    }

    /// Reads a proof's bytes (all of them).
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader(Bytes::copy_from_slice(bytes));
        let e = |e: crate::msg::DecodeError| e.0;
        let index = r.u64().map_err(e)?;
        let n = usize::from(r.u8().map_err(e)?);
        if n > MAX_PROOF {
            return Err(format!("an inclusion proof of {n} hashes"));
        }
        let mut hashes = Vec::with_capacity(n);
        for _ in 0..n {
            hashes.push(Hash(r.hash().map_err(e)?));
        }
        let len = usize::from(r.u16().map_err(e)?);
        if len > MAX_NOTE_LEN || r.0.len() != len {
            return Err("the checkpoint's length does not match".into());
        }
        let checkpoint = String::from_utf8(r.0.to_vec())
            .map_err(|_| "the checkpoint is not UTF-8".to_owned())?;
        Ok(Self {
            index,
            hashes,
            checkpoint,
        })
    }

    /// Checks that the log whose key is `verifier` holds `entry` at this index: the checkpoint
    /// is signed by that key for the log named by it, and the inclusion proof leads from the
    /// entry's leaf hash to the checkpoint's root. Answers the checkpoint.
    pub fn verify(&self, entry: &[u8], verifier: &NoteVerifier) -> Result<Checkpoint, String> {
        let checkpoint = Checkpoint::open(
            self.checkpoint.as_bytes(),
            verifier.name(),
            std::slice::from_ref(verifier),
        )
        .map_err(|e| format!("its checkpoint: {e}"))?;
        verify_inclusion(
            &leaf_hash(entry),
            self.index,
            checkpoint.size,
            &self.hashes,
            &checkpoint.root,
        )
        .map_err(|e| format!("leaf {} of the log {}: {e}", self.index, verifier.name()))?;
        Ok(checkpoint)
    }
}
