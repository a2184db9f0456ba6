//! The transparency-log parsers, fed arbitrary bytes: signed notes, checkpoints, verifier and
//! signer keys, tile paths, hash tiles, entry bundles, and proof verification with hostile
//! sizes and hashes. Never panics; whatever parses prints back to the same bytes (one
//! encoding per value); a note that opens was signed by the known key.
#![no_main]

use handin_core::tlog::{
    encode_entry_bundle, encode_hash_tile, parse_entry_bundle, parse_hash_tile,
    verify_consistency, verify_inclusion, Checkpoint, Hash, Note, NoteSigner, NoteVerifier,
    TilePath, HASH_LEN,
};
use libfuzzer_sys::fuzz_target;

/// The log key of the seeds (`cargo run -p handin-core --example fuzz_seeds`), whose signed
/// checkpoint the fuzzer mutates.
const ORIGIN: &str = "log.example/fuzz";
const SEED: [u8; 32] = [7; 32];

thread_local! {
    static VERIFIER: NoteVerifier = match NoteSigner::from_seed(ORIGIN, &SEED) {
        Ok(s) => s.verifier(),
        Err(e) => panic!("the fuzz key: {e}"),
    };
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = data.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_be_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    VERIFIER.with(|v| {
        if let Ok(note) = Note::parse(data) {
            assert_eq!(note.to_text().as_bytes(), data);
        }
        if let Ok((note, by)) = Note::open(data, std::slice::from_ref(v)) {
            assert_eq!(by, vec![v]);
            assert!(note.signatures.iter().any(|s| s.name == ORIGIN));
        }
        if let Ok(cp) = Checkpoint::open(data, ORIGIN, std::slice::from_ref(v)) {
            assert_eq!(cp.origin, ORIGIN);
        }
    });
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse_text(text) {
            assert_eq!(cp.to_text().ok().as_deref(), Some(text));
        }
        if let Ok(t) = TilePath::parse(text) {
            assert_eq!(t.to_path(), text);
        }
        if let Ok(k) = NoteVerifier::from_vkey(text) {
            assert_eq!(k.vkey(), text);
        }
        let _ = NoteSigner::from_skey(text);
        let _ = Hash::from_base64(text);
    }
    // Tiles: a hash tile as wide as the bytes allow, an entry bundle of the first byte's width.
    let width = (data.len() / HASH_LEN).min(300) as u16;
    if let Ok(hashes) = parse_hash_tile(data, width) {
        assert_eq!(encode_hash_tile(&hashes).ok().as_deref(), Some(data));
    }
    if let Some((w, rest)) = data.split_first() {
        if let Ok(entries) = parse_entry_bundle(rest, u16::from(*w) + 1) {
            assert_eq!(encode_entry_bundle(&entries).ok().as_deref(), Some(rest));
        }
    }
    // Proof verification with hostile sizes, indices and hashes: an answer, never a panic.
    if data.len() >= 16 {
        let (a, b) = (u64_at(data, 0), u64_at(data, 8));
        let hashes: Vec<Hash> = data[16..]
            .chunks_exact(HASH_LEN)
            .filter_map(|c| Hash::from_slice(c).ok())
            .collect();
        if let Some((first, proof)) = hashes.split_first() {
            let _ = verify_inclusion(first, a, b, proof, first);
            let _ = verify_consistency(a, b, proof, first, first);
        }
    }
});
