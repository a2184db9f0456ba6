//! The transport matrix: every client transport against every server transport, for both the
//! enrollment and the submission server, in one process with real loopback sockets. Each
//! pairing runs the whole scenario and the refusals that travel over the wire.

use arc_swap::ArcSwap;
use handin::net::{self, AnyLink, Transport};
use handin_client::student::{self, Profile, Remote, Trust};
use handin_core::driver::{Link, ServeOptions, Shutdown, Step};
use handin_core::msg::UploadOffer;
use handin_core::pki::{from_pem_or_der, Revocations, StudentId};
use handin_core::rustls::pki_types::CertificateDer;
use handin_core::submit::sha256;
use handin_core::{
    ClientConfig, Error, Identity, ReceiptSigner, RefusalCode, Role, SubmitClient,
    SubmitClientEvent,
};
use handin_services::blackboard::{Blackboard, Shared};
use handin_services::board::Board;
use handin_services::cuhk::{Cuhk, CuhkShared, PkiDir};
use handin_services::runtime::Pool;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

struct Running {
    addr: String,
    shutdown: Arc<Shutdown>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    fn stop(mut self) {
        self.shutdown.request();
        if let Some(t) = self.thread.take() {
            t.join()
                .expect("server thread")
                .expect("server exits cleanly");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.request();
    }
}

fn serve<A: handin_core::driver::Accept>(transport: Transport, accept: Arc<A>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let shutdown = Shutdown::new();
    let s = shutdown.clone();
    let opts = ServeOptions {
        loops: 2,
        ..ServeOptions::default()
    };
    let thread = std::thread::spawn(move || net::serve(transport, listener, accept, opts, s));
    Running {
        addr,
        shutdown,
        thread: Some(thread),
    }
}

struct World {
    dir: tempfile::TempDir,
    pki: PkiDir,
    bb: Arc<Blackboard>,
    cuhk: Running,
    blackboard: Running,
    client: Transport,
}

fn world(server: Transport, client: Transport) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = SystemTime::now();
    let pki = PkiDir::new(&dir.path().join("pki"));
    pki.init(&["localhost".into(), "127.0.0.1".into()], now)
        .expect("init");
    let (cert, key) = (dir.path().join("bb.crt"), dir.path().join("bb.key"));
    pki.issue_server("Blackboard", &["127.0.0.1".into()], &cert, &key, now)
        .expect("issue");

    let cuhk = Cuhk::new(
        pki.server_config().expect("cuhk config"),
        CuhkShared {
            ca: pki.ca().expect("ca"),
            registrar: Mutex::new(pki.registrar().expect("registrar")),
            pool: Pool::new(2, "test-cuhk").expect("pool"),
            lifetime: Duration::from_secs(30 * 24 * 3600),
            crl: ArcSwap::from_pointee(std::fs::read(pki.crl()).expect("crl")),
        },
    );
    let ca = ca_der(&pki);
    let identity = Identity::from_pem(
        &std::fs::read(&cert).expect("cert"),
        &std::fs::read(&key).expect("key"),
    )
    .expect("identity");
    let signer = ReceiptSigner::new(&identity.key, identity.chain[0].clone()).expect("signer");
    let config = handin_core::ServerConfig::new(Role::Submit, ca, identity, Revocations::empty())
        .expect("config");
    Board::init(&dir.path().join("data")).expect("a new store");
    let board = Board::open(&dir.path().join("data")).expect("board");
    board
        .add_assignment(
            "CSCI3180",
            "hw1",
            now + Duration::from_secs(86_400),
            1 << 20,
        )
        .expect("assignment");
    let bb = Arc::new(
        Blackboard::new(
            config,
            Shared {
                board,
                signer,
                pool: Pool::new(2, "test-bb").expect("pool"),
            },
        )
        .expect("the service"),
    );
    World {
        cuhk: serve(server, Arc::new(cuhk)),
        blackboard: serve(server, bb.clone()),
        bb,
        pki,
        dir,
        client,
    }
}

fn ca_der(pki: &PkiDir) -> CertificateDer<'static> {
    let pem = std::fs::read(pki.ca_cert()).expect("ca.crt");
    CertificateDer::from(from_pem_or_der(&pem, "CERTIFICATE").expect("pem").remove(0))
}

