//! Writes seed inputs for the fuzz targets from real protocol material: CSRs as students make
//! them, and the plaintext message streams of real enrollment and submission exchanges.
//!
//! `cargo run -p handin-core --example fuzz_seeds -- fuzz/seeds`

use bytes::BytesMut;
use handin_core::harness::StudentKey;
use handin_core::msg::{AssignmentSpec, FeedbackFile, Message, StaffMessage, UploadOffer};
use handin_core::submit::sha256;
use std::path::Path;

fn stream(messages: &[Message]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for m in messages {
        if let Err(e) = m.encode(&mut out) {
            panic!("seed message does not encode: {e}");
        }
    }
    out.to_vec()
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    if let Err(e) = std::fs::create_dir_all(&d).and_then(|()| std::fs::write(d.join(name), bytes)) {
        eprintln!("cannot write {}: {e}", d.display());
        std::process::exit(1);
    }
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: fuzz_seeds DIR");
        std::process::exit(2);
    };
    let dir = Path::new(&dir);
    let key = StudentKey::new("1155000001");
    write(dir, "csr", "p256.der", &key.csr_der);
    let p384 = StudentKey::with_alg("1155000001", &rcgen::PKCS_ECDSA_P384_SHA384);
    write(dir, "csr", "p384.der", &p384.csr_der);

    let enroll = stream(&[
        Message::Enroll {
            student_id: "1155000001".into(),
            code: "code-0001-1155000001".into(),
            csr: key.csr_der.clone().into(),
        },
        Message::GetCrl,
        Message::Renew {
            csr: key.csr_der.clone().into(),
        },
    ]);
    write(dir, "enroll_server", "enroll-crl-renew", &enroll);

    let data = b"Assignment 1: the answer is 42.\n".repeat(100);
    let offer = UploadOffer {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "hw1.txt".into(),
        size: data.len() as u64,
        sha256: sha256(&data),
    };
    let submit = stream(&[
        Message::List { course: None },
        Message::Submit(offer.clone()),
        Message::Data(data[..1000].to_vec().into()),
        Message::Data(data[1000..].to_vec().into()),
        Message::DataEnd,
        Message::List {
            course: Some("CSCI3180".into()),
        },
        Message::Fetch { id: "s1".into() },
    ]);
    write(dir, "submit_server", "list-submit-fetch", &submit);
    let lying = stream(&[
        Message::Submit(UploadOffer { size: 10, ..offer }),
        Message::Data(data[..20].to_vec().into()),
        Message::DataEnd,
    ]);
    write(dir, "submit_server", "size-lie", &lying);
    let feedback = b"Well done; see page 2.\n".repeat(20);
    let c = || "CSCI3180".to_owned();
    let a = || "hw1".to_owned();
    let staff = stream(&[
        Message::Staff(StaffMessage::Courses),
        Message::Staff(StaffMessage::PutAssignment(AssignmentSpec {
            course: c(),
            assignment: "hw2".into(),
            due: 1_900_000_000,
            max_size: 1 << 20,
            cutoff: Some(1_900_086_400),
            grace_secs: 600,
            allow_past: false,
        })),
        Message::Staff(StaffMessage::Status {
            course: c(),
            assignment: a(),
        }),
        Message::Staff(StaffMessage::Extend {
            course: c(),
            assignment: a(),
            student: "1155000001".into(),
            due: 1_900_000_000,
        }),
        Message::Staff(StaffMessage::Grade {
            course: c(),
            assignment: a(),
            student: "1155000001".into(),
            score: "87.5".into(),
            comment: "Clear.\nSee the file.".into(),
            feedback: Some(FeedbackFile {
                file_name: "marked.txt".into(),
                size: feedback.len() as u64,
                sha256: sha256(&feedback),
            }),
        }),
        Message::Data(feedback.clone().into()),
        Message::DataEnd,
        Message::Staff(StaffMessage::Release {
            course: c(),
            assignment: a(),
        }),
        Message::Staff(StaffMessage::SetOpen {
            course: c(),
            assignment: a(),
            open: false,
        }),
        Message::Staff(StaffMessage::Log { course: c() }),
        Message::Staff(StaffMessage::Fetch { id: "s1".into() }),
    ]);
    write(dir, "staff_server", "course-run", &staff);
    let outsider = stream(&[
        Message::Staff(StaffMessage::Status {
            course: "CSCI2100".into(),
            assignment: a(),
        }),
        Message::Staff(StaffMessage::Grade {
            course: c(),
            assignment: a(),
            student: "1155000001".into(),
            score: "A-".into(),
            comment: String::new(),
            feedback: None,
        }),
    ]);
    write(dir, "staff_server", "outsider-bad-score", &outsider);
    tlog_seeds(dir);
    println!("seeds written to {}", dir.display());
}

/// A signed checkpoint by the `tlog_note` target's key, its verifier key, a tile path, a hash
/// tile and an entry bundle.
fn tlog_seeds(dir: &Path) {
    use handin_core::tlog::{
        encode_entry_bundle, encode_hash_tile, leaf_hash, root, Checkpoint, NoteSigner, TilePath,
    };
    // The key the target verifies with (fuzz/fuzz_targets/tlog_note.rs).
    let signer = match NoteSigner::from_seed("log.example/fuzz", &[7; 32]) {
        Ok(s) => s,
        Err(e) => panic!("the fuzz key: {e}"),
    };
    let cp = Checkpoint::new("log.example/fuzz", 3, root(&[b"a", b"b", b"c"]));
    match cp.sign(&signer) {
        Ok(note) => write(dir, "tlog_note", "checkpoint", note.as_bytes()),
        Err(e) => panic!("seed checkpoint: {e}"),
    }
    write(
        dir,
        "tlog_note",
        "vkey",
        signer.verifier().vkey().as_bytes(),
    );
    if let Ok(t) = TilePath::hash(0, 1_234_067, 8) {
        write(dir, "tlog_note", "tile-path", t.to_path().as_bytes());
    }
    if let Ok(tile) = encode_hash_tile(&[leaf_hash(b"a"), leaf_hash(b"b")]) {
        write(dir, "tlog_note", "hash-tile", &tile);
    }
    if let Ok(bundle) = encode_entry_bundle(&[&b"a"[..], b"bc"]) {
        // The target reads the bundle's width from the first byte (width - 1).
        write(
            dir,
            "tlog_note",
            "entry-bundle",
            &[&[1u8][..], &bundle].concat(),
        );
    }
}
