//! Logged receipts and commitments: signed, proven and checked offline; tampering, a foreign
//! log key or a missing proof refused; log entries and their hostile encodings.

use crate::harness::{server_identity, t0};
use crate::logs::{CommitmentBody, LogEntry, LogProof, Revocation};
use crate::pki::{Ca, ServerName};
use crate::receipt::{Receipt, ReceiptBody, ReceiptSigner};
use crate::tlog::{append_batch, leaf_hash, Checkpoint, Frontier, NoteSigner};
use proptest::prelude::*;
use std::time::Duration;

fn signer() -> (ReceiptSigner, Vec<u8>) {
    let year = Duration::from_secs(365 * 24 * 3600);
    let ca = Ca::generate("CUHK Root CA", t0(), 10 * year).unwrap();
    let names = [ServerName::Dns("localhost".into())];
    let bb = ca.issue_server("Blackboard", &names, t0(), year).unwrap();
    let id = server_identity(&bb, ca.cert());
    let cert = id.chain[0].to_vec();
    (
        ReceiptSigner::new(&id.key, id.chain[0].clone()).unwrap(),
        cert,
    )
}

fn body(n: u32, log: &str) -> ReceiptBody {
    ReceiptBody {
        id: format!("id{n}"),
        student_id: "1155000001".into(),
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "a.pdf".into(),
        size: 10 + u64::from(n),
        sha256: [n as u8; 32],
        received_at: 1_800_000_000,
        due_at: 1_800_000_100,
        late: false,
        version: n,
        committed_at: (n % 2 == 0).then_some(1_799_999_000),
        log: log.into(),
    }
}

/// Logs `bodies` in one batch and answers each signed receipt with its proof.
fn logged(signer: &ReceiptSigner, log: &NoteSigner, bodies: &[ReceiptBody]) -> Vec<Receipt> {
    let mut frontier = Frontier::new();
    let entries: Vec<Vec<u8>> = bodies.iter().map(ReceiptBody::encode).collect();
    let leaves: Vec<_> = entries.iter().map(|e| leaf_hash(e)).collect();
    let batch = append_batch(&mut frontier, &leaves).unwrap();
    let checkpoint = Checkpoint::new(log.name(), batch.appended.size, batch.appended.root)
        .sign(log)
        .unwrap();
    entries
        .into_iter()
        .zip(batch.proofs)
        .enumerate()
        .map(|(i, (entry, hashes))| {
            signer
                .sign_receipt_bytes(entry)
                .unwrap()
                .with_log(LogProof {
                    index: batch.first + i as u64,
                    hashes,
                    checkpoint: checkpoint.clone(),
                })
        })
        .collect()
}

#[test]
fn a_logged_receipt_verifies_offline_and_tampering_fails() {
    let (signer, cert) = signer();
    let log = NoteSigner::generate("blackboard.example/receipts").unwrap();
    let vkey = log.verifier().vkey();
    let bodies: Vec<_> = (1..=5).map(|n| body(n, &vkey)).collect();
    let receipts = logged(&signer, &log, &bodies);
    for (r, b) in receipts.iter().zip(&bodies) {
        let again = Receipt::from_pem(r.to_pem().as_bytes()).unwrap();
        let v = again.verify_logged(&cert).unwrap();
        assert_eq!(&v.body, b);
        assert_eq!(v.checkpoint.unwrap().size, 5);
    }
    // A proof hash flipped: refused.
    let mut proof = receipts[2].log_proof().unwrap().clone();
    proof.hashes[0].0[0] ^= 1;
    let bad = receipts[2].clone().with_log(proof);
    assert!(bad.verify(&cert).unwrap_err().0.contains("log proof"));
    // Another receipt's proof: refused.
    let swapped = receipts[1]
        .clone()
        .with_log(receipts[3].log_proof().unwrap().clone());
    assert!(swapped.verify(&cert).is_err());
    // A checkpoint signed by another key (a split view by someone without the log key).
    let other = NoteSigner::generate("blackboard.example/receipts").unwrap();
    let forged = logged(&signer, &other, &bodies);
    assert!(forged[0].verify(&cert).is_err());
    // Naming a log but carrying no proof: refused.
    let bare = signer.sign(&bodies[0]).unwrap();
    assert!(bare.verify(&cert).unwrap_err().0.contains("no proof"));
    // A receipt of before the logs (version 1) still verifies.
    let old = body(1, "");
    let mut old = old;
    old.committed_at = None;
    assert!(old.encode().starts_with(b"handin-receipt/1"));
    assert_eq!(signer.sign(&old).unwrap().verify(&cert).unwrap(), old);
}

