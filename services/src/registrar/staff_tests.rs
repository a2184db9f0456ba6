//! The registrar's tests for staff logins: enrollment, renewal and revocation by login, the kind
//! of ID kept with the roster, and the upgrade of a version 1 (students only) database.
use super::*;
use handin_core::harness::t0;
use handin_core::pki::{
    certificate_info, check_person_csr, new_person_key, Ca, StaffLogin, DEFAULT_STUDENT_LIFETIME,
};
use rusqlite::{Connection, OptionalExtension};
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

fn login(s: &str) -> PersonId {
    PersonId::Staff(StaffLogin::parse(s).unwrap())
}

fn student(s: &str) -> PersonId {
    PersonId::Student(StudentId::parse(s).unwrap())
}

/// A real signer for `id`: a fresh key, a CSR for `id`, checked, issued by the CA.
fn signer<'a>(
    ca: &'a Ca,
    id: &'a PersonId,
    now: SystemTime,
) -> impl FnOnce() -> Result<CertificateDer<'static>, PkiError> + 'a {
    move || {
        let key = new_person_key(id)?;
        let csr = check_person_csr(&key.csr_der, Some(id)).map_err(|e| PkiError(e.to_string()))?;
        ca.issue_person(&csr, now, LIFETIME)
    }
}

fn refusal<T: std::fmt::Debug>(r: Result<T, RegistrarError>) -> Refusal {
    match r {
        Err(RegistrarError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn staff_column(path: &Path, id: &str) -> Option<i64> {
    let conn = Connection::open(path).unwrap();
    conn.query_row("SELECT staff FROM roster WHERE person_id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
    .unwrap()
}

#[test]
fn a_staff_login_enrolls_with_its_code_and_the_certificate_names_the_login() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let lee = login("prof.lee");
    let code = reg.add_person(&lee, t0()).unwrap();
    assert!(reg.on_roster(&lee).unwrap());
    let cert = reg
        .redeem(&lee, &code.to_lowercase(), t0(), signer(&f.ca, &lee, t0()))
        .unwrap();
    let (who, info) = person_of(&cert).unwrap();
    assert_eq!(who, lee);
    assert!(info.subject.contains("CN=prof.lee"), "{}", info.subject);
    let issued = reg.issued(&lee).unwrap();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].serial_hex, serial_hex(&info.serial));
    // The roster says which IDs are staff logins.
    let alice = student("1155000001");
    reg.add_person(&alice, t0()).unwrap();
    assert_eq!(staff_column(&f.path, "prof.lee"), Some(1));
    assert_eq!(staff_column(&f.path, "1155000001"), Some(0));
    // The code is single use, for staff as for students.
    let r = refusal(reg.redeem(&lee, &code, t0(), signer(&f.ca, &lee, t0())));
    assert_eq!(r.code, RefusalCode::CodeUsed);
}

#[test]
fn an_unlisted_login_and_a_wrong_code_get_the_same_refusal() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let lee = login("prof.lee");
    let code = reg.add_person(&lee, t0()).unwrap();
    let stranger = login("prof.leee");
    let unknown = refusal(reg.redeem(&stranger, &code, t0(), signer(&f.ca, &stranger, t0())));
    let wrong = refusal(reg.redeem(&lee, "AAAA-BBBB-CCCC-DDDD", t0(), || {
        Err(PkiError("not reached".into()))
    }));
    assert_eq!(unknown, wrong);
    assert_eq!(
        (unknown.code, unknown.reason.as_str()),
        (RefusalCode::BadCode, WRONG_CODE)
    );
    assert!(!reg.on_roster(&stranger).unwrap(), "nothing was added");
    assert!(reg.issued(&stranger).unwrap().is_empty());
    assert!(reg.issued(&lee).unwrap().is_empty());
}

#[test]
fn a_certificate_for_another_login_or_a_student_is_never_recorded_for_a_login() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let lee = login("prof.lee");
    let code = reg.add_person(&lee, t0()).unwrap();
    for other in [login("prof.chan"), student("1155000001")] {
        let r = refusal(reg.redeem(&lee, &code, t0(), signer(&f.ca, &other, t0())));
        assert_eq!(r.code, RefusalCode::Internal);
        assert!(
            r.reason
                .contains(&format!("names {} {other}, not prof.lee", other.kind())),
            "{}",
            r.reason
        );
    }
    assert!(reg.issued(&lee).unwrap().is_empty());
    // The code was not spent by the failures.
    reg.redeem(&lee, &code, t0(), signer(&f.ca, &lee, t0()))
        .unwrap();
}

