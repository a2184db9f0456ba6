//! [`TlogError`]: what can go wrong in the transparency-log code, one clear message each.

/// An error of the transparency-log code: a bad argument, a proof that does not verify, or
/// hostile input (a note, checkpoint, key, tile path or tile) that does not parse.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogError {
    /// A leaf index at or past the tree size.
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof asked from a larger tree to a smaller one.
    #[error("no consistency proof from tree size {old} to the smaller size {new}")]
    SizesOutOfOrder {
        /// The earlier tree size.
        old: u64,
        /// The later tree size.
        new: u64,
    },
    /// A complete subtree that does not exist (yet) in the tree or the store.
    #[error("no complete subtree at level {level}, index {index}")]
    NoSuchNode {
        /// Height of the subtree (0 = a leaf).
        level: u8,
        /// Index of the subtree among those of its height.
        index: u64,
    },
    /// The tree cannot grow past 2^64 - 1 leaves.
    #[error("the tree is full")]
    TreeFull,
    /// An inclusion or consistency proof that does not prove what it should.
    #[error("the {kind} proof does not verify: {reason}")]
    ProofRejected {
        /// `inclusion` or `consistency`.
        kind: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A hash of the wrong length or encoding.
    #[error("bad hash: {0}")]
    BadHash(String),
    /// A malformed signed note.
    #[error("malformed signed note: {0}")]
    BadNote(String),
    /// A malformed key name, verifier key or signer key.
    #[error("bad note key: {0}")]
    BadKey(String),
    /// A signature by a known key that does not verify, or no signature by a known key.
    #[error("signed note not accepted: {0}")]
    Signature(String),
    /// A malformed checkpoint body, or one for another log.
    #[error("bad checkpoint: {0}")]
    BadCheckpoint(String),
    /// A malformed tile path, hash tile or entry bundle.
    #[error("bad tile: {0}")]
    BadTile(String),
}
