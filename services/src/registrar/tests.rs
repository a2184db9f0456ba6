//! The registrar's tests: codes, batches, renewals, revocations, the database's failures.
use super::*;
use crate::store::sqlite::registrar::decode_hex;
use codes::CODE_ALPHABET;
use handin_core::harness::t0;
use handin_core::pki::{
    certificate_info, check_csr, new_student_key, student_id_of, Ca, Revocations,
    DEFAULT_STUDENT_LIFETIME,
};
use rusqlite::Connection;
use std::cell::Cell;
use std::path::PathBuf;
use tempfile::TempDir;

const LIFETIME: Duration = Duration::from_secs(3600);

struct Fixture {
    _dir: TempDir,
    path: PathBuf,
    ca: Ca,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cuhk.db");
    let ca = Ca::generate("CUHK Test Root", t0(), DEFAULT_STUDENT_LIFETIME * 10).unwrap();
    Fixture {
        _dir: dir,
        path,
        ca,
    }
}

fn sid(s: &str) -> StudentId {
    StudentId::parse(s).unwrap()
}

fn mins(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

/// A real signer: a fresh key, a CSR, checked, issued by the CA.
fn signer<'a>(
    ca: &'a Ca,
    id: &'a StudentId,
    now: SystemTime,
) -> impl FnOnce() -> Result<CertificateDer<'static>, PkiError> + 'a {
    move || {
        let key = new_student_key(id)?;
        let csr = check_csr(&key.csr_der, Some(id)).map_err(|e| PkiError(e.to_string()))?;
        ca.issue_student(&csr, now, LIFETIME)
    }
}

fn failing_signer() -> Result<CertificateDer<'static>, PkiError> {
    Err(PkiError("the CA key is unavailable".into()))
}

fn refusal<T: std::fmt::Debug>(r: Result<T, RegistrarError>) -> Refusal {
    match r {
        Err(RegistrarError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn failures(path: &Path, id: &StudentId) -> u32 {
    let conn = Connection::open(path).unwrap();
    conn.query_row(
        "SELECT failures FROM roster WHERE person_id = ?1",
        [id.as_str()],
        |r| r.get(0),
    )
    .unwrap()
}

fn serial_of(cert: &CertificateDer<'_>) -> Vec<u8> {
    certificate_info(cert).unwrap().serial
}

/// Enrolls `id` at `now` and returns the certificate.
fn enroll(reg: &mut Registrar, ca: &Ca, id: &StudentId, now: SystemTime) -> Vec<u8> {
    let code = reg.add_student(id, now).unwrap();
    let cert = reg.redeem(id, &code, now, signer(ca, id, now)).unwrap();
    cert.to_vec()
}

#[test]
fn code_has_the_documented_shape_and_loose_typing_redeems_it() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let id = sid("1155000001");
    let code = reg.add_student(&id, t0()).unwrap();
    let groups: Vec<&str> = code.split('-').collect();
    assert_eq!(groups.len(), 4, "{code}");
    for g in &groups {
        assert_eq!(g.len(), 4, "{code}");
        assert!(g.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
    }
    assert!(!code.contains(['0', 'O', '1', 'I', 'L']), "{code}");
    assert_ne!(code, reg.add_student(&sid("1155000002"), t0()).unwrap());

    let loose = format!(" {} ", code.to_lowercase().replace('-', " "));
    let cert = reg
        .redeem(&id, &loose, t0(), signer(&f.ca, &id, t0()))
        .unwrap();
    let (cert_id, info) = student_id_of(&cert).unwrap();
    assert_eq!(cert_id, id);
    let issued = reg.issued(&id).unwrap();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].serial_hex, serial_hex(&info.serial));
    assert_eq!(issued[0].not_after, info.not_after);
    assert_eq!(issued[0].issued_at, t0());
    assert_eq!(issued[0].revoked_at, None);
}

#[test]
fn code_is_stored_only_as_a_salted_hash() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let id = sid("1155000001");
    let code = reg.add_student(&id, t0()).unwrap();
    let other = reg.add_student(&sid("1155000002"), t0()).unwrap();
    drop(reg);

    let mut raw = std::fs::read(&f.path).unwrap();
    let wal = f.path.with_file_name("cuhk.db-wal");
    if let Ok(bytes) = std::fs::read(wal) {
        raw.extend(bytes);
    }
    for c in [&code, &other] {
        for form in [c.clone(), normalize_code(c)] {
            let found = raw.windows(form.len()).any(|w| w == form.as_bytes());
            assert!(!found, "the code {form} is in the database file");
        }
    }

    let conn = Connection::open(&f.path).unwrap();
    let mut stmt = conn
        .prepare("SELECT person_id, code_salt, code_hash FROM roster ORDER BY person_id")
        .unwrap();
    let rows: Vec<(String, Vec<u8>, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].1.len(), SALT_LEN);
    assert_ne!(rows[0].1, rows[1].1, "salts must be random");
    assert_eq!(rows[0].2, code_hash(&rows[0].1, &normalize_code(&code)));
}

