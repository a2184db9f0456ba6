//! Embedding handin in someone else's program: the examples (a submission client over blocking
//! std::net sockets, and one on tokio) build and submit to a real Blackboard, and the smol
//! server runs on an executor the caller already has.

use arc_swap::ArcSwap;
use handin_core::driver::{ServeOptions, Shutdown, Step};
use handin_core::pki::{from_pem_or_der, new_student_key, StudentId};
use handin_core::{ClientConfig, EnrollClient, EnrollClientEvent, Now, Role};
use handin_services::cuhk::{Cuhk, CuhkShared, PkiDir};
use handin_services::runtime::Pool;
use handin_smol::smol::{self, Async, Executor};
use handin_tests::*;
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Builds the examples, then runs the example `bin` against a real Blackboard and checks that it
/// prints a verified receipt for what Blackboard stored.
fn example_submits_and_gets_a_verified_receipt(bin: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "handin-examples"])
        .current_dir(&root)
        .status()
        .expect("cargo build runs");
    assert!(status.success(), "the examples build");

    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    let id = "1155000001";
    campus.enroll(&cuhk, id);
    let file = campus.path("essay.txt");
    write_pattern(&file, 150_000, 3);
    let profile = campus.profile(id);
    let mut c = Command::new(bin_dir().join(bin));
    c.arg(campus.pki().join("ca.crt"))
        .arg(profile.join("cert.pem"))
        .arg(profile.join("key.pem"))
        .arg(&bb.addr)
        .arg(&file)
        .args(["CSCI3180", "hw1"]);
    let out = ok(c);
    assert!(out.starts_with("receipt S"), "{out}");
    assert!(out.contains("for 150000 bytes"), "{out}");
    let listed = campus.list(&bb, id);
    assert_eq!(listed.len(), 1);
    assert!(out.contains(listed[0]["id"].as_str().expect("id")), "{out}");
    assert!(
        out.contains(listed[0]["sha256"].as_str().expect("sha")),
        "{out}"
    );
}

#[test]
fn the_blocking_socket_example_submits_and_gets_a_verified_receipt() {
    example_submits_and_gets_a_verified_receipt("blocking-client");
}

#[test]
fn the_tokio_example_submits_and_gets_a_verified_receipt() {
    example_submits_and_gets_a_verified_receipt("tokio-client");
}

/// CUHK's enrollment service over `dir`, with one student on the roster; returns it, the
/// student's code and the CA certificate.
fn cuhk(dir: &std::path::Path, id: &StudentId) -> (Cuhk, String, Vec<u8>) {
    let pki = PkiDir::new(&dir.join("pki"));
    pki.init(&["127.0.0.1".into()], SystemTime::now())
        .expect("init");
    let code = pki
        .registrar()
        .expect("registrar")
        .add_student(id, SystemTime::now())
        .expect("code");
    let ca = from_pem_or_der(
        &std::fs::read(pki.ca_cert()).expect("ca.crt"),
        "CERTIFICATE",
    )
    .expect("ca pem")
    .remove(0);
    let cuhk = Cuhk::new(
        pki.server_config().expect("cuhk config"),
        CuhkShared {
            ca: pki.ca().expect("ca"),
            registrar: Mutex::new(pki.registrar().expect("registrar")),
            pool: Pool::new(1, "test-cuhk").expect("pool"),
            lifetime: Duration::from_secs(30 * 24 * 3600),
            crl: ArcSwap::from_pointee(std::fs::read(pki.crl()).expect("crl")),
        },
    );
    (cuhk, code, ca)
}

#[test]
fn the_smol_server_runs_on_the_callers_executor_beside_the_callers_own_tasks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = StudentId::parse("1155000001").expect("id");
    let (cuhk, code, ca) = cuhk(dir.path(), &id);
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).expect("bind");
    let addr = listener.get_ref().local_addr().expect("addr");
    let shutdown = Shutdown::new();

    // One executor, made and run by the caller on this thread alone: the server's connections
    // and the caller's own client task share it, so neither could finish if the server
    // blocked the thread or ran its connections elsewhere.
    let ex = Executor::new();
    let server = handin_smol::serve_async(
        &ex,
        listener,
        Arc::new(cuhk),
        ServeOptions::default(),
        shutdown.clone(),
    );
    let client = async {
        let stream = handin_smol::connect_async(addr, Duration::from_secs(5))
            .await
            .expect("connect");
        let config = ClientConfig::new(Role::Enroll, ca.into(), None).expect("config");
        let name = handin_core::config::server_name("127.0.0.1").expect("name");
        let now = Now::new(Instant::now(), SystemTime::now());
        let mut conn = EnrollClient::new(&config, name, now).expect("client");
        let key = new_student_key(&id).expect("key");
        let mut issued = None;
        handin_smol::run_async(&stream, &mut conn, |c, _| {
            while let Some(event) = c.poll_event() {
                match event {
                    EnrollClientEvent::Connected { .. } => {
                        c.enroll(&id, &code, &key.csr_der).expect("request");
                    }
                    EnrollClientEvent::Issued { chain } => issued = Some(chain),
                    other => panic!("unexpected {other:?}"),
                }
            }
            if issued.is_some() || c.is_closed() {
                Step::Done
            } else {
                Step::Continue
            }
        })
        .await
        .expect("link");
        shutdown.request();
        (issued, conn.error().cloned())
    };
    let (served, (issued, error)) = smol::block_on(ex.run(smol::future::zip(server, client)));
    served.expect("the server stops cleanly once shut down");
    let chain = issued.unwrap_or_else(|| panic!("no certificate; error {error:?}"));
    let (who, _) = handin_core::pki::student_id_of(&chain[0]).expect("a student certificate");
    assert_eq!(who, id);
}
