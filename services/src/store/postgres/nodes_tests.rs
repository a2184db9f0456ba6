//! The PostgreSQL stores used by several nodes at once: batches of submissions racing for
//! versions, registrars racing to spend one code, the CRL number, the shared throttle, and
//! CUHK's registrar itself on PostgreSQL. One database per test on the test binary's server.

use super::tests::{at, fresh_url};
use crate::store::{
    Assignment, BoardRecords, IssuedRecord, PgBoard, PgRegistrar, PgThrottle, RegistrarRecords,
    StoredSubmission, ThrottleRecords,
};
use handin_core::pki::{PersonId, StudentId};
use std::sync::Barrier;
use std::time::Duration;

fn submission(id: String, file: &str, version: u32) -> StoredSubmission {
    StoredSubmission {
        id,
        student: StudentId::parse("1155000001").unwrap(),
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: file.into(),
        size: 1,
        sha256: [1; 32],
        received_at: at(1_000),
        late: false,
        version,
        due: at(2_000),
        committed_at: None,
        log_index: None,
    }
}

#[test]
fn batches_of_two_nodes_never_give_a_version_twice() {
    let url = fresh_url("racing_batches");
    let nodes = [PgBoard::open(&url).unwrap(), PgBoard::open(&url).unwrap()];
    nodes[0]
        .put_assignment(&Assignment::new("CSCI3180", "hw1", at(2_000), 10))
        .unwrap();
    let student = StudentId::parse("1155000001").unwrap();
    const THREADS: usize = 4;
    const BATCHES: usize = 15;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (node, student) = (&nodes[t % 2], &student);
            s.spawn(move || {
                for b in 0..BATCHES {
                    // What Blackboard's group commit does: read the versions, then insert the
                    // next, in one transaction.
                    let mut tx = node.begin().unwrap();
                    for file in ["a.txt", "b.txt"] {
                        let n = tx.versions(student, "CSCI3180", "hw1", file).unwrap();
                        tx.insert(&submission(format!("{t}-{b}-{file}"), file, n + 1))
                            .unwrap();
                    }
                    tx.commit().unwrap();
                }
            });
        }
    });
    let all = nodes[1].all().unwrap();
    assert_eq!(all.len(), THREADS * BATCHES * 2);
    for file in ["a.txt", "b.txt"] {
        let versions: Vec<u32> = all
            .iter()
            .filter(|s| s.file_name == file)
            .map(|s| s.version)
            .collect();
        let expected: Vec<u32> = (1..=u32::try_from(THREADS * BATCHES).unwrap()).collect();
        assert_eq!(versions, expected, "in the order recorded, none twice");
    }
}