#[test]
fn a_staff_login_renews_and_is_revoked_like_a_student() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let lee = login("t-a.9");
    let code = reg.add_person(&lee, t0()).unwrap();
    let first = reg
        .redeem(&lee, &code, t0(), signer(&f.ca, &lee, t0()))
        .unwrap();
    let serial = certificate_info(&first).unwrap().serial;
    let later = t0() + Duration::from_secs(60);
    let second = reg
        .renew(&lee, &serial, later, signer(&f.ca, &lee, later))
        .unwrap();
    assert_eq!(person_of(&second).unwrap().0, lee);
    assert_eq!(reg.issued(&lee).unwrap().len(), 2);

    assert_eq!(reg.revoke_person(&lee, later).unwrap(), 2);
    let revoked: Vec<String> = reg
        .revoked()
        .unwrap()
        .iter()
        .map(|r| serial_hex(&r.serial))
        .collect();
    assert!(revoked.contains(&serial_hex(&serial)), "{revoked:?}");
    let r = refusal(reg.renew(&lee, &serial, later, signer(&f.ca, &lee, later)));
    assert_eq!(r.code, RefusalCode::Revoked);

    // A renewal names the kind of ID when there is no such certificate.
    let r = refusal(reg.renew(&lee, &[0x42; 16], later, signer(&f.ca, &lee, later)));
    assert_eq!(r.code, RefusalCode::NotAuthenticated);
    assert!(r.reason.contains("for staff login t-a.9;"), "{}", r.reason);
}

#[test]
fn revoking_an_unlisted_login_says_how_to_list_it() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    match reg.revoke_person(&login("nobody"), t0()) {
        Err(e @ RegistrarError::NotOnRoster(_)) => assert_eq!(
            e.to_string(),
            "staff login nobody is not on the roster; add them first with `cuhk roster add \
             --staff`"
        ),
        other => panic!("expected NotOnRoster, got {other:?}"),
    }
    match reg.revoke_person(&student("1155000009"), t0()) {
        Err(e @ RegistrarError::NotOnRoster(_)) => assert_eq!(
            e.to_string(),
            "student 1155000009 is not on the roster; add them first with `cuhk roster add`"
        ),
        other => panic!("expected NotOnRoster, got {other:?}"),
    }
}

#[test]
fn a_row_is_found_only_as_the_kind_of_id_it_was_added_as() {
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let lee = login("prof.lee");
    let code = reg.add_person(&lee, t0()).unwrap();
    drop(reg);
    // A damaged (or hand-edited) file says the login is a student's row.
    Connection::open(&f.path)
        .unwrap()
        .execute(
            "UPDATE roster SET staff = 0 WHERE person_id = 'prof.lee'",
            [],
        )
        .unwrap();
    let mut reg = Registrar::create(&f.path).unwrap();
    assert!(!reg.on_roster(&lee).unwrap());
    let r = refusal(reg.redeem(&lee, &code, t0(), signer(&f.ca, &lee, t0())));
    assert_eq!(r.code, RefusalCode::BadCode);
    // A new code does not quietly turn the row into a staff row either.
    match reg.add_person(&lee, t0()) {
        Err(e @ RegistrarError::BadDatabase(_)) => {
            assert!(e.to_string().contains("another kind of ID"), "{e}")
        }
        other => panic!("expected BadDatabase, got {other:?}"),
    }
    assert!(reg.issued(&lee).unwrap().is_empty());
    // The column accepts nothing but 0 and 1.
    let bad = Connection::open(&f.path).unwrap().execute(
        "UPDATE roster SET staff = 2 WHERE person_id = 'prof.lee'",
        [],
    );
    assert!(bad.is_err());
}

/// The schema of version 1, as databases made before staff logins have it.
const V1_SCHEMA: &str = "
CREATE TABLE roster (
    student_id      TEXT PRIMARY KEY NOT NULL,
    added_at        INTEGER NOT NULL,
    code_salt       BLOB NOT NULL,
    code_hash       BLOB NOT NULL,
    code_used_at    INTEGER,
    failures        INTEGER NOT NULL DEFAULT 0,
    last_failure_at INTEGER
) STRICT;
CREATE TABLE certificates (
    serial     TEXT PRIMARY KEY NOT NULL,
    student_id TEXT NOT NULL REFERENCES roster(student_id),
    not_before INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    issued_at  INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX certificates_by_student ON certificates(student_id);
CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) STRICT;
PRAGMA user_version = 1;
";

