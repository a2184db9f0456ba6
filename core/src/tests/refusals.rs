//! Every refusal the issue lists, each on the in-memory harness.

use super::t0;
use crate::error::{Error, RefusalCode};
use crate::frame::MAX_PAYLOAD;
use crate::harness::{Campus, Pair, StudentKey};
use crate::msg::{tag, UploadOffer};
use crate::submit::{sha256, SubmitClientEvent};
use crate::{Role, SubmitClient, SubmitServer};
use rustls::{AlertDescription, CertificateError};
use std::time::Duration;

const ALICE: &str = "1155000001";
const BOB: &str = "1155000002";

fn enroll_code(campus: &mut Campus, id: &str, code: &str, csr: &[u8]) -> Result<(), String> {
    let mut pair = campus.enroll_pair(None);
    campus.enroll(&mut pair, id, code, csr).map(|_| ())
}

#[test]
fn a_wrong_code_is_refused_and_a_used_code_cannot_be_reused() {
    let mut campus = Campus::new(t0());
    let code = campus.add_student(ALICE);
    let key = StudentKey::new(ALICE);
    let err = enroll_code(&mut campus, ALICE, "not-the-code", &key.csr_der).unwrap_err();
    assert!(err.contains("BadCode"), "{err}");
    enroll_code(&mut campus, ALICE, &code, &key.csr_der).expect("right code enrolls");
    let err = enroll_code(&mut campus, ALICE, &code, &key.csr_der).unwrap_err();
    assert!(err.contains("CodeUsed"), "{err}");
}

#[test]
fn a_student_not_on_the_roster_is_refused() {
    let mut campus = Campus::new(t0());
    let key = StudentKey::new(BOB);
    let err = enroll_code(&mut campus, BOB, "anything", &key.csr_der).unwrap_err();
    // The same refusal as a wrong code: the answer does not tell who is on the roster.
    assert!(err.contains("BadCode"), "{err}");
}

#[test]
fn a_csr_whose_signature_does_not_verify_is_refused() {
    let mut campus = Campus::new(t0());
    let code = campus.add_student(ALICE);
    let mut key = StudentKey::new(ALICE);
    let n = key.csr_der.len();
    key.csr_der[n - 3] ^= 0x55;
    let err = enroll_code(&mut campus, ALICE, &code, &key.csr_der).unwrap_err();
    assert!(err.contains("CsrInvalid"), "{err}");
    // The code was not spent on a refused CSR.
    let good = StudentKey::new(ALICE);
    enroll_code(&mut campus, ALICE, &code, &good.csr_der).expect("code still valid");
}

#[test]
fn a_csr_for_another_students_id_is_refused() {
    let mut campus = Campus::new(t0());
    let code = campus.add_student(ALICE);
    let key = StudentKey::new(BOB);
    let err = enroll_code(&mut campus, ALICE, &code, &key.csr_der).unwrap_err();
    assert!(err.contains("CsrIdMismatch"), "{err}");
}

#[test]
fn a_key_outside_the_policy_is_refused_as_weak() {
    let mut campus = Campus::new(t0());
    let code = campus.add_student(ALICE);
    let key = StudentKey::with_alg(ALICE, &rcgen::PKCS_ED25519);
    let err = enroll_code(&mut campus, ALICE, &code, &key.csr_der).unwrap_err();
    assert!(err.contains("WeakKey"), "{err}");
    let p384 = StudentKey::with_alg(ALICE, &rcgen::PKCS_ECDSA_P384_SHA384);
    enroll_code(&mut campus, ALICE, &code, &p384.csr_der).expect("P-384 is allowed");
}

#[test]
fn a_certificate_from_another_ca_is_refused_at_the_handshake() {
    let mut campus = Campus::new(t0());
    let mut elsewhere = Campus::new(t0());
    let foreign = elsewhere.new_student(ALICE);
    let mut pair = campus.submit_pair(Some(foreign));
    let err = campus.connect_submit(&mut pair).unwrap_err();
    assert!(err.contains("not connected"), "{err}");
    // The foreign CA has the same name as ours: found by name, its signature fails.
    assert!(
        matches!(
            pair.server.error(),
            Some(Error::Tls(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature
            )))
        ),
        "{:?}",
        pair.server.error()
    );
    assert!(pair.client.error().is_some());
    assert!(campus.board.stored.is_empty());
}

