//! Tiles: paths against the C2SP tlog-tiles examples, the tiles of a tree size, tile contents
//! and entry bundles (round trips and hostile input), and proofs made from tiles.

use crate::tlog::*;
use proptest::prelude::*;
use std::collections::HashMap;

fn path(p: &str) -> TilePath {
    TilePath::parse(p).expect(p)
}

#[test]
fn tlog_tile_paths_follow_the_spec_examples() {
    // "index 1234067 will be encoded as x001/x234/067"
    let t = TilePath::hash(0, 1234067, 256).expect("tile");
    assert_eq!(t.to_path(), "tile/0/x001/x234/067");
    assert_eq!(path("tile/0/x001/x234/067"), t);
    let p = TilePath::hash(2, 1234067, 8).expect("tile");
    assert_eq!(p.to_path(), "tile/2/x001/x234/067.p/8");
    assert_eq!(path("tile/2/x001/x234/067.p/8"), p);
    let e = TilePath::entries(1234067, 255).expect("bundle");
    assert_eq!(e.to_path(), "tile/entries/x001/x234/067.p/255");
    assert_eq!(path("tile/entries/x001/x234/067.p/255"), e);
    assert_eq!(
        TilePath::hash(0, 0, 256).expect("tile").to_path(),
        "tile/0/000"
    );
    assert_eq!(
        TilePath::hash(1, 1000, 1).expect("tile").to_path(),
        "tile/1/x001/000.p/1"
    );
    assert_eq!(
        TilePath::hash(63, u64::MAX, 256).expect("tile").to_path(),
        "tile/63/x018/x446/x744/x073/x709/x551/615"
    );
    assert_eq!(
        t.entry_bundle(),
        Some(TilePath::entries(1234067, 256).expect("bundle"))
    );
    assert_eq!(p.entry_bundle(), None);
}

#[test]
fn tlog_malformed_tile_paths_are_refused() {
    for bad in [
        "",
        "tile",
        "tile/",
        "tile/0",
        "tile/0/",
        "/tile/0/000",
        "tile/0/1234067",
        "tile/0/1",
        "tile/0/0000",
        "tile/0/x1/234",
        "tile/0/x001/x234",
        "tile/0/001/234",
        "tile/0/x000/067",
        "tile/0/x001/234/",
        "tile/0/x001//234",
        "tile/00/000",
        "tile/-1/000",
        "tile/64/000",
        "tile/1000/000",
        "tile/x/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/08",
        "tile/0/000.p/",
        "tile/0/000.p/1/2",
        "tile/0/000.p",
        "tile/0/000.p/+1",
        "tile/0/00a",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x001/x001/x001/x001/x001/x001/x001/000",
        "tile/entry/000",
        "tile/entries/x000/000",
        "tile/0/٠٠٠",
    ] {
        assert!(
            matches!(TilePath::parse(bad), Err(TlogError::BadTile(_))),
            "{bad:?}"
        );
    }
    assert!(TilePath::hash(64, 0, 256).is_err());
    assert!(TilePath::hash(0, 0, 0).is_err());
    assert!(TilePath::entries(0, 257).is_err());
}

fn tiles(old: u64, new: u64) -> Vec<String> {
    tiles_between(old, new).map(|t| t.to_path()).collect()
}