#[test]
fn a_commitment_verifies_and_tampering_fails() {
    let (signer, cert) = signer();
    let log = NoteSigner::generate("blackboard.example/receipts").unwrap();
    let body = CommitmentBody {
        student_id: "1155000001".into(),
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "a.pdf".into(),
        size: 42,
        sha256: [7; 32],
        committed_at: 1_800_000_000,
        log: log.verifier().vkey(),
    };
    let entry = LogEntry::Commitment(body.clone()).encode();
    assert_eq!(entry, body.encode());
    let mut frontier = Frontier::new();
    let batch = append_batch(&mut frontier, &[leaf_hash(b"x"), leaf_hash(&entry)]).unwrap();
    let checkpoint = Checkpoint::new(log.name(), 2, batch.appended.root)
        .sign(&log)
        .unwrap();
    let c = signer.sign_commitment(&body).unwrap().with_log(LogProof {
        index: 1,
        hashes: batch.proofs[1].clone(),
        checkpoint,
    });
    let read = crate::logs::Commitment::from_pem(c.to_pem().as_bytes()).unwrap();
    let (got, cp) = read.verify(&cert).unwrap();
    assert_eq!(got, body);
    assert_eq!(cp.size, 2);
    let mut wrong = c.log_proof().unwrap().clone();
    wrong.index = 0;
    assert!(c.clone().with_log(wrong).verify(&cert).is_err());
    // A receipt is not a commitment.
    assert!(
        crate::logs::Commitment::decode(&signer.sign(&body_v1()).unwrap().encode())
            .unwrap()
            .verify(&cert)
            .is_err()
    );
}

fn body_v1() -> ReceiptBody {
    let mut b = body(1, "");
    b.committed_at = None;
    b
}

#[test]
fn log_entries_round_trip() {
    let entries = [
        LogEntry::Receipt(body(2, "k")),
        LogEntry::Receipt(body_v1()),
        LogEntry::Certificate(vec![0x30, 0x82, 1, 2]),
        LogEntry::Revocation(Revocation {
            person: "1155000001".into(),
            serial_hex: "1F".into(),
            revoked_at: 7,
        }),
    ];
    for e in entries {
        assert_eq!(LogEntry::decode(&e.encode()).unwrap(), e);
    }
    assert!(LogEntry::decode(b"handin-revocation/1\x00").is_err());
    assert!(LogEntry::decode(b"something else").is_err());
}

proptest! {
    #[test]
    fn hostile_log_bytes_are_refused_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = LogEntry::decode(&bytes);
        let _ = LogProof::decode(&bytes);
        let _ = Receipt::decode(&bytes);
        let _ = crate::logs::Commitment::decode(&bytes);
        let _ = crate::logs::check_log_path(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn log_proofs_round_trip(index in any::<u64>(), n in 0usize..64, note in "[a-z0-9 \n]{0,300}") {
        let p = LogProof {
            index,
            hashes: (0..n).map(|i| crate::tlog::Hash([i as u8; 32])).collect(),
            checkpoint: note,
        };
        prop_assert_eq!(LogProof::decode(&p.encode()).unwrap(), p);
    }
}