#[test]
fn wrong_codes_never_lock_the_student_out_or_spend_the_code() {
    let f = fixture();
    let id = sid("1155000001");
    let code = Registrar::create(&f.path)
        .unwrap()
        .add_student(&id, t0())
        .unwrap();
    // Someone who knows the ID sends a hundred wrong codes for it, reopening as they go:
    // ten at once, then one an hour.
    let mut at = t0();
    for n in 0..100 {
        if n >= 10 {
            at += mins(60);
        }
        let mut reg = Registrar::create(&f.path).unwrap();
        let r = refusal(reg.redeem(&id, &format!("WRONG-{n}"), at, failing_signer));
        assert_eq!(r.code, RefusalCode::BadCode, "{r:?}");
        assert_eq!(r.reason, WRONG_CODE);
    }
    // Nothing was written, and the student enrolls at once with the right code.
    assert_eq!(failures(&f.path, &id), 0);
    let mut reg = Registrar::create(&f.path).unwrap();
    let cert = reg.redeem(&id, &code, at, signer(&f.ca, &id, at));
    assert!(cert.is_ok(), "{cert:?}");
}

#[test]
fn a_new_code_replaces_the_old_one() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let id = sid("1155000001");
    let old = reg.add_student(&id, t0()).unwrap();
    let fresh = reg.add_student(&id, t0()).unwrap();
    assert_ne!(old, fresh);
    let r = refusal(reg.redeem(&id, &old, t0(), failing_signer));
    assert_eq!(
        (r.code, r.reason.as_str()),
        (RefusalCode::BadCode, WRONG_CODE)
    );
    assert!(reg
        .redeem(&id, &fresh, t0(), signer(&f.ca, &id, t0()))
        .is_ok());
}

#[test]
fn a_used_code_is_refused_without_signing() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let id = sid("1155000001");
    let code = reg.add_student(&id, t0()).unwrap();
    reg.redeem(&id, &code, t0(), signer(&f.ca, &id, t0()))
        .unwrap();
    let called = Cell::new(false);
    let r = refusal(reg.redeem(&id, &code, t0(), || {
        called.set(true);
        failing_signer()
    }));
    assert_eq!(r.code, RefusalCode::CodeUsed);
    assert!(!called.get());
    assert_eq!(reg.issued(&id).unwrap().len(), 1);
    // Only whoever holds the code learns that it was used: a wrong one is just wrong.
    let r = refusal(reg.redeem(&id, "AAAA-AAAA-AAAA-AAAA", t0(), failing_signer));
    assert_eq!(
        (r.code, r.reason.as_str()),
        (RefusalCode::BadCode, WRONG_CODE)
    );
    drop(reg);
    let mut reg = Registrar::create(&f.path).unwrap();
    let r = refusal(reg.redeem(&id, &code, t0(), signer(&f.ca, &id, t0())));
    assert_eq!(r.code, RefusalCode::CodeUsed);
}

