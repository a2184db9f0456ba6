//! Bootstrapping the CUHK root from its fingerprint, on the in-memory harness: the root comes
//! out of the enrollment handshake only when the server presents it and its own certificate
//! verifies against it for the name dialled.

use super::t0;
use crate::bootstrap::Found;
use crate::config::{server_name, Identity};
use crate::error::Error;
use crate::harness::{Campus, Pair, StudentKey};
use crate::pki::{to_pem, Ca, Fingerprint, Revocations, ServerName};
use crate::{ClientConfig, EnrollClient, EnrollServer, Role, ServerConfig};
use std::sync::Arc;
use std::time::Duration;

const ALICE: &str = "1155000001";

fn bootstrap(campus: &Campus, pin: Fingerprint) -> (ClientConfig, crate::bootstrap::Bootstrap) {
    let (cfg, boot) = ClientConfig::bootstrap(Role::Enroll, pin, None).expect("a config");
    (cfg.with_timeouts(campus.timeouts), boot)
}

fn assert_certificate_refused(pair: &Pair<EnrollClient, EnrollServer>) {
    assert!(
        matches!(
            pair.client.error(),
            Some(Error::Tls(rustls::Error::InvalidCertificate(_)))
        ),
        "{:?}",
        pair.client.error()
    );
}

#[test]
fn the_roots_fingerprint_yields_the_root_and_an_enrollment() {
    let mut campus = Campus::new(t0());
    let root = campus.ca.cert().clone();
    let (cfg, boot) = bootstrap(&campus, Fingerprint::of(&root));
    assert_eq!(boot.found(), Found::Nothing);
    let code = campus.add_student(ALICE);
    let key = StudentKey::new(ALICE);
    let mut pair = campus.enroll_pair_with(&cfg);
    let chain = campus
        .enroll(&mut pair, ALICE, &code, &key.csr_der)
        .expect("enrolls over the bootstrapped connection");
    assert_eq!(boot.root(), Some(root.clone()));
    // The root it found is the one every later connection trusts.
    let alice = key.identity(chain);
    let later = ClientConfig::new(Role::Submit, boot.root().expect("root"), Some(alice))
        .expect("config")
        .with_timeouts(campus.timeouts);
    let mut submit = campus.submit_pair_with(&later);
    campus.connect_submit(&mut submit).expect("Blackboard");
}

#[test]
fn a_wrong_fingerprint_is_refused_and_yields_nothing() {
    let mut campus = Campus::new(t0());
    let root = campus.ca.cert().clone();
    let other = Ca::generate("Another Root", t0().wall, Duration::from_secs(3600)).expect("CA");
    let (cfg, boot) = bootstrap(&campus, Fingerprint::of(other.cert()));
    let mut pair = campus.enroll_pair_with(&cfg);
    assert!(campus.connect_enroll(&mut pair).is_err());
    assert_certificate_refused(&pair);
    assert_eq!(boot.root(), None);
    // It says what the server did present: its own certificate, then the root.
    match boot.found() {
        Found::Mismatch(presented) => {
            assert_eq!(presented.len(), 2, "{presented:?}");
            assert_eq!(presented[1], Fingerprint::of(&root));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_servers_own_fingerprint_is_not_a_root() {
    let mut campus = Campus::new(t0());
    let cuhk = campus.cuhk.certificate().clone();
    let (cfg, boot) = bootstrap(&campus, Fingerprint::of(&cuhk));
    let mut pair = campus.enroll_pair_with(&cfg);
    assert!(campus.connect_enroll(&mut pair).is_err());
    assert_certificate_refused(&pair);
    assert_eq!(boot.root(), None);
}

#[test]
fn the_pinned_root_does_not_vouch_for_a_server_it_did_not_certify() {
    // An impostor presents the real root beside a certificate from its own CA.
    let mut campus = Campus::new(t0());
    let root = campus.ca.cert().clone();
    let evil = Ca::generate("CUHK Root CA", t0().wall, Duration::from_secs(3600)).expect("CA");
    let names = [ServerName::Dns("localhost".into())];
    let leaf = evil
        .issue_server("CUHK", &names, t0().wall, Duration::from_secs(3600))
        .expect("server certificate");
    let identity = Identity::from_pem(
        format!("{}{}", leaf.cert_pem, to_pem("CERTIFICATE", &root)).as_bytes(),
        leaf.key_pem.as_bytes(),
    )
    .expect("identity");
    let impostor = ServerConfig::new(
        Role::Enroll,
        evil.cert().clone(),
        identity,
        Revocations::empty(),
    )
    .expect("config");
    campus.cuhk = Arc::new(impostor);
    let (cfg, boot) = bootstrap(&campus, Fingerprint::of(&root));
    let mut pair = campus.enroll_pair_with(&cfg);
    assert!(campus.connect_enroll(&mut pair).is_err());
    assert_certificate_refused(&pair);
    assert_eq!(boot.root(), None);
}

#[test]
fn the_server_certificate_must_name_the_host_dialled() {
    let campus = Campus::new(t0());
    let root = campus.ca.cert().clone();
    let (cfg, boot) = bootstrap(&campus, Fingerprint::of(&root));
    let client = EnrollClient::new(
        &cfg,
        server_name("cuhk.example.edu").expect("a name"),
        campus.now,
    )
    .expect("client");
    let server = EnrollServer::new(campus.cuhk.clone(), campus.now).expect("server");
    let mut pair = Pair::new(client, server, campus.now);
    pair.drive();
    assert!(!pair.client.is_connected());
    assert_certificate_refused(&pair);
    assert_eq!(boot.root(), None);
}

#[test]
fn an_expired_server_certificate_is_refused_even_under_the_pinned_root() {
    let mut campus = Campus::new(t0());
    let root = campus.ca.cert().clone();
    let (cfg, boot) = bootstrap(&campus, Fingerprint::of(&root));
    // Two years on, CUHK's one-year certificate has expired (the root has not).
    campus.now += Duration::from_secs(2 * 365 * 24 * 3600);
    let mut pair = campus.enroll_pair_with(&cfg);
    assert!(campus.connect_enroll(&mut pair).is_err());
    assert_certificate_refused(&pair);
    assert_eq!(boot.root(), None);
}
