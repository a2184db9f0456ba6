//! [`Frontier`]: the right edge of an append-only Merkle tree (a "compact range"), which is all
//! a log needs in memory to append leaves and compute its root.
//!
//! A tree of `n` leaves is, from left to right, one complete subtree per set bit of `n`, largest
//! first; the frontier holds their hashes (at most 64). Appending a leaf adds a level-0 subtree
//! and merges equal-height neighbours, like a binary counter's carries: O(log n) hashes per
//! leaf, amortised O(1). Every subtree that becomes complete is reported, so that a store can
//! keep exactly those hashes and answer [`HashSource`](super::HashSource) for proofs later.

use super::hash::{empty_root, node_hash, Hash};
use super::proof::{HashSource, Node};
use super::TlogError;

/// The right edge of an append-only tree: its size and the hashes of its maximal complete
/// subtrees, largest (leftmost) first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

/// What an append did: the new size and root, and the complete subtrees it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The tree size after the append.
    pub size: u64,
    /// The root after the append.
    pub root: Hash,
    /// Every subtree that became complete, each leaf (level 0) included, in the order they
    /// completed: what a store keeps.
    pub nodes: Vec<Node>,
}

impl Frontier {
    /// The empty tree's frontier.
    pub fn new() -> Self {
        Self::default()
    }

    /// A frontier from its parts, as saved: `nodes` must hold one hash per set bit of `size`.
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Result<Self, TlogError> {
        if nodes.len() != size.count_ones() as usize {
            return Err(TlogError::BadHash(format!(
                "a frontier of size {size} has {} hashes, not {}",
                size.count_ones(),
                nodes.len()
            )));
        }
        Ok(Self { size, nodes })
    }

    /// The frontier of the tree of the first `size` leaves, read from stored subtree hashes
    /// (to restart a log from its store).
    pub fn from_source<S: HashSource>(source: &S, size: u64) -> Result<Self, S::Error> {
        let mut nodes = Vec::with_capacity(size.count_ones() as usize);
        let mut at = 0u64;
        for level in (0..64u8).rev() {
            if size >> level & 1 == 1 {
                nodes.push(source.hash(level, at >> level)?);
                at += 1 << level;
            }
        }
        Ok(Self { size, nodes })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The hashes of the maximal complete subtrees, largest first.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// The tree's root (RFC 9162 MTH): the frontier folded from the right.
    pub fn root(&self) -> Hash {
        let mut hashes = self.nodes.iter().rev();
        let Some(mut acc) = hashes.next().copied() else {
            return empty_root();
        };
        for left in hashes {
            acc = node_hash(left, &acc);
        }
        acc
    }

    /// Appends leaves by their leaf hashes ([`leaf_hash`](super::leaf_hash) of each entry).
    /// On error (the tree would pass 2^64 - 1 leaves) nothing is appended.
    pub fn append(&mut self, leaves: &[Hash]) -> Result<Appended, TlogError> {
        let end = u64::try_from(leaves.len())
            .ok()
            .and_then(|n| self.size.checked_add(n))
            .ok_or(TlogError::TreeFull)?;
        let mut made = Vec::with_capacity(leaves.len() * 2);
        for leaf in leaves {
            self.push(*leaf, &mut made);
        }
        debug_assert_eq!(self.size, end);
        Ok(Appended {
            size: self.size,
            root: self.root(),
            nodes: made,
        })
    }

    fn push(&mut self, leaf: Hash, made: &mut Vec<Node>) {
        let index = self.size;
        self.nodes.push(leaf);
        made.push(Node {
            level: 0,
            index,
            hash: leaf,
        });
        // Each trailing 1 bit of the old size is a subtree of that height that now has a
        // right neighbour of equal height: merge them.
        let mut level = 0u8;
        while index >> level & 1 == 1 {
            let (Some(right), Some(left)) = (self.nodes.pop(), self.nodes.pop()) else {
                unreachable!("a set bit of the size has its subtree in the frontier");
            };
            let hash = node_hash(&left, &right);
            self.nodes.push(hash);
            level += 1;
            made.push(Node {
                level,
                index: index >> level,
                hash,
            });
        }
        self.size = index + 1;
    }
}
