//! Inclusion proofs (RFC 9162 section 2.1.3) and consistency proofs (section 2.1.4): made from
//! any [`HashSource`] of complete-subtree hashes, for any tree size, and verified by the
//! algorithms of sections 2.1.3.2 and 2.1.4.2.
//!
//! A complete subtree is named by its height `level` and its `index` among the subtrees of that
//! height: it covers leaves `index * 2^level .. (index + 1) * 2^level`. These are the hashes a
//! log stores (and C2SP tiles serve); every other node of a proof (on the right edge of a tree
//! whose size is not a power of two) is hashed here from them, with at most 64 look-ups.

use super::frontier::Frontier;
use super::hash::{empty_root, node_hash, split, Hash};
use super::TlogError;

/// Where proofs get complete-subtree hashes from: a database of stored hashes, tiles, memory.
pub trait HashSource {
    /// The source's error; the proof functions report bad arguments through it too.
    type Error: From<TlogError>;

    /// The hash of the complete subtree of `2^level` leaves starting at leaf
    /// `index * 2^level` (level 0: the leaf hash of leaf `index`).
    fn hash(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

impl<S: HashSource + ?Sized> HashSource for &S {
    type Error = S::Error;
    fn hash(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        (**self).hash(level, index)
    }
}

/// A complete subtree's hash with its position: what a log stores after an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Height of the subtree (0 = a leaf).
    pub level: u8,
    /// Index of the subtree among those of its height.
    pub index: u64,
    /// Its Merkle Tree Hash.
    pub hash: Hash,
}

/// Every complete-subtree hash of a tree, in memory: for tests and small logs.
#[derive(Debug, Clone, Default)]
pub struct MemoryHashes {
    frontier: Frontier,
    levels: Vec<Vec<Hash>>,
}

impl MemoryHashes {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends leaves by their leaf hashes; answers the new root.
    pub fn append(&mut self, leaves: &[Hash]) -> Result<Hash, TlogError> {
        let appended = self.frontier.append(leaves)?;
        for node in appended.nodes {
            self.store(node);
        }
        Ok(appended.root)
    }

    /// Stores one complete-subtree hash (as a log would, from [`Frontier::append`]).
    pub fn store(&mut self, node: Node) {
        let level = usize::from(node.level);
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
        }
        let row = &mut self.levels[level];
        match usize::try_from(node.index) {
            Ok(i) if i < row.len() => row[i] = node.hash,
            Ok(i) if i == row.len() => row.push(node.hash),
            // Out of order: kept only if it extends the row, so that lookups stay exact.
            _ => {}
        }
    }

    /// The number of leaves appended.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }
}

impl HashSource for MemoryHashes {
    type Error = TlogError;
    fn hash(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or(TlogError::NoSuchNode { level, index })
    }
}

/// The Merkle Tree Hash of leaves `lo..hi`, where `lo` is a multiple of the smallest power of
/// two not below `hi - lo` (as every range in RFC 9162's recursion is): the complete subtrees
/// that make up the range, folded from the right.
fn range_hash<S: HashSource>(source: &S, lo: u64, hi: u64) -> Result<Hash, S::Error> {
    let mut parts = Vec::new();
    let mut at = lo;
    while at < hi {
        // The largest complete subtree starting at `at` that fits in the range.
        let level = 63 - (hi - at).leading_zeros();
        parts.push(source.hash(level as u8, at >> level)?);
        at += 1 << level;
    }
    let mut parts = parts.into_iter().rev();
    let Some(mut acc) = parts.next() else {
        return Ok(empty_root());
    };
    for left in parts {
        acc = node_hash(&left, &acc);
    }
    Ok(acc)
}

/// The root of the tree of the first `size` leaves, from stored complete-subtree hashes.
pub fn root_at<S: HashSource>(source: &S, size: u64) -> Result<Hash, S::Error> {
    range_hash(source, 0, size)
}

/// The inclusion proof (audit path, RFC 9162 section 2.1.3.1) of leaf `index` in the tree of
/// the first `size` leaves, from the leaf's sibling up to the root's child.
pub fn inclusion_proof<S: HashSource>(
    source: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size }.into());
    }
    // Walk down from the whole tree to the leaf, noting the sibling at each step.
    let (mut lo, mut hi) = (0u64, size);
    let mut path = Vec::new();
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            path.push(range_hash(source, lo + k, hi)?);
            hi = lo + k;
        } else {
            path.push(range_hash(source, lo, lo + k)?);
            lo += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof (RFC 9162 section 2.1.4.1) from the tree of the first `old` leaves to
/// that of the first `new`. Empty when `old` is 0 or equal to `new`.
pub fn consistency_proof<S: HashSource>(
    source: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, S::Error> {
    if old > new {
        return Err(TlogError::SizesOutOfOrder { old, new }.into());
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[lo..hi], b), walked down iteratively; `whole` is b.
    let (mut lo, mut hi, mut m, mut whole) = (0u64, new, old, true);
    let mut proof = Vec::new();
    loop {
        if m == hi - lo {
            if !whole {
                proof.push(range_hash(source, lo, hi)?);
            }
            break;
        }
        let k = split(hi - lo);
        if m <= k {
            proof.push(range_hash(source, lo + k, hi)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(source, lo, lo + k)?);
            lo += k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Checks an inclusion proof (RFC 9162 section 2.1.3.2): that the leaf with hash `leaf` is
/// leaf `index` of the tree of `size` leaves whose root is `root`. Use
/// [`leaf_hash`](super::leaf_hash) on the entry to get `leaf`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), TlogError> {
    let reject = |reason| TlogError::ProofRejected {
        kind: "inclusion",
        reason,
    };
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(reject("it is longer than the tree is deep"));
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(reject("it is shorter than the tree is deep"));
    }
    if r != *root {
        return Err(reject("it leads to another root"));
    }
    Ok(())
}

/// Checks a consistency proof (RFC 9162 section 2.1.4.2): that the tree of `old` leaves with
/// root `old_root` is a prefix of the tree of `new` leaves with root `new_root`. From size 0
/// (whose root must be [`empty_root`]) and between equal sizes (equal roots) the proof is
/// empty.
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), TlogError> {
    let reject = |reason| TlogError::ProofRejected {
        kind: "consistency",
        reason,
    };
    if old > new {
        return Err(TlogError::SizesOutOfOrder { old, new });
    }
    if old == 0 || old == new {
        if !proof.is_empty() {
            return Err(reject("it should be empty"));
        }
        if old == 0 && *old_root != empty_root() {
            return Err(reject("the old root is not the empty tree's"));
        }
        if old == new && old_root != new_root {
            return Err(reject("two roots for one tree size"));
        }
        return Ok(());
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(reject("it is empty"));
    };
    // When `old` is a power of two, the old root is itself the first node of the path.
    let (start, rest) = if old.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*start, *start);
    for c in rest {
        if snode == 0 {
            return Err(reject("it is longer than the tree is deep"));
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(reject("it is shorter than the tree is deep"));
    }
    if fr != *old_root {
        return Err(reject("it leads to another old root"));
    }
    if sr != *new_root {
        return Err(reject("it leads to another new root"));
    }
    Ok(())
}