#[test]
fn an_unknown_student_gets_the_same_refusal_as_a_wrong_code() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let known = sid("1155000001");
    let stranger = sid("1155999999");
    let code = reg.add_student(&known, t0()).unwrap();
    assert!(reg.on_roster(&known).unwrap());
    assert!(!reg.on_roster(&stranger).unwrap());
    let unknown = refusal(reg.redeem(&stranger, &code, t0(), signer(&f.ca, &stranger, t0())));
    let wrong = refusal(reg.redeem(&known, "AAAA-BBBB-CCCC-DDDD", t0(), failing_signer));
    assert_eq!(unknown, wrong);
    assert_eq!(unknown.code, RefusalCode::BadCode);
    assert!(!unknown.reason.contains("1155999999"), "{unknown:?}");
    assert!(reg.issued(&stranger).unwrap().is_empty());
    assert!(!reg.on_roster(&stranger).unwrap(), "nothing was added");
}

#[test]
fn a_signing_failure_leaves_the_code_unused() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let id = sid("1155000001");
    let code = reg.add_student(&id, t0()).unwrap();
    let r = refusal(reg.redeem(&id, &code, t0(), failing_signer));
    assert_eq!(r.code, RefusalCode::Internal);
    // A certificate for somebody else is not recorded either.
    let other = sid("1155000002");
    let r = refusal(reg.redeem(&id, &code, t0(), signer(&f.ca, &other, t0())));
    assert_eq!(r.code, RefusalCode::Internal);
    assert!(r.reason.contains("1155000002"), "{r:?}");
    assert!(reg.issued(&id).unwrap().is_empty());
    assert!(reg.issued(&other).unwrap().is_empty());
    assert_eq!(failures(&f.path, &id), 0);
    assert!(reg
        .redeem(&id, &code, t0(), signer(&f.ca, &id, t0()))
        .is_ok());
}

#[test]
fn revoking_a_student_lists_exactly_their_serials() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let a = sid("1155000001");
    let b = sid("1155000002");
    let a1 = enroll(&mut reg, &f.ca, &a, t0());
    let later = t0() + mins(10);
    let a2 = reg.renew(
        &a,
        &serial_of(&CertificateDer::from(a1.clone())),
        later,
        signer(&f.ca, &a, later),
    );
    let a2 = a2.unwrap().to_vec();
    let b1 = enroll(&mut reg, &f.ca, &b, t0());
    assert!(reg.revoked().unwrap().is_empty());

    let at = t0() + mins(20);
    assert_eq!(reg.revoke_student(&a, at).unwrap(), 2);
    let revoked = reg.revoked().unwrap();
    let mut got: Vec<Vec<u8>> = revoked.iter().map(|r| r.serial.clone()).collect();
    let mut want = vec![
        serial_of(&CertificateDer::from(a1)),
        serial_of(&CertificateDer::from(a2)),
    ];
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(revoked.iter().all(|r| r.revoked_at == at));
    assert!(reg
        .issued(&a)
        .unwrap()
        .iter()
        .all(|r| r.revoked_at == Some(at)));
    assert!(reg
        .issued(&b)
        .unwrap()
        .iter()
        .all(|r| r.revoked_at.is_none()));

    // Again: nothing new, and the first revocation time stands.
    assert_eq!(reg.revoke_student(&a, at + mins(1)).unwrap(), 0);
    assert_eq!(reg.revoked().unwrap(), revoked);
    match reg.revoke_student(&sid("1155999999"), at) {
        Err(e @ RegistrarError::NotOnRoster(_)) => {
            assert!(e.to_string().contains("1155999999"), "{e}")
        }
        other => panic!("expected NotOnRoster, got {other:?}"),
    }

    // The CA's CRL built from these records revokes A's certificates and not B's.
    let number = reg.next_crl_number().unwrap();
    let crl = f.ca.crl(&revoked, number, at, mins(60)).unwrap();
    let set = Revocations::from_crl(&crl, f.ca.cert()).unwrap();
    assert_eq!(set.len(), 2);
    for s in &want {
        assert!(set.is_revoked(s));
    }
    assert!(!set.is_revoked(&serial_of(&CertificateDer::from(b1))));
}

fn enrolling(id: &StudentId, code: &str) -> Application {
    Application {
        person: id.into(),
        request: Request::Enroll { code: code.into() },
        now: t0(),
        signed: None,
    }
}

