//! CUHK's records, whatever the database: the roster and its codes, a batch's transaction,
//! certificates and revocations, the CRL number and the latest CRL, read-only views. Each case
//! gets a new, empty store.

use crate::store::{IssuedRecord, RegistrarRecords};
use handin_core::pki::PersonId;
use handin_core::rules::enrollment::CertStanding;
use std::time::{Duration, SystemTime};

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(s)
}

fn id(s: &str) -> PersonId {
    PersonId::parse(s).unwrap()
}

fn cert(serial: &str, issued: u64) -> IssuedRecord {
    IssuedRecord {
        serial_hex: serial.into(),
        not_before: at(issued),
        not_after: at(issued + 1_000),
        issued_at: at(issued),
        revoked_at: None,
    }
}

/// Puts `person` on the roster, records a certificate for them and spends their code.
fn enroll(records: &mut dyn RegistrarRecords, person: &PersonId, serial: &str, t: u64) {
    records.put_person(person, b"salt", b"hash", at(t)).unwrap();
    let mut tx = records.begin().unwrap();
    tx.record_certificate(person, &cert(serial, t)).unwrap();
    tx.mark_code_used(person, at(t)).unwrap();
    tx.commit().unwrap();
}

pub(super) fn a_person_is_found_only_as_the_kind_of_id_added(records: &mut dyn RegistrarRecords) {
    let (alice, lee) = (id("1155000001"), id("prof.lee"));
    assert!(!records.on_roster(&alice).unwrap());
    records.put_person(&alice, b"s1", b"h1", at(10)).unwrap();
    records.put_person(&lee, b"s2", b"h2", at(10)).unwrap();
    assert!(records.on_roster(&alice).unwrap() && records.on_roster(&lee).unwrap());
    assert!(!records.on_roster(&id("1155000002")).unwrap());
    let mut tx = records.begin().unwrap();
    let code = tx.code(&lee).unwrap().unwrap();
    assert_eq!(
        (code.salt, code.hash, code.used),
        (b"s2".to_vec(), b"h2".to_vec(), false)
    );
    assert_eq!(tx.code(&id("prof.kim")).unwrap(), None);
    tx.mark_code_used(&alice, at(11)).unwrap();
    tx.commit().unwrap();
    let mut tx = records.begin().unwrap();
    assert!(tx.code(&alice).unwrap().unwrap().used);
    drop(tx);
    // A new code replaces the old one and is unused.
    records.put_person(&alice, b"s3", b"h3", at(12)).unwrap();
    let mut tx = records.begin().unwrap();
    let code = tx.code(&alice).unwrap().unwrap();
    assert_eq!((code.salt, code.used), (b"s3".to_vec(), false));
}

pub(super) fn a_batch_records_certificates_and_spends_codes(records: &mut dyn RegistrarRecords) {
    let (alice, lee) = (id("1155000001"), id("prof.lee"));
    records.put_person(&alice, b"s", b"h", at(10)).unwrap();
    records.put_person(&lee, b"s", b"h", at(10)).unwrap();
    let mut tx = records.begin().unwrap();
    tx.record_certificate(&alice, &cert("0A", 100)).unwrap();
    tx.mark_code_used(&alice, at(100)).unwrap();
    tx.record_certificate(&lee, &cert("FF01", 100)).unwrap();
    // What the batch wrote so far is what it reads.
    assert!(tx.code(&alice).unwrap().unwrap().used);
    assert!(!tx.code(&lee).unwrap().unwrap().used);
    let standing = tx.certificate(&alice, "0A").unwrap();
    let expected = CertStanding {
        not_before: 100,
        not_after: 1_100,
        revoked: false,
    };
    assert_eq!(standing, Some(expected));
    // A certificate is found only for its holder.
    assert_eq!(tx.certificate(&lee, "0A").unwrap(), None);
    tx.commit().unwrap();
    // A renewal: a second certificate at the same time keeps the order recorded.
    let mut tx = records.begin().unwrap();
    tx.record_certificate(&alice, &cert("01", 100)).unwrap();
    tx.commit().unwrap();
    let serials: Vec<String> = records
        .issued(&alice)
        .unwrap()
        .into_iter()
        .map(|r| r.serial_hex)
        .collect();
    assert_eq!(serials, ["0A", "01"]);
    assert_eq!(records.issued(&lee).unwrap(), [cert("FF01", 100)]);
    let roster = records.roster().unwrap();
    assert_eq!(roster.len(), 2);
    assert_eq!(roster[0].person, alice);
    assert_eq!(roster[0].enrolled_at, Some(at(100)));
    assert_eq!((roster[0].certificates, roster[0].revoked), (2, 0));
    assert_eq!((roster[1].enrolled_at, roster[1].certificates), (None, 1));
}