#[test]
fn an_expired_certificate_is_refused_once_the_clock_passes_its_end() {
    let mut campus = Campus::new(t0());
    campus.registrar.lifetime = Duration::from_secs(24 * 3600);
    let alice = campus.new_student(ALICE);
    let cfg = campus.client_config(Role::Submit, Some(alice));
    let mut pair = campus.submit_pair_with(&cfg);
    campus.connect_submit(&mut pair).expect("valid today");

    campus.now += Duration::from_secs(2 * 24 * 3600);
    let mut pair = campus.submit_pair_with(&cfg);
    assert!(campus.connect_submit(&mut pair).is_err());
    let server_err = pair.server.error().cloned();
    // Either refused in the handshake, or (if the session resumed) by the post-handshake check.
    match server_err {
        Some(Error::Tls(rustls::Error::InvalidCertificate(CertificateError::Expired)))
        | Some(Error::Tls(rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            ..
        }))) => {}
        Some(Error::Refused(r)) if r.code == RefusalCode::Expired => {}
        other => panic!("unexpected server error {other:?}"),
    }
}

#[test]
fn a_revoked_certificate_is_refused_at_the_handshake() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    campus.revoke(ALICE);
    let mut pair = campus.submit_pair(Some(alice));
    assert!(campus.connect_submit(&mut pair).is_err());
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
fn a_revoked_student_resuming_a_session_is_still_refused() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let cfg = campus.client_config(Role::Submit, Some(alice));
    let mut first = campus.submit_pair_with(&cfg);
    campus.connect_submit(&mut first).expect("connects");
    // Let the session tickets reach the client.
    first.drive();

    campus.revoke(ALICE);
    let mut pair = campus.submit_pair_with(&cfg);
    assert!(campus.connect_submit(&mut pair).is_err());
    assert!(
        pair.server.handshake_info().resumed,
        "the second connection must resume for this test to mean anything"
    );
    match pair.server.error() {
        Some(Error::Refused(r)) => assert_eq!(r.code, RefusalCode::Revoked),
        other => panic!("unexpected server error {other:?}"),
    }
    match pair.client.error() {
        Some(Error::Remote(r)) => {
            assert_eq!(r.code, RefusalCode::Revoked);
            assert!(r.reason.contains("revoked"), "{}", r.reason);
        }
        other => panic!("unexpected client error {other:?}"),
    }
}

#[test]
fn the_client_reports_no_success_before_the_welcome() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    campus.revoke(ALICE);
    let mut pair = campus.submit_pair(Some(alice));
    pair.drive();
    // The client's TLS handshake finished, but the server refused it: no Connected event.
    let mut events = Vec::new();
    while let Some(e) = pair.client.poll_event() {
        events.push(e);
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, SubmitClientEvent::Connected { .. })),
        "{events:?}"
    );
    assert!(pair.client.error().is_some());
}

#[test]
fn a_connection_without_a_client_certificate_is_refused_by_blackboard() {
    let mut campus = Campus::new(t0());
    let mut pair = campus.submit_pair(None);
    assert!(campus.connect_submit(&mut pair).is_err());
    assert!(matches!(
        pair.server.error(),
        Some(Error::Tls(rustls::Error::NoCertificatesPresented))
    ));
}

#[test]
fn a_server_certificate_cannot_be_used_as_a_student_identity() {
    let mut campus = Campus::new(t0());
    let bb_cert = campus.blackboard_cert.cert.clone();
    let identity = crate::config::Identity::from_pem(
        campus.blackboard_cert.cert_pem.as_bytes(),
        campus.blackboard_cert.key_pem.as_bytes(),
    )
    .expect("identity");
    let mut pair = campus.submit_pair(Some(identity));
    assert!(campus.connect_submit(&mut pair).is_err());
    assert!(
        matches!(
            pair.server.error(),
            Some(Error::Tls(rustls::Error::InvalidCertificate(_)))
        ),
        "{:?}",
        pair.server.error()
    );
    // And the core's own profile check refuses it too, independently of TLS.
    assert!(crate::pki::student_id_of(&bb_cert).is_err());
}

#[test]
fn a_student_certificate_cannot_be_used_as_a_server() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let cfg = crate::ServerConfig::new(
        Role::Submit,
        campus.ca.cert().clone(),
        alice.clone(),
        crate::pki::Revocations::empty(),
    )
    .expect("rustls accepts any key pair here; the client must refuse it");
    campus.blackboard = std::sync::Arc::new(cfg);
    let bob = campus.new_student(BOB);
    let mut pair = campus.submit_pair(Some(bob));
    assert!(campus.connect_submit(&mut pair).is_err());
    assert!(
        matches!(
            pair.client.error(),
            Some(Error::Tls(rustls::Error::InvalidCertificate(_)))
        ),
        "{:?}",
        pair.client.error()
    );
}

