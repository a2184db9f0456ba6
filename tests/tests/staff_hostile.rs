//! Hostile clients at Blackboard's door for the staff protocol, over real sockets: no client
//! certificate on `handin-staff/1`, a protocol Blackboard does not serve, and garbage from an
//! authenticated member of staff. Each is turned away with a TLS alert or a fatal Error frame,
//! and Blackboard goes on serving everyone else.

use handin_core::rustls::{self, pki_types::ServerName};
use handin_tests::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// A TLS client offering `alpn`, trusting the campus root, presenting `identity` if given.
fn tls_client(
    campus: &Campus,
    bb: &Server,
    alpn: &[u8],
    identity: Option<&str>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let ca = std::fs::read(campus.pki().join("ca.crt")).expect("ca");
    let ca = handin_core::pki::from_pem_or_der(&ca, "CERTIFICATE").expect("pem");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca[0].clone().into()).expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(handin_core::config::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let p = campus.profile(id);
            let chain = std::fs::read(p.join("cert.pem")).expect("cert");
            let key = std::fs::read(p.join("key.pem")).expect("key");
            let id = handin_core::Identity::from_pem(&chain, &key).expect("identity");
            builder
                .with_client_auth_cert(id.chain, id.key)
                .expect("client auth")
        }
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let sock = TcpStream::connect(&bb.addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    rustls::StreamOwned::new(conn, sock)
}

/// Reads until the stream ends or fails; returns what arrived and how it ended.
fn read_all(s: &mut impl Read) -> (Vec<u8>, Option<std::io::Error>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, None),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Some(e)),
        }
    }
}

fn campus_with_alice_as_ta(transport: &str) -> (Campus, Server, Server) {
    let campus = Campus::with_transports(transport, transport);
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    campus.enroll(&cuhk, BOB);
    let mut c = cmd("blackboard");
    c.args(["course", "add", "--data"])
        .arg(campus.data())
        .arg("CSCI3180");
    ok(c);
    let mut c = cmd("blackboard");
    c.args(["course", "staff", "--data"])
        .arg(campus.data())
        .args(["CSCI3180", "--add", ALICE]);
    ok(c);
    (campus, cuhk, bb)
}

fn turned_away(transport: &str) {
    let (campus, _cuhk, bb) = campus_with_alice_as_ta(transport);

    // No certificate on the staff protocol: the handshake completes on the client's side, then
    // the server's alert ends it; no application data arrives.
    let mut s = tls_client(&campus, &bb, b"handin-staff/1", None);
    let _ = s.write_all(b"");
    let (got, err) = read_all(&mut s);
    assert!(
        got.is_empty(),
        "no Welcome without a certificate: {got:02x?}"
    );
    let err = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("CertificateRequired") || err.contains("certificate"),
        "expected a certificate_required alert, got {err:?}"
    );

    // A protocol Blackboard does not serve (HTTP/2 alone; its pages are HTTP/1.1):
    // no_application_protocol at the handshake.
    let mut s = tls_client(&campus, &bb, b"h2", Some(ALICE));
    let (got, err) = read_all(&mut s);
    assert!(got.is_empty());
    let err = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("NoApplicationProtocol"),
        "expected no_application_protocol, got {err:?}"
    );

    // Garbage from an authenticated TA after the Welcome: a fatal Error frame, then the end.
    let mut s = tls_client(&campus, &bb, b"handin-staff/1", Some(ALICE));
    s.write_all(&[0x40, 0, 0, 0, 3, 1, 2, 3, 0xff, 0xff])
        .expect("write");
    s.flush().expect("flush");
    let (got, _) = read_all(&mut s);
    let frames: Vec<u8> = {
        let mut tags = Vec::new();
        let mut rest = got.as_slice();
        while rest.len() >= 5 {
            let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            if rest.len() < 5 + len {
                break;
            }
            tags.push(rest[0]);
            rest = &rest[5 + len..];
        }
        tags
    };
    assert_eq!(frames.first(), Some(&0x01), "a Welcome first: {got:02x?}");
    assert_eq!(frames.last(), Some(&0x03), "a fatal Error last: {got:02x?}");

    // Blackboard goes on serving everyone else, over both protocols.
    assert!(campus.list(&bb, BOB).is_empty());
    let mut c = campus.staff(ALICE, &["courses", "--blackboard", &bb.addr, "--json"]);
    c.env_remove("HANDIN_BLACKBOARD");
    assert!(ok(c).contains("CSCI3180"));
}

#[test]
fn hostile_staff_clients_are_turned_away_and_others_served_on_mio() {
    turned_away("mio");
}

#[test]
fn hostile_staff_clients_are_turned_away_and_others_served_on_smol() {
    turned_away("smol");
}