pub(super) fn a_dropped_batch_records_nothing(records: &mut dyn RegistrarRecords) {
    let alice = id("1155000001");
    records.put_person(&alice, b"s", b"h", at(10)).unwrap();
    {
        let mut tx = records.begin().unwrap();
        tx.record_certificate(&alice, &cert("0A", 100)).unwrap();
        tx.mark_code_used(&alice, at(100)).unwrap();
    }
    assert!(records.issued(&alice).unwrap().is_empty());
    let mut tx = records.begin().unwrap();
    assert!(!tx.code(&alice).unwrap().unwrap().used);
    tx.mark_code_used(&alice, at(100)).unwrap();
    tx.commit().unwrap();
}

pub(super) fn a_code_is_spent_only_once(records: &mut dyn RegistrarRecords) {
    let alice = id("1155000001");
    records.put_person(&alice, b"s", b"h", at(10)).unwrap();
    {
        let mut tx = records.begin().unwrap();
        tx.mark_code_used(&alice, at(20)).unwrap();
        assert!(
            tx.mark_code_used(&alice, at(21)).is_err(),
            "twice in one batch"
        );
    }
    enroll(records, &id("1155000002"), "0B", 30);
    let mut tx = records.begin().unwrap();
    assert!(
        tx.mark_code_used(&id("1155000002"), at(40)).is_err(),
        "spent"
    );
    drop(tx);
    let mut tx = records.begin().unwrap();
    assert!(
        tx.mark_code_used(&id("1155000003"), at(40)).is_err(),
        "not on the roster"
    );
    drop(tx);
    let mut tx = records.begin().unwrap();
    // A staff login is not the student with the same spelling (there is none), nor another.
    assert!(tx.mark_code_used(&id("prof.lee"), at(40)).is_err());
    tx.mark_code_used(&alice, at(50)).unwrap();
    tx.commit().unwrap();
    assert_eq!(records.roster().unwrap()[0].enrolled_at, Some(at(50)));
}

pub(super) fn a_duplicate_serial_fails(records: &mut dyn RegistrarRecords) {
    enroll(records, &id("1155000001"), "0A", 10);
    records
        .put_person(&id("1155000002"), b"s", b"h", at(10))
        .unwrap();
    {
        let mut tx = records.begin().unwrap();
        tx.record_certificate(&id("1155000002"), &cert("0B", 20))
            .unwrap();
        let again = tx.record_certificate(&id("1155000002"), &cert("0A", 20));
        assert!(again.is_err(), "a serial is recorded once");
    }
    assert!(records.issued(&id("1155000002")).unwrap().is_empty());
    // A certificate for someone not on the roster is refused too.
    let mut tx = records.begin().unwrap();
    assert!(tx
        .record_certificate(&id("1155000009"), &cert("0C", 20))
        .is_err());
}

