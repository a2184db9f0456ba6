//! The Merkle tree, proofs and the frontier: RFC 6962 known answers, the RFC's recursive
//! definitions written out naively as the reference, and property tests over tree sizes.

use crate::tlog::*;
use aws_lc_rs::digest::{digest, SHA256};
use proptest::prelude::*;

fn h(hex: &str) -> Hash {
    Hash::from_hex(hex).expect("a test hash")
}

/// The leaves of the reference tree of RFC 6962's test data (as used by the Certificate
/// Transparency implementations), and the root of each size 0..=8.
const ENTRIES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn reference_entries() -> Vec<Vec<u8>> {
    ENTRIES
        .iter()
        .map(|e| data_encoding::HEXLOWER.decode(e.as_bytes()).expect("hex"))
        .collect()
}

fn reference_tree() -> MemoryHashes {
    let mut mem = MemoryHashes::new();
    let leaves: Vec<Hash> = reference_entries().iter().map(|e| leaf_hash(e)).collect();
    mem.append(&leaves).expect("append");
    mem
}

#[test]
fn tlog_the_empty_tree_hash_is_sha256_of_nothing() {
    let sha = digest(&SHA256, b"");
    assert_eq!(empty_root().as_bytes(), sha.as_ref());
    assert_eq!(empty_root(), h(ROOTS[0]));
    assert_eq!(root::<&[u8]>(&[]), empty_root());
    assert_eq!(Frontier::new().root(), empty_root());
}

#[test]
fn tlog_a_three_leaf_tree_hashed_by_hand() {
    // RFC 9162 2.1.1 for D = [a, b, c]: k = 2, MTH = H(0x01 || H(0x01 || la || lb) || lc),
    // where lx = H(0x00 || x). Computed here with SHA-256 directly.
    let sha = |bytes: &[u8]| Hash::from_slice(digest(&SHA256, bytes).as_ref()).expect("32");
    let leaf = |x: &[u8]| sha(&[&[0u8][..], x].concat());
    let node = |l: Hash, r: Hash| sha(&[&[1u8][..], &l.0, &r.0].concat());
    let (la, lb, lc) = (leaf(b"a"), leaf(b"b"), leaf(b"c"));
    let want = node(node(la, lb), lc);
    assert_eq!(root(&[b"a", b"b", b"c"]), want);
    assert_eq!(leaf_hash(b"a"), la);
    assert_eq!(node_hash(&la, &lb), node(la, lb));
    let mut f = Frontier::new();
    assert_eq!(f.append(&[la, lb, lc]).expect("append").root, want);
    // Leaf c's path is [H(a, b)]; leaf a's is [lb, lc].
    let mut mem = MemoryHashes::new();
    mem.append(&[la, lb, lc]).expect("append");
    assert_eq!(
        inclusion_proof(&mem, 2, 3).expect("proof"),
        vec![node(la, lb)]
    );
    assert_eq!(inclusion_proof(&mem, 0, 3).expect("proof"), vec![lb, lc]);
}

#[test]
fn tlog_roots_match_the_rfc6962_reference_tree() {
    let entries = reference_entries();
    let mut f = Frontier::new();
    for n in 0..=8usize {
        assert_eq!(root(&entries[..n]), h(ROOTS[n]), "size {n}");
        assert_eq!(f.root(), h(ROOTS[n]), "frontier at size {n}");
        assert_eq!(
            root_at(&reference_tree(), n as u64).expect("root"),
            h(ROOTS[n])
        );
        if n < 8 {
            f.append(&[leaf_hash(&entries[n])]).expect("append");
        }
    }
}