fn connected(
    campus: &mut Campus,
) -> crate::harness::Pair<crate::SubmitClient, crate::SubmitServer> {
    let alice = campus.new_student(ALICE);
    let mut pair = campus.submit_pair(Some(alice));
    campus.connect_submit(&mut pair).expect("connected");
    pair
}

fn assert_protocol_error(
    pair: &crate::harness::Pair<crate::SubmitClient, crate::SubmitServer>,
    needle: &str,
) {
    match pair.server.error() {
        Some(Error::Protocol(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected a protocol error containing {needle:?}, got {other:?}"),
    }
    // The client was told why before the connection closed.
    match pair.client.error() {
        Some(Error::Remote(r)) => {
            assert_eq!(r.code, RefusalCode::BadRequest);
            assert!(r.reason.contains(needle), "{}", r.reason);
        }
        other => panic!("expected the server's Error frame, got {other:?}"),
    }
    assert!(pair.server.is_closed());
}

#[test]
fn an_oversized_frame_is_refused_before_its_payload() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    let len = (MAX_PAYLOAD as u32 + 1).to_be_bytes();
    pair.client
        .danger_send_raw(&[tag::LIST, len[0], len[1], len[2], len[3]]);
    pair.drive();
    assert_protocol_error(&pair, "exceeds the limit");
}

#[test]
fn a_frame_cut_short_by_the_end_of_the_stream_is_refused() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    pair.client
        .danger_send_raw(&[tag::FETCH, 0, 0, 0, 10, 0, 3]);
    pair.client.close();
    pair.drive();
    match pair.server.error() {
        Some(Error::Protocol(m)) => assert!(m.contains("stream ended inside a frame"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unknown_message_type_is_refused() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    pair.client.danger_send_raw(&[0x7f, 0, 0, 0, 0]);
    pair.drive();
    assert_protocol_error(&pair, "unknown message type 0x7f");
}

#[test]
fn a_message_in_the_wrong_state_is_refused() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    // Upload bytes without an accepted offer.
    pair.client.danger_send_raw(&[tag::DATA, 0, 0, 0, 1, b'x']);
    pair.drive();
    assert_protocol_error(&pair, "Data is not expected while idle");
}

#[test]
fn a_server_message_sent_by_a_client_is_refused() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    pair.client.danger_send_raw(&[tag::READY, 0, 0, 0, 0]);
    pair.drive();
    assert_protocol_error(&pair, "Ready is not expected");
}

#[test]
fn file_names_with_paths_nul_or_control_characters_are_refused() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    for name in [
        "a/b.pdf",
        "../etc/passwd",
        "..",
        "a\0b",
        "line\nbreak",
        "tab\there",
        "bell\u{7}",
    ] {
        let r = campus
            .submit(&mut pair, "CSCI3180", "hw1", name, b"data")
            .expect_err(name);
        assert_eq!(r.code, RefusalCode::BadFileName, "{name:?}: {}", r.reason);
    }
    assert!(campus.board.stored.is_empty());
    // The connection is still good.
    campus
        .submit(&mut pair, "CSCI3180", "hw1", "fine.txt", b"data")
        .expect("a good name still works");
}

#[test]
fn a_declared_size_or_hash_that_does_not_match_the_bytes_is_refused_and_nothing_stored() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    let data = b"the real bytes".to_vec();
    let offer = |size: u64, sha: [u8; 32]| UploadOffer {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "a.txt".into(),
        size,
        sha256: sha,
    };
    let r = campus
        .submit_offer(
            &mut pair,
            offer(data.len() as u64 + 5, sha256(&data)),
            &data,
        )
        .unwrap_err();
    assert_eq!(r.code, RefusalCode::SizeMismatch, "{}", r.reason);
    let r = campus
        .submit_offer(
            &mut pair,
            offer(data.len() as u64 - 5, sha256(&data)),
            &data,
        )
        .unwrap_err();
    assert_eq!(r.code, RefusalCode::SizeMismatch);
    let r = campus
        .submit_offer(&mut pair, offer(data.len() as u64, sha256(b"other")), &data)
        .unwrap_err();
    assert_eq!(r.code, RefusalCode::HashMismatch);
    assert!(campus.board.stored.is_empty());
    campus
        .submit(&mut pair, "CSCI3180", "hw1", "a.txt", &data)
        .expect("an honest upload on the same connection works");
    assert_eq!(campus.board.stored.len(), 1);
}

