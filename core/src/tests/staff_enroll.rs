//! Staff logins at enrollment, on the in-memory harness: a teacher enrolls and renews with a
//! login, the certificate names the login, and hostile or mismatched IDs are refused.

use super::t0;
use crate::enroll::{EnrollClientEvent, EnrollServerEvent};
use crate::error::{Error, RefusalCode};
use crate::harness::{Campus, StudentKey};
use crate::msg::Message;
use crate::pki::{person_of, PersonId, UNIVERSITY};
use crate::Role;
use bytes::{Bytes, BytesMut};
use rustls::{AlertDescription, CertificateError};
use x509_parser::prelude::FromDer;

const TEACHER: &str = "prof.lee";
const ALICE: &str = "1155000001";

fn enroll_code(campus: &mut Campus, id: &str, code: &str, csr: &[u8]) -> Result<(), String> {
    let mut pair = campus.enroll_pair(None);
    campus.enroll(&mut pair, id, code, csr).map(|_| ())
}

#[test]
fn a_teacher_enrolls_with_a_login_and_the_certificate_names_it() {
    let mut campus = Campus::new(t0());
    let code = campus.add_student(TEACHER);
    let key = StudentKey::new(TEACHER);
    let mut pair = campus.enroll_pair(None);
    let chain = campus
        .enroll(&mut pair, TEACHER, &code, &key.csr_der)
        .expect("a listed login enrolls");
    let (who, info) = person_of(&chain[0]).expect("a personal certificate");
    assert_eq!(who, PersonId::parse(TEACHER).expect("a login"));
    assert_eq!(
        info.subject,
        format!("CN={TEACHER}, O={UNIVERSITY}"),
        "CN = the login, O = the university"
    );
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&chain[0]).expect("DER");
    let eku = cert
        .extended_key_usage()
        .expect("parses")
        .expect("present")
        .value;
    assert!(eku.client_auth && !eku.server_auth && !eku.any);
    assert!(!cert.is_ca());
    // The code is single use for staff too.
    let err = enroll_code(&mut campus, TEACHER, &code, &key.csr_der).unwrap_err();
    assert!(err.contains("CodeUsed"), "{err}");
}

#[test]
fn a_ta_enrolls_with_a_student_id_as_any_student() {
    let mut campus = Campus::new(t0());
    let ta = campus.new_student(ALICE);
    let (who, _) = person_of(&ta.chain[0]).expect("a personal certificate");
    assert_eq!(who.student().map(|s| s.as_str()), Some(ALICE));
}

#[test]
fn an_unlisted_login_gets_the_same_refusal_as_a_wrong_code() {
    let mut campus = Campus::new(t0());
    let code = campus.add_student(TEACHER);
    let stranger = StudentKey::new("prof.chan");
    let unlisted = enroll_code(&mut campus, "prof.chan", &code, &stranger.csr_der).unwrap_err();
    let key = StudentKey::new(TEACHER);
    let wrong = enroll_code(&mut campus, TEACHER, "not-the-code", &key.csr_der).unwrap_err();
    assert_eq!(unlisted, wrong);
    assert!(unlisted.contains("BadCode"), "{unlisted}");
}

#[test]
fn a_csr_must_name_the_very_id_that_enrolls() {
    let mut campus = Campus::new(t0());
    let code = campus.add_student(TEACHER);
    for other in ["prof.chan", "prof.le", "prof.lee0", ALICE] {
        let key = StudentKey::new(other);
        let err = enroll_code(&mut campus, TEACHER, &code, &key.csr_der).unwrap_err();
        assert!(err.contains("CsrIdMismatch"), "{other}: {err}");
    }
    // A student's enrollment with a login CSR is refused the same way.
    let alice_code = campus.add_student(ALICE);
    let key = StudentKey::new(TEACHER);
    let err = enroll_code(&mut campus, ALICE, &alice_code, &key.csr_der).unwrap_err();
    assert!(
        err.contains("CsrIdMismatch")
            && err.contains(
                "the CSR is for staff login prof.lee, but you are enrolling as 1155000001"
            ),
        "{err}"
    );
    // CNs that are no ID at all, whatever the enrolling ID.
    for cn in [
        "Prof.Lee",
        "prof.lee ",
        " prof.lee",
        "prof/lee",
        "prof\u{0}lee",
        "pr\u{200b}of",
    ] {
        let key = StudentKey::new(cn);
        let err = enroll_code(&mut campus, TEACHER, &code, &key.csr_der).unwrap_err();
        assert!(err.contains("CsrInvalid"), "{cn:?}: {err}");
    }
    // None of it spent the code.
    let key = StudentKey::new(TEACHER);
    enroll_code(&mut campus, TEACHER, &code, &key.csr_der).expect("the code still works");
}