fn student_of(application: &Application) -> &StudentId {
    application
        .person
        .student()
        .expect("a student's application")
}

fn codes_of(outcomes: &[Result<Issued, Refusal>]) -> Vec<Option<RefusalCode>> {
    outcomes
        .iter()
        .map(|o| o.as_ref().err().map(|r| r.code))
        .collect()
}

#[test]
fn a_batch_decides_each_application_on_its_own_in_one_transaction() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let ids: Vec<StudentId> = (1..=8).map(|i| sid(&format!("11550000{i:02}"))).collect();
    let codes: Vec<String> = ids
        .iter()
        .map(|id| reg.add_student(id, t0()).unwrap())
        .collect();
    // Before the batch: the 6th enrolled (code used), the 7th had many wrong codes sent for
    // its ID, the 8th holds a certificate to renew.
    reg.redeem(&ids[5], &codes[5], t0(), signer(&f.ca, &ids[5], t0()))
        .unwrap();
    for _ in 0..20 {
        refusal(reg.redeem(&ids[6], "wrong", t0(), failing_signer));
    }
    let held = enroll(&mut reg, &f.ca, &ids[7], t0());
    let stranger = sid("1155999999");

    let presigned = |id: &StudentId| signer(&f.ca, id, t0())().unwrap();
    let mut applications = vec![
        enrolling(&ids[0], &codes[0]), // 0: issued, signed by the decision
        enrolling(&ids[1], "AAAA-BBBB-CCCC-DDDD"), // 1: wrong code
        enrolling(&ids[2], &codes[2]), // 2: issued, signed beforehand
        enrolling(&ids[0], &codes[0]), // 3: the same code again
        enrolling(&stranger, &codes[3]), // 4: not on the roster
        enrolling(&ids[5], &codes[5]), // 5: used before the batch
        enrolling(&ids[6], &codes[6]), // 6: issued despite the wrong codes
        Application {
            request: Request::Renew {
                serial: serial_of(&CertificateDer::from(held.clone())),
            },
            ..enrolling(&ids[7], "")
        }, // 7: renewed
        enrolling(&ids[3], &codes[3]), // 8: issued
        enrolling(&ids[4], &codes[4]), // 9: signed beforehand for somebody else
    ];
    applications[2].signed = Some(presigned(&ids[2]));
    applications[9].signed = Some(presigned(&ids[3]));
    let presigned_serial = serial_of(applications[2].signed.as_ref().unwrap());

    let asked = std::cell::RefCell::new(Vec::new());
    let outcomes = reg
        .decide(&applications, |i| {
            asked.borrow_mut().push(i);
            signer(&f.ca, student_of(&applications[i]), t0())()
        })
        .unwrap();
    use RefusalCode::*;
    assert_eq!(
        codes_of(&outcomes),
        vec![
            None,
            Some(BadCode),
            None,
            Some(CodeUsed),
            Some(BadCode),
            Some(CodeUsed),
            None,
            None,
            None,
            Some(Internal)
        ]
    );
    // Only what was accepted and not signed beforehand was signed.
    assert_eq!(*asked.borrow(), vec![0, 6, 7, 8]);
    drop(reg);

    // Every decision is on disk, read back through a new connection.
    let mut reg = Registrar::create(&f.path).unwrap();
    for (i, id) in [(0, &ids[0]), (2, &ids[2]), (8, &ids[3])] {
        let issued = reg.issued(id).unwrap();
        assert_eq!(issued.len(), 1, "{id}");
        let got = outcomes[i].as_ref().unwrap();
        assert_eq!(issued[0], got.record);
        assert_eq!(issued[0].serial_hex, serial_hex(&serial_of(&got.cert)));
    }
    assert_eq!(
        reg.issued(&ids[2]).unwrap()[0].serial_hex,
        serial_hex(&presigned_serial)
    );
    assert_eq!(reg.issued(&ids[7]).unwrap().len(), 2);
    // Wrong codes write nothing.
    assert_eq!(failures(&f.path, &ids[1]), 0);
    assert!(reg.issued(&ids[1]).unwrap().is_empty());
    assert_eq!(failures(&f.path, &ids[6]), 0);
    assert_eq!(reg.issued(&ids[6]).unwrap().len(), 1);
    assert!(reg.issued(&ids[4]).unwrap().is_empty());
    assert!(reg.issued(&stranger).unwrap().is_empty());
    // The refused ones still hold unused codes.
    for i in [1, 4] {
        assert!(reg
            .redeem(&ids[i], &codes[i], t0(), signer(&f.ca, &ids[i], t0()))
            .is_ok());
    }
    let r = refusal(reg.redeem(&ids[0], &codes[0], t0(), failing_signer));
    assert_eq!(r.code, CodeUsed);
}