#[test]
fn a_student_cannot_list_or_fetch_another_students_submission() {
    let mut campus = Campus::new(t0());
    let mut alice = connected(&mut campus);
    let (_, receipt) = campus
        .submit(&mut alice, "CSCI3180", "hw1", "alice.txt", b"alice's work")
        .expect("stored");
    let bob_id = campus.new_student(BOB);
    let mut bob = campus.submit_pair(Some(bob_id));
    campus.connect_submit(&mut bob).expect("bob connects");
    assert!(campus.list(&mut bob, None).expect("list").is_empty());
    let r = campus.fetch(&mut bob, &receipt.id).unwrap_err();
    assert_eq!(r.code, RefusalCode::NotFound);
    // Alice still can.
    let (_, bytes) = campus
        .fetch(&mut alice, &receipt.id)
        .expect("alice fetches");
    assert_eq!(bytes, b"alice's work");
}

#[test]
fn unknown_assignments_and_oversized_files_are_refused() {
    let mut campus = Campus::new(t0());
    campus.board.add_assignment("CSCI3180", "tiny", u64::MAX, 4);
    let mut pair = connected(&mut campus);
    let r = campus
        .submit(&mut pair, "CSCI3180", "hw9", "a.txt", b"x")
        .unwrap_err();
    assert_eq!(r.code, RefusalCode::NoSuchAssignment);
    let r = campus
        .submit(&mut pair, "CSCI3180", "tiny", "a.txt", b"too big")
        .unwrap_err();
    assert_eq!(r.code, RefusalCode::TooLarge);
    let r = campus
        .submit(&mut pair, "../x", "hw1", "a.txt", b"x")
        .unwrap_err();
    assert_eq!(r.code, RefusalCode::NoSuchAssignment);
}

#[test]
fn a_students_storage_is_bounded_by_the_same_rule_as_on_blackboard() {
    let mut campus = Campus::new(t0());
    campus.board.quota = crate::rules::quota::Quota {
        max_submissions: 2,
        max_bytes: 1 << 20,
    };
    let mut pair = connected(&mut campus);
    for n in 1..=2u32 {
        let (_, body) = campus
            .submit(&mut pair, "CSCI3180", "hw1", "a.txt", b"again")
            .expect("within the bound");
        assert_eq!(body.version, n);
    }
    let r = campus
        .submit(&mut pair, "CSCI3180", "hw1", "b.txt", b"one more")
        .unwrap_err();
    assert_eq!(r.code, RefusalCode::Quota);
    assert!(r.reason.contains("2 submissions"), "{}", r.reason);
    assert_eq!(campus.board.stored.len(), 2);
}

#[test]
fn a_peer_that_never_finishes_the_handshake_is_closed_at_its_deadline() {
    let campus = Campus::new(t0());
    let mut pair = campus.submit_pair(None);
    // The client's hello never reaches the server.
    let mut hello = Vec::new();
    pair.client.poll_transmit(&mut hello);
    let deadline = pair.server.poll_timeout().expect("a handshake deadline");
    assert_eq!(deadline, t0().mono + campus.timeouts.handshake);
    pair.advance(campus.timeouts.handshake);
    assert!(matches!(pair.server.error(), Some(Error::Timeout(_))));
    assert!(pair.server.is_closed());
}

/// A connected submission pair whose client waits far longer than the server before it calls
/// the connection idle, so the server's idle deadline is the one that fires.
fn patient_pair(campus: &mut Campus) -> Pair<SubmitClient, SubmitServer> {
    let alice = campus.new_student(ALICE);
    let patient = crate::Timeouts {
        idle: campus.timeouts.idle * 100,
        ..campus.timeouts
    };
    let cfg = campus
        .client_config(Role::Submit, Some(alice))
        .with_timeouts(patient);
    let mut pair = campus.submit_pair_with(&cfg);
    campus.connect_submit(&mut pair).expect("connected");
    pair
}

