//! The log beside the store: every receipt logged with a proof that verifies offline, one
//! checkpoint per batch, the key kept across restarts; commitments and the grace period.

use super::*;
use handin_core::logs::LogEntry;
use handin_core::tlog::{root, Checkpoint, TileSource};
use handin_core::{Receipt, ReceiptSigner};

/// A receipt signer with a certificate of a throwaway CA, and that certificate.
fn signer() -> (ReceiptSigner, Vec<u8>) {
    let year = Duration::from_secs(365 * 24 * 3600);
    let ca = handin_core::pki::Ca::generate("CUHK Root CA", t0(), year).unwrap();
    let names = [handin_core::pki::ServerName::Dns("localhost".into())];
    let bb = ca.issue_server("Blackboard", &names, t0(), year).unwrap();
    let id =
        handin_core::Identity::from_pem(bb.cert_pem.as_bytes(), bb.key_pem.as_bytes()).unwrap();
    let cert = id.chain[0].to_vec();
    (
        ReceiptSigner::new(&id.key, id.chain[0].clone()).unwrap(),
        cert,
    )
}

fn ready(
    board: &Board,
    student: &StudentId,
    o: &UploadOffer,
    bytes: &[u8],
    at: SystemTime,
) -> Ready {
    let mut up = board.begin_upload().unwrap();
    up.write(bytes).unwrap();
    board.prepare(up, student, o, at).unwrap()
}

fn with_grace(board: &Board, secs: u64) {
    let mut a = board.assignment("CSCI3180", "hw1").unwrap().unwrap();
    a.grace = Duration::from_secs(secs);
    board.records().put_assignment(&a).unwrap();
}

