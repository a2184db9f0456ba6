//! Proofs for a batch of leaves just appended, without the rest of the tree: every node an
//! inclusion proof of a new leaf needs (in the tree of the new size) is either a subtree of the
//! frontier before the append or a subtree the append completed. A log that sequences entries
//! in batches hands each new entry its proof from memory, in the transaction that stores it.

use super::frontier::{Appended, Frontier};
use super::hash::Hash;
use super::proof::{inclusion_proof, HashSource, Node};
use super::TlogError;
use std::collections::HashMap;

/// The subtree hashes around a batch: the frontier's before the append and those the append
/// completed.
struct Around(HashMap<(u8, u64), Hash>);

impl HashSource for Around {
    type Error = TlogError;
    fn hash(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        self.0
            .get(&(level, index))
            .copied()
            .ok_or(TlogError::NoSuchNode { level, index })
    }
}

/// The frontier's subtrees with their positions, largest first.
fn positioned(frontier: &Frontier) -> Vec<Node> {
    let size = frontier.size();
    let mut at = 0u64;
    let mut out = Vec::with_capacity(frontier.nodes().len());
    let mut hashes = frontier.nodes().iter();
    for level in (0..64u8).rev() {
        if size >> level & 1 == 1 {
            if let Some(hash) = hashes.next() {
                out.push(Node {
                    level,
                    index: at >> level,
                    hash: *hash,
                });
            }
            at += 1 << level;
        }
    }
    out
}

/// What [`append_batch`] did: the append, and the inclusion proof of each new leaf (in order)
/// in the tree of the new size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAppended {
    /// The index of the first new leaf (the size before).
    pub first: u64,
    /// The append itself: new size, root, completed subtrees.
    pub appended: Appended,
    /// The inclusion proof of leaf `first + i`, for each new leaf `i`.
    pub proofs: Vec<Vec<Hash>>,
}

/// Appends `leaves` (leaf hashes) to `frontier` and makes each one's inclusion proof. On error
/// nothing is appended.
pub fn append_batch(frontier: &mut Frontier, leaves: &[Hash]) -> Result<BatchAppended, TlogError> {
    let first = frontier.size();
    let mut known: HashMap<(u8, u64), Hash> = positioned(frontier)
        .into_iter()
        .map(|n| ((n.level, n.index), n.hash))
        .collect();
    let mut next = frontier.clone();
    let appended = next.append(leaves)?;
    for n in &appended.nodes {
        known.insert((n.level, n.index), n.hash);
    }
    let around = Around(known);
    let proofs = (first..appended.size)
        .map(|i| inclusion_proof(&around, i, appended.size))
        .collect::<Result<Vec<_>, _>>()?;
    *frontier = next;
    Ok(BatchAppended {
        first,
        appended,
        proofs,
    })
}
