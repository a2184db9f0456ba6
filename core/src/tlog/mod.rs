//! Transparency logs: the Merkle tree of RFC 9162 (hashes, inclusion and consistency proofs),
//! the append-only right edge a log keeps in memory ([`Frontier`]), C2SP signed notes and
//! checkpoints, and C2SP tlog-tiles (paths, hash tiles, entry bundles).
//!
//! CUHK logs every certificate it issues and every revocation; Blackboard every receipt and
//! every commitment. A log appends leaf hashes to a [`Frontier`], which answers the new root and
//! the complete subtree hashes to store; a store answers [`HashSource`] from those stored hashes,
//! so proofs for any tree size are made without the tree in memory. A client checks an
//! inclusion proof against a signed [`Checkpoint`], and a consistency proof between two
//! checkpoints it saw.
//!
//! Everything here is pure computation: no files, sockets or clock. The tree is written here
//! rather than taken from a crate because it must make proofs from a storage-agnostic source of
//! stored complete-subtree hashes (the unit that C2SP tiles and a database keep), for any past
//! tree size, and hash with the crate's one crypto library (aws-lc-rs); `ct-merkle`, the
//! closest crate, numbers nodes in its own in-memory layout, hashes through RustCrypto's
//! `digest`, and has neither a frontier nor the C2SP formats.
//!
//! | file | holds |
//! |---|---|
//! | `hash.rs` | [`Hash`](struct@Hash), [`leaf_hash`], [`node_hash`], [`root`] (RFC 9162 2.1.1) |
//! | `proof.rs` | [`HashSource`], [`MemoryHashes`], inclusion and consistency proofs (2.1.3, 2.1.4) |
//! | `frontier.rs` | [`Frontier`]: appending leaves, the root, the newly complete subtrees |
//! | `note.rs` | C2SP signed notes: [`NoteSigner`], [`NoteVerifier`] (vkeys), [`Note`] |
//! | `checkpoint.rs` | [`Checkpoint`]: the C2SP checkpoint body, signed and opened |
//! | `tiles.rs` | [`TilePath`], tile contents, entry bundles, [`TileSource`] |

mod batch;
mod checkpoint;
mod error;
mod frontier;
mod hash;
mod note;
mod proof;
mod tiles;

pub use batch::{append_batch, BatchAppended};
pub use checkpoint::Checkpoint;
pub use error::TlogError;
pub use frontier::{Appended, Frontier};
pub use hash::{empty_root, leaf_hash, node_hash, root, root_of_leaf_hashes, Hash, HASH_LEN};
pub use note::{
    key_id, Note, NoteSignature, NoteSigner, NoteVerifier, MAX_NOTE_LEN, MAX_SIGNATURES,
};
pub use proof::{
    consistency_proof, inclusion_proof, root_at, verify_consistency, verify_inclusion, HashSource,
    MemoryHashes, Node,
};
pub use tiles::{
    encode_entry_bundle, encode_hash_tile, parse_entry_bundle, parse_hash_tile, tiles_between,
    TileKind, TilePath, TileSource, TILE_HEIGHT, TILE_WIDTH,
};

#[cfg(test)]
mod tests;