pub(super) fn revocation_marks_exactly_the_persons_certificates(
    records: &mut dyn RegistrarRecords,
) {
    let (alice, bob) = (id("1155000001"), id("1155000002"));
    assert_eq!(
        records
            .revoke_person(&alice, at(1), &mut |_, _| Ok(()))
            .unwrap(),
        None
    );
    enroll(records, &alice, "0A", 10);
    enroll(records, &bob, "0B", 10);
    let mut tx = records.begin().unwrap();
    tx.record_certificate(&alice, &cert("09", 20)).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        records
            .revoke_person(&bob, at(500), &mut |_, _| Ok(()))
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        records
            .revoke_person(&alice, at(300), &mut |_, _| Ok(()))
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        records
            .revoke_person(&alice, at(900), &mut |_, _| Ok(()))
            .unwrap(),
        Some(0)
    );
    let revoked: Vec<(Vec<u8>, SystemTime)> = records
        .revoked()
        .unwrap()
        .into_iter()
        .map(|r| (r.serial, r.revoked_at))
        .collect();
    // Oldest revocation first, then by serial.
    assert_eq!(
        revoked,
        [
            (vec![0x09], at(300)),
            (vec![0x0A], at(300)),
            (vec![0x0B], at(500))
        ]
    );
    assert_eq!(records.issued(&bob).unwrap()[0].revoked_at, Some(at(500)));
    let mut tx = records.begin().unwrap();
    assert!(tx.certificate(&alice, "0A").unwrap().unwrap().revoked);
}

pub(super) fn the_crl_number_increments_and_the_latest_crl_is_kept(
    records: &mut dyn RegistrarRecords,
) {
    assert_eq!(records.next_crl_number().unwrap(), 1);
    assert_eq!(records.next_crl_number().unwrap(), 2);
    assert_eq!(records.next_crl_number().unwrap(), 3);
    assert_eq!(records.latest_crl().unwrap(), None);
    records.put_crl(2, b"two").unwrap();
    assert_eq!(records.latest_crl().unwrap(), Some((2, b"two".to_vec())));
    // An older one does not replace it.
    records.put_crl(1, b"one").unwrap();
    assert_eq!(records.latest_crl().unwrap(), Some((2, b"two".to_vec())));
    records.put_crl(3, b"three").unwrap();
    records.put_crl(3, b"three, again").unwrap();
    assert_eq!(
        records.latest_crl().unwrap(),
        Some((3, b"three, again".to_vec()))
    );
    assert!(records.put_crl(u64::MAX, b"too big").is_err());
    assert_eq!(records.next_crl_number().unwrap(), 4);
}

pub(super) fn an_import_is_all_or_none_and_the_roster_is_sorted(
    records: &mut dyn RegistrarRecords,
) {
    records
        .put_person(&id("1155000002"), b"s", b"h", at(1))
        .unwrap();
    let row = |s: &str| (id(s), b"salt".to_vec(), b"hash".to_vec());
    let clash = [row("1155000003"), row("1155000002")];
    assert!(records.put_people(&clash, at(2)).is_err());
    assert!(!records.on_roster(&id("1155000003")).unwrap());
    let fine = [row("zed"), row("1155000003"), row("1155000001")];
    records.put_people(&fine, at(3)).unwrap();
    records.put_people(&[row("bob.k")], at(3)).unwrap();
    let ids: Vec<String> = records
        .roster()
        .unwrap()
        .into_iter()
        .map(|e| e.person.as_str().to_owned())
        .collect();
    // Students first, then staff, each sorted.
    assert_eq!(
        ids,
        ["1155000001", "1155000002", "1155000003", "bob.k", "zed"]
    );
    assert_eq!(records.roster().unwrap()[1].added_at, at(1));
}

pub(super) fn a_view_sees_only_committed_records(records: &mut dyn RegistrarRecords) {
    let alice = id("1155000001");
    records.put_person(&alice, b"s", b"h", at(10)).unwrap();
    let open_view = records
        .views()
        .expect("views of a store on disk or on a server");
    let mut view = open_view().unwrap();
    assert!(!view.code(&alice).unwrap().unwrap().used);
    {
        let mut tx = records.begin().unwrap();
        tx.record_certificate(&alice, &cert("0A", 10)).unwrap();
        tx.mark_code_used(&alice, at(10)).unwrap();
        // Not committed: the view does not see it, and does not wait for it.
        assert!(!view.code(&alice).unwrap().unwrap().used);
        assert_eq!(view.certificate(&alice, "0A").unwrap(), None);
        tx.commit().unwrap();
    }
    assert!(view.code(&alice).unwrap().unwrap().used);
    assert!(view.certificate(&alice, "0A").unwrap().is_some());
    let mut another = open_view().unwrap();
    assert!(another.code(&alice).unwrap().unwrap().used);
    assert_eq!(another.code(&id("prof.lee")).unwrap(), None);
}