#[test]
fn tlog_proofs_match_the_rfc6962_reference_proofs() {
    let mem = reference_tree();
    let inclusion: [(u64, &[&str]); 2] = [
        (
            0,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    let entries = reference_entries();
    for (index, want) in inclusion {
        let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
        assert_eq!(inclusion_proof(&mem, index, 8).expect("proof"), want);
        let leaf = leaf_hash(&entries[index as usize]);
        verify_inclusion(&leaf, index, 8, &want, &h(ROOTS[8])).expect("verifies");
    }
    let consistency: [(u64, u64, &[&str]); 3] = [
        (
            2,
            8,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (old, new, want) in consistency {
        let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
        assert_eq!(consistency_proof(&mem, old, new).expect("proof"), want);
        let (r1, r2) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
        verify_consistency(old, new, &want, &r1, &r2).expect("verifies");
        assert!(verify_consistency(old, new, &want, &r2, &r1).is_err());
    }
}

// --- RFC 9162 2.1.3.1 and 2.1.4.1, written out as the RFC states them, over whole slices ---

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn mth(d: &[Hash]) -> Hash {
    root_of_leaf_hashes(d)
}

/// PATH(m, D[n]), and on which side of the path each sibling is (true = left).
fn rfc_path(m: usize, d: &[Hash]) -> Vec<(Hash, bool)> {
    if d.len() == 1 {
        return Vec::new();
    }
    let k = split(d.len());
    if m < k {
        let mut p = rfc_path(m, &d[..k]);
        p.push((mth(&d[k..]), false));
        p
    } else {
        let mut p = rfc_path(m - k, &d[k..]);
        p.push((mth(&d[..k]), true));
        p
    }
}

/// SUBPROOF(m, D[n], b); the flag tells whether the old tree's root starts the path (b held
/// to the end) and, per node, whether it is on the left (in both trees).
fn rfc_subproof(m: usize, d: &[Hash], b: bool) -> (bool, Vec<(Hash, bool)>) {
    let n = d.len();
    if m == n {
        return if b {
            (true, Vec::new())
        } else {
            (false, vec![(mth(d), true)])
        };
    }
    let k = split(n);
    if m <= k {
        let (whole, mut p) = rfc_subproof(m, &d[..k], b);
        p.push((mth(&d[k..]), false));
        (whole, p)
    } else {
        let (whole, mut p) = rfc_subproof(m - k, &d[k..], false);
        p.push((mth(&d[..k]), true));
        (whole, p)
    }
}

fn leaves(n: usize) -> Vec<Hash> {
    (0..n as u64).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

fn memory(leaves: &[Hash]) -> MemoryHashes {
    let mut mem = MemoryHashes::new();
    // In uneven batches, as a log would append.
    for chunk in leaves.chunks(7) {
        mem.append(chunk).expect("append");
    }
    mem
}

fn flip(proof: &[Hash], at: usize, bit: u8) -> Vec<Hash> {
    let mut p = proof.to_vec();
    let len = p.len();
    p[at % len].0[(at / len) % 32] ^= 1 << (bit % 8);
    p
}

#[test]
fn tlog_every_proof_of_small_trees_is_the_rfcs() {
    let all = leaves(70);
    let mem = memory(&all);
    for n in 1..=all.len() {
        let d = &all[..n];
        let r = mth(d);
        assert_eq!(root_at(&mem, n as u64).expect("root"), r);
        for i in 0..n {
            let want: Vec<Hash> = rfc_path(i, d).into_iter().map(|(h, _)| h).collect();
            let got = inclusion_proof(&mem, i as u64, n as u64).expect("proof");
            assert_eq!(got, want, "inclusion of {i} in {n}");
            verify_inclusion(&d[i], i as u64, n as u64, &got, &r).expect("verifies");
        }
        for m in 1..=n {
            let (_, p) = rfc_subproof(m, d, true);
            let want: Vec<Hash> = p.into_iter().map(|(h, _)| h).collect();
            let got = consistency_proof(&mem, m as u64, n as u64).expect("proof");
            assert_eq!(got, want, "consistency {m} -> {n}");
            verify_consistency(m as u64, n as u64, &got, &mth(&d[..m]), &r).expect("verifies");
        }
    }
}

#[test]
fn tlog_proof_arguments_out_of_range_are_errors() {
    let mem = memory(&leaves(10));
    let r = mem.root();
    assert_eq!(
        inclusion_proof(&mem, 10, 10),
        Err(TlogError::IndexOutOfRange {
            index: 10,
            size: 10
        })
    );
    assert!(inclusion_proof(&mem, 0, 0).is_err());
    // Past what the store holds: the store's own error, not a panic.
    assert_eq!(
        inclusion_proof(&mem, 3, 11),
        Err(TlogError::NoSuchNode {
            level: 0,
            index: 10
        })
    );
    assert_eq!(
        consistency_proof(&mem, 5, 4),
        Err(TlogError::SizesOutOfOrder { old: 5, new: 4 })
    );
    assert_eq!(consistency_proof(&mem, 0, 10), Ok(Vec::new()));
    assert_eq!(consistency_proof(&mem, 10, 10), Ok(Vec::new()));
    verify_consistency(0, 10, &[], &empty_root(), &r).expect("from the empty tree");
    verify_consistency(10, 10, &[], &r, &r).expect("same tree");
    assert!(verify_consistency(10, 10, &[], &r, &empty_root()).is_err());
    assert!(verify_consistency(10, 10, &[r], &r, &r).is_err());
    assert!(verify_consistency(0, 10, &[], &r, &r).is_err());
    assert!(verify_consistency(3, 10, &[], &r, &r).is_err());
    assert!(verify_inclusion(&r, 10, 10, &[], &r).is_err());
    assert!(verify_inclusion(&r, 0, 0, &[], &r).is_err());
    // A proof far longer than any tree is deep.
    assert!(verify_inclusion(&r, 0, u64::MAX, &[r; 100], &r).is_err());
    assert!(verify_consistency(1, u64::MAX, &[r; 100], &r, &r).is_err());
}

#[test]
fn tlog_frontier_reports_every_complete_subtree_once() {
    let all = leaves(300);
    let mut f = Frontier::new();
    let mut seen = std::collections::HashSet::new();
    for (n, leaf) in all.iter().enumerate() {
        let appended = f.append(&[*leaf]).expect("append");
        assert_eq!(appended.size, n as u64 + 1);
        assert_eq!(appended.root, mth(&all[..=n]));
        for node in appended.nodes {
            let lo = (node.index << node.level) as usize;
            let hi = ((node.index + 1) << node.level) as usize;
            assert!(hi <= n + 1, "{node:?} is not complete at size {}", n + 1);
            assert_eq!(node.hash, mth(&all[lo..hi]), "{node:?}");
            assert!(seen.insert((node.level, node.index)), "{node:?} twice");
        }
        assert_eq!(f.nodes().len(), (n + 1).count_ones() as usize);
    }
    // Every complete subtree of the 300 leaves was reported: 300 + 150 + 75 + 37 + 18 + 9 + 4
    // + 2 + 1.
    assert_eq!(seen.len(), 596);
    assert_eq!(
        Frontier::from_parts(3, vec![all[0]]),
        Err(TlogError::BadHash(
            "a frontier of size 3 has 2 hashes, not 1".into()
        ))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn tlog_inclusion_proofs_verify_and_tampering_fails(
        n in 1usize..=2000, i in any::<prop::sample::Index>(), other in 1u64..=4000,
        at in any::<usize>(), bit in any::<u8>(),
    ) {
        let all = leaves(n);
        let mem = memory(&all);
        let i = i.index(n);
        let r = mem.root();
        prop_assert_eq!(r, mth(&all));
        let proof = inclusion_proof(&mem, i as u64, n as u64).unwrap();
        prop_assert_eq!(
            &proof,
            &rfc_path(i, &all).into_iter().map(|(h, _)| h).collect::<Vec<_>>()
        );
        verify_inclusion(&all[i], i as u64, n as u64, &proof, &r).unwrap();
        // Another leaf, another root, a flipped bit: rejected.
        let wrong_leaf = leaf_hash(b"not in the tree");
        prop_assert!(verify_inclusion(&wrong_leaf, i as u64, n as u64, &proof, &r).is_err());
        prop_assert!(verify_inclusion(&all[i], i as u64, n as u64, &proof, &empty_root()).is_err());
        if !proof.is_empty() {
            let bad = flip(&proof, at, bit);
            prop_assert!(verify_inclusion(&all[i], i as u64, n as u64, &bad, &r).is_err());
            let mut short = proof.clone();
            short.pop();
            prop_assert!(verify_inclusion(&all[i], i as u64, n as u64, &short, &r).is_err());
        }
        let mut long = proof.clone();
        long.push(r);
        prop_assert!(verify_inclusion(&all[i], i as u64, n as u64, &long, &r).is_err());
        // Any other index fails (the leaves are distinct).
        for j in [i ^ 1, i + 1, i.wrapping_sub(1), (i + n / 2) % n] {
            if j != i && j < n {
                prop_assert!(verify_inclusion(&all[i], j as u64, n as u64, &proof, &r).is_err());
            }
        }
        // Another size verifies exactly when its path has the same shape (an inclusion proof
        // commits to the path, not to the size): e.g. leaf 0 of 3 and of 4 share one.
        if other as usize != n && i < other as usize {
            let sides = |size: usize| -> Vec<bool> {
                rfc_path(i, &all_or_more(&all, size)).into_iter().map(|(_, s)| s).collect()
            };
            let same_shape = sides(n) == sides(other as usize);
            let ok = verify_inclusion(&all[i], i as u64, other, &proof, &r).is_ok();
            prop_assert_eq!(ok, same_shape, "size {} for a proof in size {}", other, n);
        }
    }

    #[test]
    fn tlog_consistency_proofs_verify_and_tampering_fails(
        n in 1usize..=2000, m in any::<prop::sample::Index>(),
        other_m in any::<prop::sample::Index>(), other_n in 1usize..=4000,
        at in any::<usize>(), bit in any::<u8>(),
    ) {
        let all = leaves(n);
        let mem = memory(&all);
        let m = m.index(n) + 1;
        let (r1, r2) = (mth(&all[..m]), mem.root());
        let proof = consistency_proof(&mem, m as u64, n as u64).unwrap();
        let (_, want) = rfc_subproof(m, &all, true);
        prop_assert_eq!(&proof, &want.into_iter().map(|(h, _)| h).collect::<Vec<_>>());
        verify_consistency(m as u64, n as u64, &proof, &r1, &r2).unwrap();
        if m < n {
            prop_assert!(!proof.is_empty());
            let bad = flip(&proof, at, bit);
            prop_assert!(verify_consistency(m as u64, n as u64, &bad, &r1, &r2).is_err());
            prop_assert!(verify_consistency(m as u64, n as u64, &proof, &r2, &r2).is_err());
            prop_assert!(verify_consistency(m as u64, n as u64, &proof, &r1, &r1).is_err());
            prop_assert!(verify_consistency(m as u64, n as u64, &proof[1..], &r1, &r2).is_err());
            let mut long = proof.clone();
            long.push(r1);
            prop_assert!(verify_consistency(m as u64, n as u64, &long, &r1, &r2).is_err());
        }
        // Other sizes verify exactly when the proof's shape is the same for them.
        let m2 = other_m.index(other_n) + 1;
        if (m2, other_n) != (m, n) && m2 < other_n && m < n {
            let shape = |a: usize, b: usize| -> (bool, Vec<bool>) {
                let (whole, p) = rfc_subproof(a, &all_or_more(&all, b), true);
                (whole, p.into_iter().map(|(_, s)| s).collect())
            };
            let same_shape = shape(m, n) == shape(m2, other_n);
            let ok = verify_consistency(m2 as u64, other_n as u64, &proof, &r1, &r2).is_ok();
            prop_assert_eq!(ok, same_shape, "{} -> {} for a proof {} -> {}", m2, other_n, m, n);
        }
    }

    #[test]
    fn tlog_frontier_roots_and_stored_subtrees_answer_proofs(
        n in 1usize..=2000, batches in prop::collection::vec(1usize..=300, 1..20),
    ) {
        let all = leaves(n);
        let mut f = Frontier::new();
        let mut store = MemoryHashes::new();
        let mut done = 0;
        for b in batches.iter().cycle() {
            if done == n {
                break;
            }
            let end = (done + b).min(n);
            let appended = f.append(&all[done..end]).unwrap();
            prop_assert_eq!(appended.root, mth(&all[..end]));
            prop_assert_eq!(appended.size, end as u64);
            for node in appended.nodes {
                store.store(node);
            }
            done = end;
        }
        // The stored subtrees alone answer the proofs and restore the frontier.
        prop_assert_eq!(root_at(&store, n as u64).unwrap(), f.root());
        prop_assert_eq!(Frontier::from_source(&store, n as u64).unwrap(), f.clone());
        let restored = Frontier::from_parts(f.size(), f.nodes().to_vec()).unwrap();
        prop_assert_eq!(restored.root(), f.root());
        let i = n / 3;
        let proof = inclusion_proof(&store, i as u64, n as u64).unwrap();
        verify_inclusion(&all[i], i as u64, n as u64, &proof, &f.root()).unwrap();
        let m = (n / 2).max(1);
        let proof = consistency_proof(&store, m as u64, n as u64).unwrap();
        verify_consistency(m as u64, n as u64, &proof, &mth(&all[..m]), &f.root()).unwrap();
    }
}

/// The leaves `all`, extended with more distinct leaves up to `size` (only the shape of a path
/// in a tree of that size matters to the callers).
fn all_or_more(all: &[Hash], size: usize) -> Vec<Hash> {
    if size <= all.len() {
        all[..size].to_vec()
    } else {
        leaves(size)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Batches appended to a frontier get the same proofs as a whole stored tree gives, and
    /// those proofs verify.
    #[test]
    fn tlog_batch_proofs_equal_the_stored_trees(
        batches in prop::collection::vec(1usize..=70, 1..8),
    ) {
        let total: usize = batches.iter().sum();
        let all = leaves(total);
        let mut frontier = Frontier::new();
        let mut at = 0usize;
        let mut done = Vec::new();
        for n in batches {
            let b = append_batch(&mut frontier, &all[at..at + n]).unwrap();
            prop_assert_eq!(b.first, at as u64);
            prop_assert_eq!(b.proofs.len(), n);
            at += n;
            done.push(b);
        }
        prop_assert_eq!(frontier.size(), total as u64);
        for b in done {
            let size = b.appended.size;
            let mem = memory(&all[..size as usize]);
            for (i, proof) in b.proofs.iter().enumerate() {
                let index = b.first + i as u64;
                prop_assert_eq!(proof, &inclusion_proof(&mem, index, size).unwrap());
                verify_inclusion(&all[index as usize], index, size, proof, &b.appended.root).unwrap();
            }
        }
    }
}