#[test]
fn tlog_the_tiles_of_a_tree_size_follow_the_spec_examples() {
    // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
    // tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
    // partial level 2 tile of width 1."
    let all: Vec<TilePath> = tiles_between(0, 70_000).collect();
    let count = |level, full: bool| {
        all.iter()
            .filter(|t| t.kind == TileKind::Hash(level) && t.is_full() == full)
            .count()
    };
    assert_eq!(
        (count(0, true), count(1, true), count(2, true)),
        (273, 1, 0)
    );
    let partial: Vec<String> = all
        .iter()
        .filter(|t| !t.is_full())
        .map(|t| t.to_path())
        .collect();
    assert_eq!(
        partial,
        ["tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"]
    );
    assert_eq!(all.len(), 273 + 1 + 1 + 1 + 1);
    // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
    // tile of width 1."
    assert_eq!(tiles(0, 256), ["tile/0/000", "tile/1/000.p/1"]);
    assert!(tiles(0, 0).is_empty());
    assert_eq!(tiles(0, 1), ["tile/0/000.p/1"]);
    // Growing: only what changed.
    assert!(tiles(256, 256).is_empty());
    assert_eq!(tiles(256, 257), ["tile/0/001.p/1"]);
    assert_eq!(
        tiles(200, 513),
        [
            "tile/0/000",
            "tile/0/001",
            "tile/0/002.p/1",
            "tile/1/000.p/2"
        ]
    );
    assert_eq!(tiles(512, 513), ["tile/0/002.p/1"]);
    // Tree sizes up to 2^64 - 1 need tile levels up to 7; nothing overflows.
    let top: Vec<TilePath> = tiles_between(u64::MAX - 1, u64::MAX).collect();
    assert_eq!(top.len(), 1);
    assert_eq!(
        top[0].to_path(),
        "tile/0/x072/x057/x594/x037/x927/935.p/255"
    );
}

#[test]
fn tlog_tile_contents_round_trip_and_refuse_bad_lengths() {
    let hashes: Vec<Hash> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
    let bytes = encode_hash_tile(&hashes).expect("tile");
    assert_eq!(bytes.len(), 5 * 32);
    assert_eq!(parse_hash_tile(&bytes, 5).expect("parse"), hashes);
    assert!(parse_hash_tile(&bytes, 4).is_err());
    assert!(parse_hash_tile(&bytes, 6).is_err());
    assert!(parse_hash_tile(&bytes[..159], 5).is_err());
    assert!(parse_hash_tile(&[], 0).is_err());
    assert!(parse_hash_tile(&[0; 257 * 32], 257).is_err());
    assert!(encode_hash_tile(&[]).is_err());
    assert!(encode_hash_tile(&[Hash::default(); 257]).is_err());

    let entries: [&[u8]; 3] = [b"", b"a", &[7u8; 300]];
    let bundle = encode_entry_bundle(&entries).expect("bundle");
    assert_eq!(&bundle[..5], b"\x00\x00\x00\x01a");
    assert_eq!(parse_entry_bundle(&bundle, 3).expect("parse"), entries);
    for bad in [
        (&bundle[..bundle.len() - 1], 3u16),
        (&bundle[..], 2),
        (&bundle[..], 4),
        (&bundle[..], 0),
        (&bundle[..1], 1),
        (&b"\xff\xff"[..], 1),
        (&b""[..], 1),
    ] {
        assert!(matches!(
            parse_entry_bundle(bad.0, bad.1),
            Err(TlogError::BadTile(_))
        ));
    }
    assert!(encode_entry_bundle(&[vec![0u8; 65_536]]).is_err());
    assert!(encode_entry_bundle(&[vec![0u8; 65_535]]).is_ok());
    assert!(encode_entry_bundle::<&[u8]>(&[]).is_err());
    assert!(encode_entry_bundle(&[b"x"; 257]).is_err());
}

/// Every tile of the tree held in `mem`, by path, as a log would publish them.
fn publish(mem: &MemoryHashes, size: u64) -> HashMap<TilePath, Vec<Hash>> {
    tiles_between(0, size)
        .map(|t| {
            let TileKind::Hash(level) = t.kind else {
                unreachable!("hash tiles only")
            };
            let hashes = (0..u64::from(t.width))
                .map(|i| {
                    mem.hash(level * TILE_HEIGHT, t.index * 256 + i)
                        .expect("stored")
                })
                .collect();
            (t, hashes)
        })
        .collect()
}