#[test]
fn a_database_failure_refuses_the_whole_batch_and_records_nothing() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let ids: Vec<StudentId> = (0..200).map(|i| sid(&format!("1156{i:06}"))).collect();
    let codes: Vec<String> = ids
        .iter()
        .map(|id| reg.add_student(id, t0()).unwrap())
        .collect();
    // The disk is full: the file may not grow by a single page.
    drop(reg);
    let records = SqliteRegistrar::open(&f.path).unwrap();
    let pages: i64 = records
        .connection()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    records
        .connection()
        .pragma_update(None, "max_page_count", pages)
        .unwrap();
    let mut reg = Registrar::with_records(Box::new(records));

    let mut applications: Vec<Application> = ids
        .iter()
        .zip(&codes)
        .map(|(id, code)| enrolling(id, code))
        .collect();
    applications[0] = enrolling(&ids[0], "wrong");
    let result = reg.decide(&applications, |i| {
        signer(&f.ca, student_of(&applications[i]), t0())()
    });
    match result {
        Err(e @ RegistrarError::Database { .. }) => {
            let text = e.to_string();
            assert!(text.contains("rolled back"), "{text}");
            assert!(text.contains("full"), "{text}");
            assert_eq!(e.refusal().code, RefusalCode::Internal);
        }
        other => panic!("expected a database error, got {other:?}"),
    }
    drop(reg);

    let mut reg = Registrar::create(&f.path).unwrap();
    for id in &ids {
        assert!(reg.issued(id).unwrap().is_empty(), "{id}");
    }
    // Nothing was written, and every code still works.
    assert_eq!(failures(&f.path, &ids[0]), 0);
    let outcomes = reg
        .decide(&applications[1..], |i| {
            signer(&f.ca, student_of(&applications[i + 1]), t0())()
        })
        .unwrap();
    assert!(outcomes.iter().all(Result::is_ok));
    assert_eq!(reg.issued(&ids[199]).unwrap().len(), 1);
}

#[test]
fn a_reader_advises_from_committed_records_without_writing() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let (a, b) = (sid("1155000001"), sid("1155000002"));
    let code_a = reg.add_student(&a, t0()).unwrap();
    let code_b = reg.add_student(&b, t0()).unwrap();
    let mut reader = RegistrarReader::open(&f.path).unwrap();
    assert!(reader.would_accept(&enrolling(&a, &code_a)).unwrap());
    assert!(!reader.would_accept(&enrolling(&a, "wrong")).unwrap());
    assert!(!reader
        .would_accept(&enrolling(&sid("1155999999"), &code_a))
        .unwrap());
    assert_eq!(failures(&f.path, &a), 0, "advice writes nothing");
    // It sees what the writer committed since.
    reg.redeem(&b, &code_b, t0(), signer(&f.ca, &b, t0()))
        .unwrap();
    assert!(!reader.would_accept(&enrolling(&b, &code_b)).unwrap());
}

#[test]
fn the_crl_number_increments_and_persists() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    assert_eq!(reg.next_crl_number().unwrap(), 1);
    assert_eq!(reg.next_crl_number().unwrap(), 2);
    drop(reg);
    let mut reg = Registrar::create(&f.path).unwrap();
    assert_eq!(reg.next_crl_number().unwrap(), 3);
}

