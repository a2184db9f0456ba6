//! Signed notes and checkpoints: the reference implementation's published example key and
//! note byte for byte, round trips, tampering, wrong keys and hostile notes.

use crate::tlog::*;

// The example key and note of the signed-note reference implementation (Go's
// golang.org/x/mod/sumdb/note documentation). Ed25519 is deterministic, so signing the text with
// the key must give this note exactly.
const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const SIGNED: &str = "If you think cryptography is the answer to your problem,\n\
                      then you don't know what your problem is.\n\
                      \n\
                      \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

const ORIGIN: &str = "cuhk.example/certificates";

fn checkpoint() -> Checkpoint {
    Checkpoint::new(ORIGIN, 1234, root(&[b"a", b"b", b"c"]))
}

#[test]
fn tlog_signs_and_verifies_the_reference_note_byte_for_byte() {
    let signer = NoteSigner::from_skey(SKEY).expect("the reference signer key");
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.id(), 0xc74f20a3);
    assert_eq!(signer.verifier().vkey(), VKEY);
    assert_eq!(signer.sign(TEXT).expect("sign"), SIGNED);

    let verifier = NoteVerifier::from_vkey(VKEY).expect("the reference verifier key");
    assert_eq!(verifier, signer.verifier());
    assert_eq!(verifier.id(), key_id("PeterNeumann", verifier.public_key()));
    let (note, by) = Note::open(SIGNED.as_bytes(), std::slice::from_ref(&verifier)).expect("open");
    assert_eq!(note.text, TEXT);
    assert_eq!(by, vec![&verifier]);
    assert_eq!(note.to_text(), SIGNED);
}

#[test]
fn tlog_mangled_verifier_keys_are_rejected() {
    // Every proper substring and every single-byte change of the key is refused.
    let b = VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if (i, j) != (0, b.len()) {
                let s = String::from_utf8_lossy(&b[i..j]);
                assert!(NoteVerifier::from_vkey(&s).is_err(), "{s}");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] = m[i].wrapping_add(1);
        let s = String::from_utf8_lossy(&m);
        assert!(NoteVerifier::from_vkey(&s).is_err(), "{s}");
    }
    for bad in [
        "",
        "+",
        "++",
        "a b+c74f20a3+AA==",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(NoteVerifier::from_vkey(bad).is_err(), "{bad}");
    }
    // The same key bytes with padding inside the base64: one key, one text.
    let key = NoteVerifier::from_vkey(VKEY).expect("vkey");
    let padded = format!(
        "PeterNeumann+c74f20a3+AQ=={}",
        data_encoding::BASE64.encode(key.public_key())
    );
    let err = NoteVerifier::from_vkey(&padded).expect_err("padding inside");
    assert!(err.to_string().contains("not canonical"), "{err}");
    assert!(NoteSigner::from_skey(VKEY).is_err());
    assert!(NoteSigner::from_skey(&SKEY.replace("c74f20a3", "c74f20a4")).is_err());
}

#[test]
fn tlog_checkpoint_sign_open_round_trip() {
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let cp = Checkpoint {
        extensions: vec!["an extension".into()],
        ..checkpoint()
    };
    let note = cp.sign(&signer).expect("sign");
    assert!(note.starts_with(&format!(
        "{ORIGIN}\n1234\n{}\nan extension\n\n\u{2014} {ORIGIN} ",
        cp.root.to_base64()
    )));
    let opened = Checkpoint::open(note.as_bytes(), ORIGIN, &[signer.verifier()]).expect("open");
    assert_eq!(opened, cp);
    // The key survives PKCS#8 and its verifier key text.
    let again = NoteSigner::from_pkcs8(ORIGIN, &signer.to_pkcs8().expect("pkcs8")).expect("key");
    assert_eq!(again.verifier(), signer.verifier());
    let v = NoteVerifier::from_vkey(&signer.verifier().vkey()).expect("vkey");
    assert_eq!(
        Checkpoint::open(note.as_bytes(), ORIGIN, &[v]).expect("open"),
        cp
    );
    // The spec's example body parses and prints back the same.
    let text =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let parsed = Checkpoint::parse_text(text).expect("the spec's example");
    assert_eq!(
        (parsed.origin.as_str(), parsed.size),
        ("example.com/behind-the-sofa", 20852163)
    );
    assert_eq!(parsed.to_text().expect("text"), text);
}