#[test]
fn two_nodes_racing_to_spend_one_code_one_wins() {
    let url = fresh_url("racing_codes");
    let mut nodes = [
        PgRegistrar::open(&url).unwrap(),
        PgRegistrar::open(&url).unwrap(),
    ];
    for round in 0..10u64 {
        let alice = PersonId::parse(&format!("11550000{round:02}")).unwrap();
        nodes[0].put_person(&alice, b"s", b"h", at(1)).unwrap();
        let start = Barrier::new(2);
        let won: Vec<bool> = std::thread::scope(|s| {
            let runs: Vec<_> = nodes
                .iter_mut()
                .enumerate()
                .map(|(i, node)| {
                    let (alice, start) = (&alice, &start);
                    s.spawn(move || {
                        start.wait();
                        // What CUHK's batch does: read the code, and only if unused, record a
                        // certificate and spend it.
                        let mut tx = node.begin().unwrap();
                        if tx.code(alice).unwrap().unwrap().used {
                            return false;
                        }
                        let record = IssuedRecord {
                            serial_hex: format!("{round:02X}{i:02X}"),
                            not_before: at(1),
                            not_after: at(2),
                            issued_at: at(1),
                            revoked_at: None,
                        };
                        tx.record_certificate(alice, &record).unwrap();
                        tx.mark_code_used(alice, at(1)).unwrap();
                        tx.commit().is_ok()
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: {won:?}"
        );
        assert_eq!(nodes[1].issued(&alice).unwrap().len(), 1);
    }
}

#[test]
fn the_crl_number_is_unique_across_nodes() {
    let url = fresh_url("crl_numbers");
    let mut nodes = [
        PgRegistrar::open(&url).unwrap(),
        PgRegistrar::open(&url).unwrap(),
    ];
    let mut numbers: Vec<u64> = std::thread::scope(|s| {
        let runs: Vec<_> = nodes
            .iter_mut()
            .map(|node| {
                s.spawn(move || {
                    (0..20)
                        .map(|_| node.next_crl_number().unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        runs.into_iter().flat_map(|r| r.join().unwrap()).collect()
    });
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=40).collect::<Vec<u64>>());
}

#[test]
fn the_throttle_pushes_atomically_and_forgets() {
    let url = fresh_url("throttle");
    let nodes = [
        PgThrottle::open(&url).unwrap(),
        PgThrottle::open(&url).unwrap(),
    ];
    let interval = Duration::from_millis(1_500);
    assert_eq!(nodes[0].until("10.0.0.1").unwrap(), None);
    // From nothing: now + interval; while still ahead: one more interval.
    assert_eq!(
        nodes[0].push("10.0.0.1", at(100), interval).unwrap(),
        at(100) + interval
    );
    assert_eq!(
        nodes[1].push("10.0.0.1", at(100), interval).unwrap(),
        at(100) + interval * 2
    );
    // Long after: from now again.
    assert_eq!(
        nodes[1].push("10.0.0.1", at(500), interval).unwrap(),
        at(500) + interval
    );
    assert_eq!(
        nodes[0].until("10.0.0.1").unwrap(),
        Some(at(500) + interval)
    );
    // Many pushes from two nodes at once: every one counted.
    std::thread::scope(|s| {
        for node in &nodes {
            s.spawn(move || {
                for _ in 0..50 {
                    node.push("2001:db8::", at(1_000), interval).unwrap();
                }
            });
        }
    });
    assert_eq!(
        nodes[0].until("2001:db8::").unwrap(),
        Some(at(1_000) + interval * 100)
    );
    assert_eq!(nodes[0].forget_before(at(600)).unwrap(), 1);
    assert_eq!(nodes[0].until("10.0.0.1").unwrap(), None);
    assert_eq!(nodes[1].forget_before(at(600)).unwrap(), 0);
    assert!(nodes[1].until("2001:db8::").unwrap().is_some());
    let huge = nodes[0].push("x", at(1), Duration::from_secs(u64::MAX));
    assert!(huge.is_err());
}

#[test]
fn the_registrar_enrolls_renews_and_revokes_on_postgres() {
    use crate::registrar::{Application, Registrar, RegistrarReader, Request};
    use handin_core::harness::t0;
    use handin_core::pki::{certificate_info, check_csr, new_student_key, Ca, PkiError};
    let url = fresh_url("registrar");
    let ca = Ca::generate("CUHK Test Root", t0(), Duration::from_secs(86_400)).unwrap();
    let alice = StudentId::parse("1155000001").unwrap();
    let sign = || {
        let key = new_student_key(&alice)?;
        let csr = check_csr(&key.csr_der, Some(&alice)).map_err(|e| PkiError(e.to_string()))?;
        ca.issue_student(&csr, t0(), Duration::from_secs(3_600))
    };
    let mut reg = Registrar::with_records(Box::new(PgRegistrar::open(&url).unwrap()));
    let code = reg.add_student(&alice, t0()).unwrap();
    let mut reader = RegistrarReader::with_view(reg.views().unwrap()().unwrap());
    let cert = reg.redeem(&alice, &code, t0(), sign).unwrap();
    // The code is spent, also for another node's registrar on the same database.
    let mut other = Registrar::with_records(Box::new(PgRegistrar::open(&url).unwrap()));
    assert!(other.redeem(&alice, &code, t0(), sign).is_err());
    let serial = certificate_info(&cert).unwrap().serial;
    other.renew(&alice, &serial, t0(), sign).unwrap();
    assert_eq!(reg.issued(&alice).unwrap().len(), 2);
    assert_eq!(reg.revoke_student(&alice, t0()).unwrap(), 2);
    assert_eq!(other.revoked().unwrap().len(), 2);
    assert!(reg.renew(&alice, &serial, t0(), sign).is_err());
    let renewal = Application {
        person: alice.clone().into(),
        request: Request::Renew { serial },
        now: t0(),
        signed: None,
    };
    assert!(!reader.would_accept(&renewal).unwrap(), "revoked");

    // A batch: the same code twice, decided in one transaction: the first one wins.
    let bob = StudentId::parse("1155000002").unwrap();
    let code = reg.add_student(&bob, t0()).unwrap();
    let enroll = Application {
        person: bob.clone().into(),
        request: Request::Enroll { code },
        now: t0(),
        signed: None,
    };
    assert!(reader.would_accept(&enroll).unwrap());
    let bob_signs = |_| {
        let key = new_student_key(&bob)?;
        let csr = check_csr(&key.csr_der, Some(&bob)).map_err(|e| PkiError(e.to_string()))?;
        ca.issue_student(&csr, t0(), Duration::from_secs(3_600))
    };
    let outcomes = other
        .decide(&[enroll.clone(), enroll.clone()], bob_signs)
        .unwrap();
    assert!(outcomes[0].is_ok() && outcomes[1].is_err(), "{outcomes:?}");
    assert!(!reader.would_accept(&enroll).unwrap());
    assert_eq!(reg.issued(&bob).unwrap().len(), 1);
}