#[test]
fn a_version_1_database_is_upgraded_and_keeps_its_students_and_certificates() {
    let f = fixture();
    let alice = student("1155000001");
    // A version 1 database with a student who enrolled and one who did not yet.
    let (code_b, cert) = {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch.db");
        let mut reg = Registrar::create(&scratch).unwrap();
        let code_a = reg.add_person(&alice, t0()).unwrap();
        let cert = reg
            .redeem(&alice, &code_a, t0(), signer(&f.ca, &alice, t0()))
            .unwrap();
        let code_b = reg.add_person(&student("1155000002"), t0()).unwrap();
        drop(reg);
        let old = Connection::open(&f.path).unwrap();
        old.execute_batch(V1_SCHEMA).unwrap();
        old.execute(&format!("ATTACH '{}' AS new", scratch.display()), [])
            .unwrap();
        old.execute_batch(
            "INSERT INTO roster SELECT person_id, added_at, code_salt, code_hash, code_used_at,
                 failures, last_failure_at FROM new.roster;
             INSERT INTO certificates SELECT * FROM new.certificates;
             INSERT INTO counters SELECT * FROM new.counters;",
        )
        .unwrap();
        drop(old);
        (code_b, cert)
    };

    let mut reg = Registrar::create(&f.path).unwrap();
    let conn = Connection::open(&f.path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    let index: String = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'certificates'
             AND sql IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(index, "certificates_by_person");
    assert_eq!(staff_column(&f.path, "1155000001"), Some(0));

    // The enrolled student's records, renewal and revocation work as before.
    assert!(reg.on_roster(&alice).unwrap());
    let serial = certificate_info(&cert).unwrap().serial;
    assert_eq!(reg.issued(&alice).unwrap().len(), 1);
    reg.renew(&alice, &serial, t0(), signer(&f.ca, &alice, t0()))
        .unwrap();
    // The other student's code still works.
    let bob = student("1155000002");
    reg.redeem(&bob, &code_b, t0(), signer(&f.ca, &bob, t0()))
        .unwrap();
    // Staff can be added now.
    let lee = login("prof.lee");
    let code = reg.add_person(&lee, t0()).unwrap();
    reg.redeem(&lee, &code, t0(), signer(&f.ca, &lee, t0()))
        .unwrap();
    assert_eq!(reg.revoke_person(&alice, t0()).unwrap(), 2);
    drop(reg);
    // And it reopens as it is.
    let reg = Registrar::create(&f.path).unwrap();
    assert!(reg.on_roster(&lee).unwrap());
    assert_eq!(reg.revoked().unwrap().len(), 2);
}

#[test]
fn every_certificate_and_revocation_is_logged_with_its_records() {
    use handin_core::logs::{LogEntry, Revocation};
    use handin_core::tlog::{root, Checkpoint};
    let f = fixture();
    let mut reg = Registrar::create(&f.path).unwrap();
    let lee = login("t-a.9");
    let code = reg.add_person(&lee, t0()).unwrap();
    let first = reg
        .redeem(&lee, &code, t0(), signer(&f.ca, &lee, t0()))
        .unwrap();
    // A refused application logs nothing.
    assert!(reg
        .redeem(&lee, &code, t0(), signer(&f.ca, &lee, t0()))
        .is_err());
    assert_eq!(reg.records().log_head().unwrap().unwrap().size, 1);
    let later = t0() + Duration::from_secs(60);
    assert_eq!(reg.revoke_person(&lee, later).unwrap(), 1);
    let entries = reg.records().log_entries(0, 10).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        LogEntry::decode(&entries[0]).unwrap(),
        LogEntry::Certificate(first.to_vec())
    );
    let serial = serial_hex(&certificate_info(&first).unwrap().serial);
    assert_eq!(
        LogEntry::decode(&entries[1]).unwrap(),
        LogEntry::Revocation(Revocation {
            person: "t-a.9".into(),
            serial_hex: serial,
            revoked_at: unix_secs(later),
        })
    );
    // Revoking again revokes nothing and logs nothing.
    assert_eq!(reg.revoke_person(&lee, later).unwrap(), 0);
    let head = reg.records().log_head().unwrap().unwrap();
    assert_eq!(head.size, 2);
    let writer = reg.log().clone();
    let cp = Checkpoint::open(
        head.checkpoint.as_bytes(),
        writer.origin(),
        &[writer.verifier()],
    )
    .unwrap();
    assert_eq!(cp.root, root(&entries));
    // Read from another thread, as the server serves it.
    let reader = reg.log_reader().unwrap();
    let seen = std::thread::spawn(move || reader.log_entries(0, 2).unwrap().len())
        .join()
        .unwrap();
    assert_eq!(seen, 2);
}