#[test]
fn renewal_needs_a_current_valid_certificate_of_the_same_student() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let a = sid("1155000001");
    let b = sid("1155000002");
    let a1 = serial_of(&CertificateDer::from(enroll(&mut reg, &f.ca, &a, t0())));
    let b1 = serial_of(&CertificateDer::from(enroll(&mut reg, &f.ca, &b, t0())));
    let now = t0() + mins(30);

    // Another student's serial, or one CUHK never issued.
    let r = refusal(reg.renew(&a, &b1, now, signer(&f.ca, &a, now)));
    assert_eq!(r.code, RefusalCode::NotAuthenticated);
    let r = refusal(reg.renew(&a, &[0x42; 16], now, signer(&f.ca, &a, now)));
    assert_eq!(r.code, RefusalCode::NotAuthenticated);
    // A signing failure records nothing.
    let r = refusal(reg.renew(&a, &a1, now, failing_signer));
    assert_eq!(r.code, RefusalCode::Internal);
    assert_eq!(reg.issued(&a).unwrap().len(), 1);
    // Expired (the certificate lives an hour).
    let late = t0() + LIFETIME + Duration::from_secs(1);
    let r = refusal(reg.renew(&a, &a1, late, signer(&f.ca, &a, late)));
    assert_eq!(r.code, RefusalCode::Expired);

    // Valid: a new certificate is recorded; a leading zero byte in the serial is fine.
    let mut padded = vec![0u8];
    padded.extend(&a1);
    let cert = reg.renew(&a, &padded, now, signer(&f.ca, &a, now)).unwrap();
    let a2 = serial_of(&cert);
    assert_ne!(a2, a1);
    let issued = reg.issued(&a).unwrap();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[1].serial_hex, serial_hex(&a2));
    assert_eq!(issued[1].issued_at, now);

    // Revoked.
    reg.revoke_student(&a, now).unwrap();
    let r = refusal(reg.renew(&a, &a2, now, signer(&f.ca, &a, now)));
    assert_eq!(r.code, RefusalCode::Revoked);
    assert_eq!(reg.issued(&a).unwrap().len(), 2);
}

#[test]
fn a_stored_serial_is_read_back_from_hex_of_either_case() {
    assert_eq!(decode_hex("0ABCDE").unwrap(), [0x0a, 0xbc, 0xde]);
    assert_eq!(decode_hex("0abcde").unwrap(), [0x0a, 0xbc, 0xde]);
    assert_eq!(
        decode_hex(&serial_hex(&[0x7f, 0x01])).unwrap(),
        [0x7f, 0x01]
    );
    for bad in ["ABC", "0G", "é0"] {
        match decode_hex(bad) {
            Err(e) => assert_eq!(
                RegistrarError::from(e).to_string(),
                format!(
                    "registrar database: the serial {bad:?} is not hex; restore it from a \
                     backup or use a newer handin"
                )
            ),
            other => panic!("{bad:?}: expected BadDatabase, got {other:?}"),
        }
    }
}

#[test]
fn a_newer_schema_is_refused_and_an_existing_one_reopens() {
    let f = fixture();
    let id = sid("1155000001");
    Registrar::create(&f.path)
        .unwrap()
        .add_student(&id, t0())
        .unwrap();
    let reg = Registrar::create(&f.path).unwrap();
    assert!(reg.on_roster(&id).unwrap());
    drop(reg);
    Connection::open(&f.path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    match Registrar::create(&f.path) {
        Err(e @ RegistrarError::BadDatabase(_)) => assert!(e.to_string().contains("99")),
        other => panic!("expected BadDatabase, got {other:?}"),
    }
}

#[test]
fn opening_a_missing_database_is_refused_and_creates_nothing() {
    let f = fixture();
    match Registrar::open(&f.path) {
        Err(e @ RegistrarError::Missing(_)) => {
            assert!(e.to_string().contains("`cuhk init` makes one"), "{e}")
        }
        other => panic!("expected Missing, got {other:?}"),
    }
    assert!(!f.path.exists());
    drop(Registrar::create(&f.path).unwrap());
    assert!(Registrar::open(&f.path).is_ok());
}