impl World {
    fn remote(&self, addr: &str) -> Remote {
        Remote {
            addr: addr.into(),
            also: Vec::new(),
            transport: self.client,
            connect_timeout: Duration::from_secs(5),
        }
    }

    fn profile(&self, id: &str) -> Profile {
        Profile::locate(Some(self.dir.path().join(id)))
    }

    fn enroll(&self, id: &str) -> Result<(), String> {
        let code = self
            .pki
            .registrar()
            .expect("registrar")
            .add_student(&sid(id), SystemTime::now())
            .expect("code");
        self.enroll_with(id, &code)
    }

    fn enroll_with(&self, id: &str, code: &str) -> Result<(), String> {
        student::enroll(
            &self.remote(&self.cuhk.addr),
            &self.profile(id),
            &sid(id),
            code,
            &Trust::CaFile(self.pki.ca_cert()),
            None,
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    fn identity(&self, id: &str) -> Identity {
        let p = self.profile(id);
        Identity::from_pem(
            &std::fs::read(p.cert()).expect("cert"),
            &std::fs::read(p.key()).expect("key"),
        )
        .expect("identity")
    }

    fn link(&self) -> AnyLink {
        let addr = net::resolve(&self.blackboard.addr).expect("addr");
        net::connect(self.client, addr, Duration::from_secs(5)).expect("connect")
    }

    /// Connects a raw core client (optionally with a certificate) and runs `act` once it is
    /// connected, until `done` says so or the connection closes.
    /// `react` sees each event and may act on it; it returns whether the exchange is over.
    fn raw(
        &self,
        identity: Option<Identity>,
        mut act: impl FnMut(&mut SubmitClient),
        mut react: impl FnMut(&mut SubmitClient, &SubmitClientEvent) -> bool,
    ) -> (Vec<SubmitClientEvent>, Option<Error>) {
        let config = ClientConfig::new(Role::Submit, ca_der(&self.pki), identity).expect("config");
        let name = handin_core::config::server_name("127.0.0.1").expect("name");
        let now = handin_core::Now::new(Instant::now(), SystemTime::now());
        let mut conn = SubmitClient::new(&config, name, now).expect("client");
        let mut acted = false;
        let mut events = Vec::new();
        let mut finished = false;
        self.link()
            .run(&mut conn, |c, _| {
                while let Some(ev) = c.poll_event() {
                    finished |= react(c, &ev);
                    events.push(ev);
                }
                if c.is_connected() && !acted {
                    acted = true;
                    act(c);
                }
                if finished || c.is_closed() {
                    Step::Done
                } else {
                    Step::Continue
                }
            })
            .expect("link");
        (events, conn.error().cloned())
    }

    fn stop(self) {
        self.blackboard.stop();
        self.cuhk.stop();
    }
}

fn sid(id: &str) -> StudentId {
    StudentId::parse(id).expect("student id")
}

fn refused(events: &[SubmitClientEvent]) -> Option<RefusalCode> {
    events.iter().find_map(|e| match e {
        SubmitClientEvent::Refused(r) => Some(r.code),
        _ => None,
    })
}

fn pairing(server: Transport, client: Transport) {
    let w = world(server, client);
    let (alice, bob) = ("1155000001", "1155000002");

    // Enrollment: a wrong code is refused, the right one enrolls.
    let code = w
        .pki
        .registrar()
        .expect("registrar")
        .add_student(&sid(alice), SystemTime::now())
        .expect("code");
    let err = w
        .enroll_with(alice, "AAAA-BBBB-CCCC-DDDD")
        .expect_err("wrong code");
    assert!(err.contains("code"), "{err}");
    w.enroll_with(alice, &code).expect("enrolls");
    let err = w.enroll_with(alice, &code).expect_err("used code");
    assert!(err.contains("already used"), "{err}");
    w.enroll(bob).expect("bob enrolls");

    // The whole scenario.
    let file = w.dir.path().join("hw1.txt");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&file, &data).expect("write");
    let remote = w.remote(&w.blackboard.addr);
    let sub =
        student::submit(&remote, &w.profile(alice), &file, "CSCI3180", "hw1").expect("submit");
    assert_eq!(sub.body.size, data.len() as u64);
    let listed = student::list(&remote, &w.profile(alice), None).expect("list");
    assert_eq!(listed.len(), 1);
    let back = w.dir.path().join("back.txt");
    student::fetch(&remote, &w.profile(alice), &sub.body.id, &back).expect("fetch");
    assert_eq!(std::fs::read(&back).expect("back"), data);

    // Another student sees nothing of it.
    assert!(student::list(&remote, &w.profile(bob), None)
        .expect("list")
        .is_empty());
    let err = student::fetch(
        &remote,
        &w.profile(bob),
        &sub.body.id,
        &w.dir.path().join("x"),
    )
    .expect_err("not bob's");
    assert!(err.message().contains("no submission"), "{err}");

    // No certificate: refused at the handshake.
    let (events, error) = w.raw(None, |_| {}, |_, _| false);
    assert!(events.is_empty(), "{events:?}");
    assert!(matches!(error, Some(Error::Tls(_))), "{error:?}");

    // Declared size not matching the bytes, an oversized file, an unknown assignment.
    let offer = |size: u64, assignment: &str| UploadOffer {
        course: "CSCI3180".into(),
        assignment: assignment.into(),
        file_name: "a.txt".into(),
        size,
        sha256: sha256(b"abc"),
    };
    let (events, _) = w.raw(
        Some(w.identity(alice)),
        |c| c.submit(offer(5, "hw1")).expect("offer"),
        |c, e| match e {
            SubmitClientEvent::UploadReady => {
                c.send_data(b"abc").expect("data");
                c.finish_upload().expect("finish");
                false
            }
            SubmitClientEvent::Connected { .. } => false,
            _ => true,
        },
    );
    assert_eq!(
        refused(&events),
        Some(RefusalCode::SizeMismatch),
        "{events:?}"
    );
    let (events, _) = w.raw(
        Some(w.identity(alice)),
        |c| c.submit(offer(2 << 20, "hw1")).expect("offer"),
        |_, e| matches!(e, SubmitClientEvent::Refused(_)),
    );
    assert_eq!(refused(&events), Some(RefusalCode::TooLarge));
    let (events, _) = w.raw(
        Some(w.identity(alice)),
        |c| c.submit(offer(3, "hw9")).expect("offer"),
        |_, e| matches!(e, SubmitClientEvent::Refused(_)),
    );
    assert_eq!(refused(&events), Some(RefusalCode::NoSuchAssignment));

    // Hostile frames: an oversized header and an unknown type close the connection with a reason.
    for raw in [&[0x23u8, 0, 1, 0, 1][..], &[0x7f, 0, 0, 0, 0][..]] {
        let bytes = raw.to_vec();
        let (_, error) = w.raw(
            Some(w.identity(alice)),
            move |c| c.danger_send_raw(&bytes),
            |_, _| false,
        );
        match error {
            Some(Error::Remote(r)) => assert_eq!(r.code, RefusalCode::BadRequest),
            other => panic!("expected an Error frame, got {other:?}"),
        }
    }

    // Revocation: a new configuration refuses the student, even if the session resumes.
    w.pki
        .revoke(&sid(alice), SystemTime::now())
        .expect("revoke");
    let crl = std::fs::read(w.pki.crl()).expect("crl");
    let revs = Revocations::from_crl(&crl, &ca_der(&w.pki)).expect("crl loads");
    w.bb.set_config(w.bb.config().with_revocations(revs).expect("config"));
    let err =
        student::submit(&remote, &w.profile(alice), &file, "CSCI3180", "hw1").expect_err("revoked");
    assert!(err.message().contains("revoked"), "{err}");
    student::submit(&remote, &w.profile(bob), &file, "CSCI3180", "hw1").expect("bob is fine");

    w.stop();
}

#[test]
fn mio_client_with_mio_servers() {
    pairing(Transport::Mio, Transport::Mio);
}

#[test]
fn smol_client_with_mio_servers() {
    pairing(Transport::Mio, Transport::Smol);
}

#[test]
fn mio_client_with_smol_servers() {
    pairing(Transport::Smol, Transport::Mio);
}

#[test]
fn smol_client_with_smol_servers() {
    pairing(Transport::Smol, Transport::Smol);
}