fn tile_source(
    tiles: &HashMap<TilePath, Vec<Hash>>,
    size: u64,
) -> TileSource<impl Fn(&TilePath) -> Result<Vec<Hash>, TlogError> + '_> {
    TileSource::new(size, move |t: &TilePath| {
        tiles
            .get(t)
            .cloned()
            .ok_or_else(|| TlogError::BadTile(format!("no {t}")))
    })
}

#[test]
fn tlog_proofs_from_tiles_equal_proofs_from_the_store() {
    // Three tile levels, with partial tiles at each.
    let n = 70_000u64;
    let mut mem = MemoryHashes::new();
    let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    mem.append(&leaves).expect("append");
    let tiles = publish(&mem, n);
    let source = tile_source(&tiles, n);
    assert_eq!(root_at(&source, n).expect("root"), mem.root());
    for (i, size) in [
        (0, n),
        (65_535, n),
        (65_536, n),
        (69_999, n),
        (12_345, 65_536),
        (300, 301),
    ] {
        assert_eq!(
            inclusion_proof(&source, i, size).expect("from tiles"),
            inclusion_proof(&mem, i, size).expect("from the store"),
            "{i} in {size}"
        );
    }
    for (old, new) in [(1, n), (256, n), (65_537, n), (70_000, n), (3, 257)] {
        assert_eq!(
            consistency_proof(&source, old, new).expect("from tiles"),
            consistency_proof(&mem, old, new).expect("from the store"),
            "{old} -> {new}"
        );
    }
    // A node past the tree size is not asked of the tiles.
    assert_eq!(
        source.hash(0, n),
        Err(TlogError::NoSuchNode { level: 0, index: n })
    );
    assert!(source.hash(64, 0).is_err());
    assert!(source.hash(17, 0).is_err());
    // A tile of the wrong width is refused.
    let liar = TileSource::new(n, |_: &TilePath| {
        Ok::<_, TlogError>(vec![Hash::default(); 3])
    });
    assert!(matches!(liar.hash(0, 0), Err(TlogError::BadTile(_))));
}

proptest! {
    #[test]
    fn tlog_any_tile_path_round_trips(
        level in 0u8..=63, index in any::<u64>(), width in 1u16..=256, entries in any::<bool>(),
    ) {
        let t = if entries {
            TilePath::entries(index, width).unwrap()
        } else {
            TilePath::hash(level, index, width).unwrap()
        };
        prop_assert_eq!(TilePath::parse(&t.to_path()).unwrap(), t);
    }

    #[test]
    fn tlog_tiles_answer_the_same_proofs_as_the_store(
        n in 1u64..=2000, i in any::<prop::sample::Index>(), m in any::<prop::sample::Index>(),
    ) {
        let mut mem = MemoryHashes::new();
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        mem.append(&leaves).unwrap();
        let tiles = publish(&mem, n);
        let source = tile_source(&tiles, n);
        let (i, m) = (i.index(n as usize) as u64, m.index(n as usize) as u64 + 1);
        let proof = inclusion_proof(&source, i, n).unwrap();
        prop_assert_eq!(&proof, &inclusion_proof(&mem, i, n).unwrap());
        verify_inclusion(&leaves[i as usize], i, n, &proof, &mem.root()).unwrap();
        let proof = consistency_proof(&source, m, n).unwrap();
        prop_assert_eq!(proof, consistency_proof(&mem, m, n).unwrap());
        // The level 0 tiles are the leaf hashes of the entry bundles.
        for (t, hashes) in &tiles {
            if let Some(bundle) = t.entry_bundle() {
                let entries: Vec<[u8; 8]> = (0..u64::from(bundle.width))
                    .map(|k| (bundle.index * 256 + k).to_le_bytes())
                    .collect();
                let bytes = encode_entry_bundle(&entries).unwrap();
                let parsed = parse_entry_bundle(&bytes, bundle.width).unwrap();
                let rehashed: Vec<Hash> = parsed.iter().map(|e| leaf_hash(e)).collect();
                prop_assert_eq!(&rehashed, hashes);
            }
        }
    }
}