#[test]
fn every_receipt_is_logged_under_one_checkpoint_per_batch_and_verifies_offline() {
    let (dir, board) = store();
    let (signer, cert) = signer();
    let batch: Vec<Ready> = (0..5u8)
        .map(|i| {
            let bytes = [i; 10];
            ready(
                &board,
                &alice(),
                &offer("CSCI3180", "hw1", &format!("f{i}"), &bytes),
                &bytes,
                t0(),
            )
        })
        .collect();
    let done: Vec<Committed> = board
        .commit_batch(batch)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let checkpoints: std::collections::BTreeSet<String> = done
        .iter()
        .map(|c| c.proof.as_ref().unwrap().checkpoint.clone())
        .collect();
    assert_eq!(checkpoints.len(), 1, "one checkpoint for the batch");
    for (i, c) in done.iter().enumerate() {
        assert_eq!(c.record.log_index, Some(i as u64));
        let receipt = board.receipt(&signer, &c.record, c.proof.clone()).unwrap();
        let again = Receipt::from_pem(receipt.to_pem().as_bytes()).unwrap();
        let v = again.verify_logged(&cert).unwrap();
        assert_eq!(v.checkpoint.unwrap().size, 5);
        assert_eq!(v.body.log, board.log_writer().vkey());
        // The stored entry is the receipt's body.
        let entry = board.records().log_entries(i as u64, i as u64 + 1).unwrap();
        assert_eq!(entry[0], again.body_bytes());
        assert!(matches!(
            LogEntry::decode(&entry[0]).unwrap(),
            LogEntry::Receipt(_)
        ));
    }
    // A second batch: the first receipts still prove against the newer checkpoint (made now).
    let o = offer("CSCI3180", "hw1", "late.txt", b"x");
    let more = board.commit_batch(vec![ready(&board, &bob(), &o, b"x", t0())]);
    assert_eq!(more[0].as_ref().unwrap().record.log_index, Some(5));
    let old = board.find(&alice(), &done[0].record.id).unwrap().unwrap();
    let now = board.receipt(&signer, &old, None).unwrap();
    assert_eq!(
        now.verify_logged(&cert).unwrap().checkpoint.unwrap().size,
        6
    );

    // The served tiles and bundles rebuild the checkpoint's root.
    let cp = board.serve_log("checkpoint").unwrap().bytes;
    let cp = Checkpoint::open(
        &cp,
        board.log_writer().origin(),
        &[board.log_writer().verifier()],
    )
    .unwrap();
    let bundle = board.serve_log("tile/entries/000.p/6").unwrap().bytes;
    let entries = handin_core::tlog::parse_entry_bundle(&bundle, 6).unwrap();
    assert_eq!(root(&entries), cp.root);
    let tiles = TileSource::new(6, |t: &handin_core::tlog::TilePath| {
        let bytes = board
            .serve_log(&t.to_path())
            .map_err(|_| handin_core::tlog::TlogError::TreeFull)?
            .bytes;
        handin_core::tlog::parse_hash_tile(&bytes, t.width)
    });
    assert_eq!(handin_core::tlog::root_at(&tiles, 6).unwrap(), cp.root);
    assert!(board.serve_log("tile/entries/000.p/7").is_err());
    assert!(board.serve_log("tile/entries/001").is_err());

    // Reopened, the store keeps its key: the old receipts still name it.
    let vkey = board.log_writer().vkey().to_owned();
    drop(board);
    let board = Board::open(dir.path()).unwrap();
    assert_eq!(board.log_writer().vkey(), vkey);
    // Without its key file, a log with entries refuses to open (a new key would break audits).
    drop(board);
    fs::remove_file(dir.path().join(LOG_KEY)).unwrap();
    match Board::open(dir.path()) {
        Err(BoardError::Invalid(m)) => assert!(m.contains("missing"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_commitment_makes_a_submission_within_the_grace_on_time_and_not_after() {
    let (_dir, board) = store();
    let (signer, cert) = signer();
    with_grace(&board, 600);
    let bytes = b"the finished homework";
    let o = offer("CSCI3180", "hw1", "hw.pdf", bytes);
    let before = due() - Duration::from_secs(60);
    let (body, proof) = board.commit_to(&alice(), &o, before).unwrap();
    assert_eq!(body.committed_at, unix_secs(before));
    let c = signer.sign_commitment(&body).unwrap().with_log(proof);
    assert_eq!(c.verify(&cert).unwrap().0, body);
    // After the due time, no more commitments.
    let r = refusal(board.commit_to(&alice(), &o, due() + Duration::from_secs(1)));
    assert_eq!(r.code, RefusalCode::Closed);
    // Not on the class list of a course it does not know: refused like an offer.
    assert!(board
        .commit_to(&alice(), &offer("NOPE1000", "hw1", "a", b"a"), before)
        .is_err());

    // Within the grace: on time, and the receipt says when the commitment was made.
    let within = due() + Duration::from_secs(300);
    let s = submit(&board, &alice(), &o, bytes, within).unwrap();
    assert!(!s.late);
    assert_eq!(s.committed_at, Some(before));
    let receipt = board.receipt(&signer, &s, None).unwrap();
    let v = receipt.verify_logged(&cert).unwrap();
    assert_eq!(v.body.committed_at, Some(unix_secs(before)));
    assert!(!v.body.late);
    // Other bytes than those committed to: late.
    let other = offer("CSCI3180", "hw1", "hw.pdf", b"changed");
    assert!(
        submit(&board, &alice(), &other, b"changed", within)
            .unwrap()
            .late
    );
    // Another student's commitment does not count.
    assert!(submit(&board, &bob(), &o, bytes, within).unwrap().late);
    // After the grace: late.
    let after = due() + Duration::from_secs(601);
    let s = submit(&board, &alice(), &o, bytes, after).unwrap();
    assert!(s.late);
    assert_eq!(s.committed_at, None);
    // The staff status shows the commitment, and the standing follows the current files.
    let status = board.status("CSCI3180", "hw1").unwrap();
    let a = status.iter().find(|r| r.student == alice()).unwrap();
    assert_eq!(a.committed_at, Some(before));
}

#[test]
fn the_status_counts_a_commitment_when_the_due_time_moves_and_commitments_are_bounded() {
    let (_dir, board) = store();
    with_grace(&board, 600);
    let bytes = b"done early";
    let o = offer("CSCI3180", "hw1", "hw.pdf", bytes);
    let c = due() - Duration::from_secs(3600);
    board.commit_to(&alice(), &o, c).unwrap();
    // Received before the due time: on time, nothing saved by the commitment yet.
    let r = due() - Duration::from_secs(1800);
    let s = submit(&board, &alice(), &o, bytes, r).unwrap();
    assert!(!s.late);
    assert_eq!(s.committed_at, None);
    // The due time moves earlier, between the commitment and the receipt, within the grace.
    let mut a = board.assignment("CSCI3180", "hw1").unwrap().unwrap();
    a.due = due() - Duration::from_secs(2000);
    board.records().put_assignment(&a).unwrap();
    let status = board.status("CSCI3180", "hw1").unwrap();
    let row = status.iter().find(|s| s.student == alice()).unwrap();
    assert_eq!(
        row.standing,
        handin_core::rules::current::Standing::OnTime,
        "{row:?} {:?}",
        board.records().commitments("CSCI3180", "hw1").unwrap()
    );
    assert!(!row.files[0].late);
    assert_eq!(row.files[0].committed_at, Some(c));
    // Without the commitment it would be late: Bob, same bytes, no commitment.
    submit(&board, &bob(), &o, bytes, r).unwrap();
    let status = board.status("CSCI3180", "hw1").unwrap();
    let bob_row = status.iter().find(|s| s.student == bob()).unwrap();
    assert_eq!(
        bob_row.standing,
        handin_core::rules::current::Standing::Late
    );

    // Commitments per student and assignment are bounded like submissions.
    let board = board.with_quota(handin_core::rules::quota::Quota {
        max_submissions: 2,
        max_bytes: MAX,
    });
    let early = due() - Duration::from_secs(86_400);
    board.commit_to(&alice(), &o, early).unwrap();
    let r = refusal(board.commit_to(&alice(), &o, early));
    assert_eq!(r.code, RefusalCode::Quota);
    // Another assignment is another count.
    let lab = offer("CSCI3150", "lab1", "lab.c", b"x");
    board.commit_to(&alice(), &lab, early).unwrap();
}
