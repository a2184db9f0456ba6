//! Scenario tests on the in-memory harness: the whole flow and every refusal.

use crate::harness::{t0, Campus, Split, StudentKey};
use crate::pki::Revocations;
use crate::{Error, RefusalCode, Role};
use std::time::Duration;

const ALICE: &str = "1155000001";
const BOB: &str = "1155000002";

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
    assert_eq!(again.verify(&campus.blackboard_cert.cert).expect("verifies"), body);

    let list = campus.list(&mut pair, None).expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, body.id);
    let (entry, bytes) = campus.fetch(&mut pair, &body.id).expect("fetch");
    assert_eq!(entry.sha256, body.sha256);
    assert_eq!(bytes, data);
    assert!(pair.client.error().is_none() && pair.server.error().is_none());
}