#[test]
fn hostile_ids_on_the_wire_are_refused_and_never_reach_the_registrar() {
    let mut campus = Campus::new(t0());
    let key = StudentKey::new(TEACHER);
    let long = format!("p{}", "a".repeat(32));
    let huge = "a".repeat(60_000);
    for id in [
        "",
        "p",
        "Prof.Lee",
        "prof_lee",
        "prof lee",
        "prof/lee",
        "../../etc/passwd",
        "prof.lee\0",
        "prof.lee\n",
        "pr\u{200b}of",
        "\u{ff50}rof.lee",
        "lee\u{1b}[2J",
        "-lee",
        "115500000",
        "11550000011",
        "1155000001a",
        long.as_str(),
        huge.as_str(),
    ] {
        let mut pair = campus.enroll_pair(None);
        campus.connect_enroll(&mut pair).expect("connects");
        let mut frame = BytesMut::new();
        Message::Enroll {
            student_id: id.to_owned(),
            code: "code".into(),
            csr: Bytes::from(key.csr_der.clone()),
        }
        .encode(&mut frame)
        .expect("encodes");
        pair.client.danger_send_raw(&frame);
        // Driven without the registrar: a request that got through would stay unanswered.
        pair.drive();
        let mut rejected = None;
        while let Some(ev) = pair.server.poll_event() {
            match ev {
                EnrollServerEvent::Rejected { person, refusal } => {
                    assert_eq!(person, None, "{id:?}");
                    rejected = Some(refusal);
                }
                EnrollServerEvent::EnrollRequested { person, .. } => {
                    panic!("{id:?} reached the registrar as {person}")
                }
                _ => {}
            }
        }
        let refusal = rejected.unwrap_or_else(|| panic!("{id:?} was not refused"));
        assert_eq!(refusal.code, RefusalCode::BadRequest, "{id:?}");
        assert!(refusal.reason.contains("staff login"), "{}", refusal.reason);
    }
}

#[test]
fn a_teacher_renews_with_the_current_certificate_for_the_same_login_only() {
    let mut campus = Campus::new(t0());
    let teacher = campus.new_student(TEACHER);
    let mut pair = campus.enroll_pair(Some(teacher));
    campus.connect_enroll(&mut pair).expect("connects");
    assert_eq!(
        pair.server.person(),
        Some(&PersonId::parse(TEACHER).expect("a login"))
    );
    assert_eq!(pair.server.student(), None, "a login is not a student");

    let fresh = StudentKey::new(TEACHER);
    pair.client.renew(&fresh.csr_der).expect("renew");
    campus.pump_enroll(&mut pair);
    let chain = match pair.client.poll_event() {
        Some(EnrollClientEvent::Issued { chain }) => chain,
        other => panic!("{other:?}"),
    };
    let (who, _) = person_of(&chain[0]).expect("a personal certificate");
    assert_eq!(who.as_str(), TEACHER);

    for other in ["prof.chan", ALICE] {
        let key = StudentKey::new(other);
        pair.client.renew(&key.csr_der).expect("renew");
        campus.pump_enroll(&mut pair);
        match pair.client.poll_event() {
            Some(EnrollClientEvent::Refused(r)) => assert_eq!(r.code, RefusalCode::CsrIdMismatch),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_revoked_teacher_is_refused_at_the_handshake() {
    let mut campus = Campus::new(t0());
    let teacher = campus.new_student(TEACHER);
    campus.revoke(TEACHER);
    let mut pair = campus.enroll_pair(Some(teacher));
    assert!(campus.connect_enroll(&mut pair).is_err());
    assert!(matches!(
        pair.server.error(),
        Some(Error::Tls(rustls::Error::InvalidCertificate(
            CertificateError::Revoked
        )))
    ));
    assert!(matches!(
        pair.client.error(),
        Some(Error::Tls(rustls::Error::AlertReceived(
            AlertDescription::CertificateRevoked
        )))
    ));
}

#[test]
fn a_teacher_cannot_use_the_student_submission_protocol() {
    let mut campus = Campus::new(t0());
    let teacher = campus.new_student(TEACHER);
    let cfg = campus.client_config(Role::Submit, Some(teacher));
    let mut pair = campus.submit_pair_with(&cfg);
    assert!(campus.connect_submit(&mut pair).is_err());
    match pair.server.error() {
        Some(Error::Refused(r)) => {
            assert_eq!(r.code, RefusalCode::BadCertificate);
            assert!(r.reason.contains("staff login prof.lee"), "{}", r.reason);
        }
        other => panic!("{other:?}"),
    }
    assert!(campus.board.stored.is_empty());
}