#[test]
fn an_idle_connection_is_closed_and_told_why() {
    let mut campus = Campus::new(t0());
    let mut pair = patient_pair(&mut campus);
    let deadline = pair.server.poll_timeout().expect("an idle deadline");
    assert_eq!(deadline, t0().mono + campus.timeouts.idle);
    pair.advance(campus.timeouts.idle - Duration::from_secs(1));
    assert!(pair.server.error().is_none());
    pair.advance(Duration::from_secs(1));
    assert!(matches!(pair.server.error(), Some(Error::Timeout(_))));
    pair.drive();
    match pair.client.error() {
        Some(Error::Remote(r)) => assert_eq!(r.code, RefusalCode::Timeout),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_idle_deadline_pauses_while_the_application_decides() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    pair.client.list(None).expect("list");
    pair.drive();
    // The server has a ListRequested event nobody answered yet: no idle deadline runs (only
    // the certificate's end remains).
    assert_eq!(
        pair.server.poll_timeout(),
        certificate_end(&pair.server, t0())
    );
    pair.advance(Duration::from_secs(3600));
    assert!(pair.server.error().is_none());
}

#[test]
fn the_idle_deadline_does_not_run_while_the_server_holds_the_input() {
    let mut campus = Campus::new(t0());
    let mut pair = patient_pair(&mut campus);
    // Blackboard's disk is behind: it stops reading, so the student's bytes wait in TCP.
    pair.server.hold_input(pair.now, true);
    assert_eq!(
        pair.server.poll_timeout(),
        certificate_end(&pair.server, t0())
    );
    pair.advance(campus.timeouts.idle * 5);
    assert!(pair.server.error().is_none(), "held input is not idleness");
    // Reading again: the idle deadline runs again, from now.
    pair.server.hold_input(pair.now, false);
    let deadline = pair.server.poll_timeout().expect("an idle deadline again");
    assert_eq!(deadline, pair.now.mono + campus.timeouts.idle);
    pair.advance(campus.timeouts.idle - Duration::from_secs(1));
    assert!(pair.server.error().is_none());
    pair.advance(Duration::from_secs(1));
    assert!(matches!(pair.server.error(), Some(Error::Timeout(_))));
}

#[test]
fn a_refusal_in_the_middle_of_an_upload_leaves_the_connection_usable() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    let data = vec![7u8; 50_000];
    pair.client
        .submit(UploadOffer {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            file_name: "big.bin".into(),
            size: data.len() as u64,
            sha256: sha256(&data),
        })
        .expect("offer");
    pair.drive();
    let ev = pair.server.poll_event();
    assert!(
        matches!(ev, Some(crate::SubmitServerEvent::UploadRequested(_))),
        "{ev:?}"
    );
    pair.server.accept_upload().expect("accept");
    pair.drive();
    assert!(matches!(
        pair.client.poll_event(),
        Some(SubmitClientEvent::UploadReady)
    ));
    pair.client.send_data(&data[..20_000]).expect("send");
    pair.drive();
    // The disk filled up: the application refuses mid-upload.
    pair.server
        .refuse(crate::Refusal::new(RefusalCode::Storage, "disk full"))
        .expect("refuse");
    let mut aborted = false;
    while let Some(ev) = pair.server.poll_event() {
        aborted |= matches!(ev, crate::SubmitServerEvent::UploadAborted { .. });
    }
    assert!(aborted);
    pair.drive();
    match pair.client.poll_event() {
        Some(SubmitClientEvent::Refused(r)) => assert_eq!(r.code, RefusalCode::Storage),
        other => panic!("{other:?}"),
    }
    assert!(pair.server.error().is_none() && pair.client.error().is_none());
    campus
        .submit(&mut pair, "CSCI3180", "hw1", "small.txt", b"ok")
        .expect("next upload works");
}