#[test]
fn tlog_any_changed_byte_or_wrong_key_fails() {
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let verifiers = [signer.verifier()];
    let note = checkpoint().sign(&signer).expect("sign").into_bytes();
    for i in 0..note.len() {
        for bit in [0x01u8, 0x20, 0x80] {
            let mut m = note.clone();
            m[i] ^= bit;
            assert!(
                Checkpoint::open(&m, ORIGIN, &verifiers).is_err(),
                "byte {i} ^ {bit:#x}: {}",
                String::from_utf8_lossy(&m)
            );
        }
    }
    // Another key of the same name: its ID differs, so no known key signed.
    let other = NoteSigner::generate(ORIGIN).expect("key");
    assert!(matches!(
        Checkpoint::open(&note, ORIGIN, &[other.verifier()]),
        Err(TlogError::Signature(_))
    ));
    assert!(matches!(
        Checkpoint::open(&note, ORIGIN, &[]),
        Err(TlogError::Signature(_))
    ));
    // Another log's checkpoint.
    assert!(matches!(
        Checkpoint::open(&note, "blackboard.example/receipts", &verifiers),
        Err(TlogError::BadCheckpoint(_))
    ));
}

#[test]
fn tlog_unknown_signatures_are_ignored_and_a_bad_known_one_rejects() {
    let log = NoteSigner::generate(ORIGIN).expect("key");
    let witness = NoteSigner::generate("witness.example/w1").expect("key");
    let text = checkpoint().to_text().expect("text");
    let both = Note::sign(&text, &[&log, &witness]).expect("sign");
    let only_log = [log.verifier()];
    let (note, by) = Note::open(both.as_bytes(), &only_log).expect("open");
    assert_eq!(note.signatures.len(), 2);
    assert_eq!(by, vec![&log.verifier()]);
    let both_keys = [log.verifier(), witness.verifier()];
    let (_, by) = Note::open(both.as_bytes(), &both_keys).expect("open");
    assert_eq!(by.len(), 2);
    // The witness's line with a signature over other text: rejected although the log's is good.
    let mut forged = Note::parse(both.as_bytes()).expect("parse");
    let elsewhere =
        Note::parse(witness.sign("other text\n").expect("sign").as_bytes()).expect("parse");
    forged.signatures[1] = elsewhere.signatures[0].clone();
    let forged = forged.to_text();
    assert!(Note::open(forged.as_bytes(), &[log.verifier()]).is_ok());
    assert!(matches!(
        Note::open(forged.as_bytes(), &[log.verifier(), witness.verifier()]),
        Err(TlogError::Signature(_))
    ));
}

#[test]
fn tlog_hostile_notes_are_refused_with_clear_errors() {
    let sig = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    let many = format!("{TEXT}\n{}", sig.repeat(MAX_SIGNATURES + 1));
    let big = format!("{}\n{sig}", "a\n".repeat(MAX_NOTE_LEN / 2));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (big.into_bytes(), "over the limit"),
        (many.into_bytes(), "more than 100 signatures"),
        (TEXT.as_bytes().to_vec(), "no blank line"),
        (format!("{TEXT}\n").into_bytes(), "no signature lines"),
        (
            SIGNED.trim_end().as_bytes().to_vec(),
            "does not end in a newline",
        ),
        (
            SIGNED.replace("problem,", "problem\t,").into_bytes(),
            "control character",
        ),
        (
            SIGNED.replace("\n", "\r\n").into_bytes(),
            "control character",
        ),
        ([&b"\xff\n\n"[..], sig.as_bytes()].concat(), "not UTF-8"),
        (SIGNED.replace('\u{2014}', "-").into_bytes(), "em dash"),
        (
            SIGNED
                .replace("PeterNeumann x", "Peter+Neumann x")
                .into_bytes(),
            "contains '+'",
        ),
        (
            SIGNED
                .replace("PeterNeumann x", "PeterNeumann\u{a0}x")
                .into_bytes(),
            "without a signature",
        ),
        (
            SIGNED.replace("PeterNeumann x", " x").into_bytes(),
            "empty key name",
        ),
        (
            SIGNED.replace("x08go/", "x08go*").into_bytes(),
            "not base64",
        ),
        (
            format!("{TEXT}\n\u{2014} PeterNeumann AAAA\n").into_bytes(),
            "of 3 bytes",
        ),
        (
            format!("{TEXT}\n\u{2014} PeterNeumann \n").into_bytes(),
            "of 0 bytes",
        ),
    ];
    let v = NoteVerifier::from_vkey(VKEY).expect("vkey");
    for (note, want) in cases {
        let err = Note::open(&note, std::slice::from_ref(&v)).expect_err(want);
        assert!(matches!(err, TlogError::BadNote(_)), "{err}");
        assert!(err.to_string().contains(want), "{err} (wanted {want:?})");
    }
    // Signing refuses what it could not open.
    let signer = NoteSigner::from_skey(SKEY).expect("key");
    assert!(signer.sign("no newline").is_err());
    assert!(signer.sign("a\u{0}\n").is_err());
    assert!(NoteSigner::generate("a name").is_err());
    assert!(NoteSigner::generate("").is_err());
    assert!(Note::sign(TEXT, &[]).is_err());
}

