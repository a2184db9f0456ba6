//! Scenario tests on the in-memory harness: the whole flow and every refusal.

use super::t0;
use crate::harness::Campus;
use std::time::Duration;

const ALICE: &str = "1155000001";

#[test]
fn the_whole_scenario_enroll_submit_verify_list_fetch() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let mut pair = campus.submit_pair(Some(alice));
    campus.connect_submit(&mut pair).expect("connected");
    assert_eq!(pair.client.student(), Some(ALICE));

    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let (receipt, body) = campus
        .submit(&mut pair, "CSCI3180", "hw1", "hw1.pdf", &data)
        .expect("receipt");
    assert_eq!(body.student_id, ALICE);
    assert_eq!(body.size, data.len() as u64);
    assert!(!body.late);
    assert_eq!(body.version, 1);
    // Anyone with Blackboard's certificate can verify the receipt, from its PEM file.
    let pem = receipt.to_pem();
    let again = crate::Receipt::from_pem(pem.as_bytes()).expect("parses");
    assert_eq!(
        again
            .verify(&campus.blackboard_cert.cert)
            .expect("verifies"),
        body
    );

    let list = campus.list(&mut pair, None).expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, body.id);
    let (entry, bytes) = campus.fetch(&mut pair, &body.id).expect("fetch");
    assert_eq!(entry.sha256, body.sha256);
    assert_eq!(bytes, data);
    assert!(pair.client.error().is_none() && pair.server.error().is_none());
}

#[test]
fn a_late_resubmission_is_kept_as_a_new_version_marked_late() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let cfg = campus.client_config(crate::Role::Submit, Some(alice));
    let mut pair = campus.submit_pair_with(&cfg);
    campus.connect_submit(&mut pair).expect("connected");
    let (_, first) = campus
        .submit(&mut pair, "CSCI3180", "hw1", "hw1.pdf", b"draft")
        .expect("on time");
    assert!(!first.late);

    campus.now += Duration::from_secs(8 * 24 * 3600);
    let mut pair = campus.submit_pair_with(&cfg);
    campus
        .connect_submit(&mut pair)
        .expect("connected a week later");
    let (_, second) = campus
        .submit(&mut pair, "CSCI3180", "hw1", "hw1.pdf", b"final")
        .expect("late but accepted");
    assert!(second.late);
    assert_eq!(second.version, 2);
    assert_ne!(second.id, first.id);
    let list = campus.list(&mut pair, Some("CSCI3180")).expect("list");
    assert_eq!(list.len(), 2, "nothing is overwritten");
    let (_, old) = campus.fetch(&mut pair, &first.id).expect("first version");
    assert_eq!(old, b"draft");
}

#[test]
fn a_receipt_does_not_verify_with_another_certificate_or_after_tampering() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let mut pair = campus.submit_pair(Some(alice));
    campus.connect_submit(&mut pair).expect("connected");
    let (receipt, _) = campus
        .submit(&mut pair, "CSCI3180", "hw1", "a.txt", b"x")
        .expect("receipt");
    let other = Campus::new(t0());
    assert!(receipt.verify(&other.blackboard_cert.cert).is_err());
    let mut bytes = receipt.encode();
    let i = bytes.len() / 2;
    bytes[i] ^= 1;
    let tampered = crate::Receipt::decode(&bytes);
    assert!(tampered.map_or(true, |r| r.verify(&campus.blackboard_cert.cert).is_err()));
}