#[test]
fn renewal_needs_the_current_certificate_and_issues_a_new_one() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let fresh = StudentKey::new(ALICE);

    let mut anon = campus.enroll_pair(None);
    campus.connect_enroll(&mut anon).expect("connects");
    anon.client.renew(&fresh.csr_der).expect("renew");
    campus.pump_enroll(&mut anon);
    match anon.client.poll_event() {
        Some(crate::EnrollClientEvent::Refused(r)) => {
            assert_eq!(r.code, RefusalCode::NotAuthenticated)
        }
        other => panic!("{other:?}"),
    }

    let mut pair = campus.enroll_pair(Some(alice));
    campus
        .connect_enroll(&mut pair)
        .expect("connects with the certificate");
    assert_eq!(pair.server.student().map(|s| s.as_str()), Some(ALICE));
    pair.client.renew(&fresh.csr_der).expect("renew");
    campus.pump_enroll(&mut pair);
    let chain = match pair.client.poll_event() {
        Some(crate::EnrollClientEvent::Issued { chain }) => chain,
        other => panic!("{other:?}"),
    };
    let (id, _) = crate::pki::student_id_of(&chain[0]).expect("student cert");
    assert_eq!(id.as_str(), ALICE);

    // A renewal CSR naming another student is refused.
    let mallory = StudentKey::new(BOB);
    pair.client.renew(&mallory.csr_der).expect("renew");
    campus.pump_enroll(&mut pair);
    match pair.client.poll_event() {
        Some(crate::EnrollClientEvent::Refused(r)) => {
            assert_eq!(r.code, RefusalCode::CsrIdMismatch)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_crl_can_be_downloaded_and_lists_revoked_serials() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    campus.revoke(ALICE);
    let mut pair = campus.enroll_pair(None);
    campus.connect_enroll(&mut pair).expect("connects");
    pair.client.request_crl().expect("crl");
    campus.pump_enroll(&mut pair);
    let crl = match pair.client.poll_event() {
        Some(crate::EnrollClientEvent::Crl(c)) => c,
        other => panic!("{other:?}"),
    };
    let revs = crate::pki::Revocations::from_crl(&crl, campus.ca.cert()).expect("valid CRL");
    let info = crate::pki::certificate_info(&alice.chain[0]).expect("info");
    assert!(revs.is_revoked(&info.serial));
}

#[test]
fn a_huge_name_is_refused_without_crashing_the_server() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    let course = "\u{1}".repeat(30_000);
    let r = campus
        .submit(&mut pair, &course, "hw1", "a.txt", b"x")
        .unwrap_err();
    assert_eq!(r.code, RefusalCode::NoSuchAssignment);
    assert!(r.reason.len() <= crate::msg::MAX_REASON);
    assert!(pair.server.error().is_none());
}

#[test]
fn a_client_error_frame_closes_the_server_side_without_a_reply() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    let mut frame = bytes::BytesMut::new();
    crate::msg::Message::Error(crate::Refusal::new(RefusalCode::Internal, "client gave up"))
        .encode(&mut frame)
        .expect("encodes");
    pair.client.danger_send_raw(&frame);
    pair.drive();
    match pair.server.error() {
        Some(Error::Remote(r)) => assert_eq!(r.reason, "client gave up"),
        other => panic!("{other:?}"),
    }
    // The client got close_notify, not an Error frame about its Error frame.
    assert!(!matches!(pair.client.error(), Some(Error::Remote(_))));
}

#[test]
fn an_upload_slower_than_the_idle_timeout_survives_while_bytes_flow() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    let data = vec![1u8; 10 * 16_384];
    pair.client
        .submit(UploadOffer {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            file_name: "slow.bin".into(),
            size: data.len() as u64,
            sha256: sha256(&data),
        })
        .expect("offer");
    campus.pump_submit(&mut pair);
    assert!(matches!(
        pair.client.poll_event(),
        Some(SubmitClientEvent::UploadReady)
    ));
    let step = campus.timeouts.idle * 3 / 4;
    for piece in data.chunks(16_384) {
        pair.advance(step);
        pair.client.send_data(piece).expect("send");
        pair.drive();
    }
    assert!(pair.client.error().is_none(), "{:?}", pair.client.error());
    assert!(pair.server.error().is_none(), "{:?}", pair.server.error());
}

#[test]
fn bytes_after_close_notify_are_ignored_and_a_closed_client_takes_no_requests() {
    // Found by fuzzing (submit_ops): a client closed, then sent a request anyway; the server,
    // which had seen close_notify, looped forever on bytes rustls would no longer take.
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    pair.client.close();
    pair.drive();
    assert!(pair.client.is_closed() && pair.server.is_closed());
    let offer = UploadOffer {
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: "a.txt".into(),
        size: 0,
        sha256: sha256(&[]),
    };
    assert!(pair.client.submit(offer).is_err());
    // Even a peer that writes after its close_notify cannot wedge the server.
    pair.client
        .danger_send_raw(&[crate::msg::tag::LIST, 0, 0, 0, 1, 0]);
    pair.drive();
    let mut stray = Vec::new();
    pair.client.poll_transmit(&mut stray);
    let _ = pair.server.receive(pair.now, &stray);
    let _ = pair
        .server
        .receive(pair.now, &[0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5]);
    assert!(pair.server.is_closed());
}

/// The notAfter of the student's certificate, on the monotonic clock of a connection
/// authenticated at `at`: the one deadline that runs whatever else pauses.
fn certificate_end(server: &SubmitServer, at: crate::Now) -> Option<std::time::Instant> {
    server
        .certificate()
        .map(|c| at.mono + c.not_after.duration_since(at.wall).unwrap_or_default())
}