#[test]
fn tlog_hostile_checkpoint_bodies_are_refused() {
    let root = checkpoint().root.to_base64();
    let good = format!("{ORIGIN}\n1234\n{root}\n");
    assert_eq!(Checkpoint::parse_text(&good).expect("good"), checkpoint());
    let max = format!("{ORIGIN}\n18446744073709551615\n{root}\n");
    assert_eq!(Checkpoint::parse_text(&max).expect("max").size, u64::MAX);
    let zero = format!("{ORIGIN}\n0\n{}\n", empty_root().to_base64());
    assert_eq!(Checkpoint::parse_text(&zero).expect("empty").size, 0);
    let short = Hash::default().to_base64()[..40].to_string() + "AA==";
    for bad in [
        String::new(),
        format!("{ORIGIN}\n1234\n{root}"),
        format!("{ORIGIN}\n1234\n"),
        format!("\n1234\n{root}\n"),
        format!("{ORIGIN}\n01234\n{root}\n"),
        format!("{ORIGIN}\n+1234\n{root}\n"),
        format!("{ORIGIN}\n 1234\n{root}\n"),
        format!("{ORIGIN}\n12e3\n{root}\n"),
        format!("{ORIGIN}\n\n{root}\n"),
        format!("{ORIGIN}\n18446744073709551616\n{root}\n"),
        format!("{ORIGIN}\n99999999999999999999999\n{root}\n"),
        format!("{ORIGIN}\n1234\n{short}\n"),
        format!("{ORIGIN}\n1234\n{}\n", root.trim_end_matches('=')),
        format!(
            "{ORIGIN}\n1234\n{}\n",
            data_encoding::BASE64URL.encode(&[0xff; 32])
        ),
        format!("{ORIGIN}\n1234\n{root}\n\n"),
        format!("{ORIGIN}\n1234\n{root}\next\n\nmore\n"),
    ] {
        assert!(
            matches!(
                Checkpoint::parse_text(&bad),
                Err(TlogError::BadCheckpoint(_))
            ),
            "{bad:?}"
        );
    }
    // The 43rd base64 character carries two unused low bits; setting one gives the same bytes
    // to a lax decoder. Refused: one hash, one encoding.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut loose = root.clone().into_bytes();
    let value = alphabet
        .iter()
        .position(|c| *c == loose[42])
        .expect("base64");
    loose[42] = alphabet[value ^ 1];
    let loose = String::from_utf8(loose).expect("ascii");
    assert!(matches!(
        Hash::from_base64(&loose),
        Err(TlogError::BadHash(_))
    ));
    assert!(Checkpoint::parse_text(&format!("{ORIGIN}\n1234\n{loose}\n")).is_err());
    // Padding inside the text: the base64 decoder takes concatenated padded blocks, which
    // would give one root several encodings (found by the tlog_note fuzz target).
    let padded_inside = "log.example/fuzz\n3\nNmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmw=CsEH\n";
    assert!(matches!(
        Checkpoint::parse_text(padded_inside),
        Err(TlogError::BadCheckpoint(_))
    ));
    let mut cp = checkpoint();
    cp.origin = String::new();
    assert!(cp.to_text().is_err());
    cp.origin = "a\nb".into();
    assert!(cp.to_text().is_err());
    cp.origin = ORIGIN.into();
    cp.extensions = vec![String::new()];
    assert!(cp.to_text().is_err());
}
