//! Group commit of enrollments, end to end over real loopback sockets and the real SQLite file:
//! concurrent enrollments decided in one transaction all land on disk, a bad code in a batch
//! refuses only its student, a crash loses no certificate that was handed out, and a commit that
//! fails (a full disk) hands out none.

use arc_swap::ArcSwap;
use handin::net::{self, Transport};
use handin_client::student::{self, Enrolled, Profile, Remote, Trust};
use handin_core::driver::{ServeOptions, Shutdown};
use handin_core::pki::StudentId;
use handin_services::cuhk::{Cuhk, CuhkShared, PkiDir};
use handin_services::registrar::Registrar;
use handin_services::runtime::Pool;
use handin_tests::{bin_dir, Campus, Server};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

const REFUSED_BY_THE_DATABASE: &str = "CUHK could not update its records; try again later";

fn sid(id: &str) -> StudentId {
    StudentId::parse(id).expect("student id")
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("1155{i:06}")).collect()
}

/// Puts the students on the roster; returns their codes.
fn roster(pki: &PkiDir, ids: &[String]) -> Vec<String> {
    let mut registrar = pki.registrar().expect("registrar");
    ids.iter()
        .map(|id| {
            registrar
                .add_student(&sid(id), SystemTime::now())
                .expect("roster add")
        })
        .collect()
}

/// Enrolls every (id, code) at `addr` at once, each from its own thread and profile under
/// `profiles`; returns the outcomes in order.
fn enroll_all(
    addr: &str,
    ca: &Path,
    profiles: &Path,
    students: &[(String, String)],
) -> Vec<JoinHandle<Result<Enrolled, String>>> {
    students
        .iter()
        .cloned()
        .map(|(id, code)| {
            let (addr, ca, profile) = (addr.to_owned(), ca.to_owned(), profiles.join(&id));
            std::thread::spawn(move || {
                let remote = Remote {
                    addr,
                    also: Vec::new(),
                    transport: Transport::Mio,
                    connect_timeout: Duration::from_secs(10),
                };
                student::enroll(
                    &remote,
                    &Profile::locate(Some(profile)),
                    &sid(&id),
                    &code,
                    &Trust::CaFile(ca),
                    None,
                )
                .map_err(|e| e.to_string())
            })
        })
        .collect()
}

fn join_all(handles: Vec<JoinHandle<Result<Enrolled, String>>>) -> Vec<Result<Enrolled, String>> {
    handles
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect()
}

/// CUHK's enrollment service in this process, on a real loopback socket.
struct InProcess {
    cuhk: Arc<Cuhk>,
    addr: String,
    shutdown: Arc<Shutdown>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl InProcess {
    fn start(pki: &PkiDir) -> Self {
        let cuhk = Arc::new(Cuhk::new(
            pki.server_config().expect("cuhk config"),
            CuhkShared {
                ca: pki.ca().expect("ca"),
                registrar: Mutex::new(pki.registrar().expect("registrar")),
                pool: Pool::new(2, "test-cuhk").expect("pool"),
                lifetime: Duration::from_secs(30 * 24 * 3600),
                crl: ArcSwap::from_pointee(std::fs::read(pki.crl()).expect("crl")),
            },
        ));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let shutdown = Shutdown::new();
        let (s, c) = (shutdown.clone(), cuhk.clone());
        let opts = ServeOptions {
            loops: 2,
            ..ServeOptions::default()
        };
        let thread = std::thread::spawn(move || net::serve(Transport::Mio, listener, c, opts, s));
        Self {
            cuhk,
            addr,
            shutdown,
            thread: Some(thread),
        }
    }

    /// Enrolls every student at once, all decided in ONE transaction: the committer is held
    /// until every application waits in its queue.
    fn enroll_in_one_batch(
        &self,
        ca: &Path,
        profiles: &Path,
        students: &[(String, String)],
    ) -> Vec<Result<Enrolled, String>> {
        let before = self.cuhk.commit_stats();
        let held = self.cuhk.shared().registrar.lock().expect("registrar lock");
        let handles = enroll_all(&self.addr, ca, profiles, students);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.cuhk.waiting() < students.len() {
            assert!(
                Instant::now() < deadline,
                "only {} of {} applications reached the queue",
                self.cuhk.waiting(),
                students.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Nobody has an answer while their records are not committed.
        std::thread::sleep(Duration::from_millis(200));
        for ((id, _), h) in students.iter().zip(&handles) {
            assert!(!h.is_finished(), "{id} was answered before the commit");
            assert!(!profiles.join(id).join("cert.pem").exists(), "{id}");
        }
        drop(held);
        let outcomes = join_all(handles);
        let after = self.cuhk.commit_stats();
        assert_eq!(after.batches, before.batches + 1, "{after:?}");
        assert_eq!(after.largest_batch, students.len() as u64, "{after:?}");
        outcomes
    }

    /// Stops serving and drops everything, the registrar's connection included.
    fn stop(mut self) {
        self.shutdown.request();
        if let Some(t) = self.thread.take() {
            t.join()
                .expect("server thread")
                .expect("server exits cleanly");
        }
    }
}

/// Checks, through a fresh connection to the file, that each enrolled student has exactly one
/// certificate on record, the one they received.
fn assert_recorded(pki: &PkiDir, enrolled: &[(&String, &Enrolled)]) {
    let registrar = Registrar::open(&pki.db()).expect("reopen");
    for (id, got) in enrolled {
        let issued = registrar.issued(&sid(id)).expect("issued");
        assert_eq!(issued.len(), 1, "{id}: {issued:?}");
        assert_eq!(issued[0].serial_hex, got.serial, "{id}");
        assert_eq!(issued[0].not_after, got.not_after, "{id}");
    }
}

/// Redeeming `code` again is refused as used (nothing is signed).
fn assert_code_used(pki: &PkiDir, id: &str, code: &str) {
    let mut registrar = pki.registrar().expect("registrar");
    let err = registrar
        .redeem(&sid(id), code, SystemTime::now(), || {
            Err(handin_core::pki::PkiError("must not sign".into()))
        })
        .expect_err("the code was used");
    assert_eq!(
        err.refusal().code,
        handin_core::RefusalCode::CodeUsed,
        "{id}"
    );
}

#[test]
fn a_batch_of_concurrent_enrollments_commits_once_and_every_record_is_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = PkiDir::new(&dir.path().join("pki"));
    pki.init(&["127.0.0.1".into()], SystemTime::now())
        .expect("init");
    let ids = ids(12);
    let codes = roster(&pki, &ids);
    let students: Vec<(String, String)> = ids.iter().cloned().zip(codes.clone()).collect();

    let server = InProcess::start(&pki);
    let outcomes = server.enroll_in_one_batch(&pki.ca_cert(), dir.path(), &students);
    server.stop();

    let enrolled: Vec<(&String, &Enrolled)> = ids
        .iter()
        .zip(&outcomes)
        .map(|(id, o)| (id, o.as_ref().unwrap_or_else(|e| panic!("{id}: {e}"))))
        .collect();
    assert_recorded(&pki, &enrolled);
    for (id, code) in &students {
        assert_code_used(&pki, id, code);
    }
}

#[test]
fn a_bad_code_in_a_batch_refuses_only_that_student() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = PkiDir::new(&dir.path().join("pki"));
    pki.init(&["127.0.0.1".into()], SystemTime::now())
        .expect("init");
    let ids = ids(6);
    let codes = roster(&pki, &ids);
    let server = InProcess::start(&pki);
    // The last student enrolls first, so that the batch holds a used code.
    let early = join_all(enroll_all(
        &server.addr,
        &pki.ca_cert(),
        &dir.path().join("early"),
        &[(ids[5].clone(), codes[5].clone())],
    ));
    assert!(early[0].is_ok(), "{early:?}");

    let mut students: Vec<(String, String)> = ids.iter().cloned().zip(codes.clone()).collect();
    students[2].1 = "AAAA-BBBB-CCCC-DDDD".into();
    let outcomes = server.enroll_in_one_batch(&pki.ca_cert(), dir.path(), &students);

    for i in [0, 1, 3, 4] {
        assert!(outcomes[i].is_ok(), "{}: {:?}", ids[i], outcomes[i]);
        assert!(dir.path().join(&ids[i]).join("cert.pem").exists());
    }
    let wrong = outcomes[2].as_ref().expect_err("wrong code");
    assert!(wrong.contains("wrong enrollment code"), "{wrong}");
    let used = outcomes[5].as_ref().expect_err("used code");
    assert!(used.contains("already used"), "{used}");
    assert!(!dir.path().join(&ids[2]).join("cert.pem").exists());

    // The student with the wrong code still holds an unused code.
    let retry = join_all(enroll_all(
        &server.addr,
        &pki.ca_cert(),
        &dir.path().join("retry"),
        &[(ids[2].clone(), codes[2].clone())],
    ));
    server.stop();
    let retried = retry[0].as_ref().expect("the right code still works");

    let mut enrolled: Vec<(&String, &Enrolled)> = [0, 1, 3, 4]
        .iter()
        .map(|&i| (&ids[i], outcomes[i].as_ref().expect("enrolled")))
        .collect();
    enrolled.push((&ids[2], retried));
    enrolled.push((&ids[5], early[0].as_ref().expect("enrolled")));
    assert_recorded(&pki, &enrolled);
}

#[test]
fn every_certificate_handed_out_before_a_crash_is_on_record() {
    let campus = Campus::new();
    let pki = PkiDir::new(&campus.pki());
    let ids = ids(24);
    let codes = roster(&pki, &ids);
    let students: Vec<(String, String)> = ids.iter().cloned().zip(codes).collect();
    let cuhk = campus.start_cuhk();

    let outcomes = join_all(enroll_all(
        &cuhk.addr,
        &campus.pki().join("ca.crt"),
        &campus.path("profiles"),
        &students,
    ));
    // The moment the last answer arrived: a crash, no orderly shutdown.
    cuhk.kill();

    let enrolled: Vec<(&String, &Enrolled)> = ids
        .iter()
        .zip(&outcomes)
        .map(|(id, o)| (id, o.as_ref().unwrap_or_else(|e| panic!("{id}: {e}"))))
        .collect();
    assert_recorded(&pki, &enrolled);
}

#[test]
fn a_commit_that_fails_on_a_full_disk_hands_out_no_certificate() {
    let campus = Campus::new();
    let pki = PkiDir::new(&campus.pki());
    let ids = ids(6);
    let codes = roster(&pki, &ids);
    let mut students: Vec<(String, String)> = ids.iter().cloned().zip(codes.clone()).collect();
    students[1].1 = "AAAA-BBBB-CCCC-DDDD".into();

    // The server may not write more than 512 bytes into any file (RLIMIT_FSIZE; SIGXFSZ
    // ignored, so writes past it fail with EFBIG as on a full disk). Its first commit has to
    // write at least a page to the write-ahead log, and fails. This connection, kept open,
    // keeps the shared-memory index SQLite would otherwise have to write at start-up.
    let keep_open = pki.registrar().expect("registrar");
    let mut c = Command::new("sh");
    c.args(["-c", "trap '' XFSZ; ulimit -f 1; exec \"$0\" \"$@\""])
        .arg(bin_dir().join("cuhk"))
        .args(["serve", "-v", "--dir"])
        .arg(campus.pki())
        .args(["--listen", "127.0.0.1:0"]);
    let cuhk = Server::start(c, "cuhk");
    let outcomes = join_all(enroll_all(
        &cuhk.addr,
        &campus.pki().join("ca.crt"),
        &campus.path("profiles"),
        &students,
    ));
    let log = cuhk.log();
    assert!(cuhk.stop(), "cuhk exits cleanly");
    drop(keep_open);

    for (i, ((id, _), outcome)) in students.iter().zip(&outcomes).enumerate() {
        let err = outcome.as_ref().expect_err("nothing may be issued");
        // A wrong code writes nothing: in a batch of its own it is refused as wrong even on a
        // full disk; in a batch with others, with the batch.
        let wrong = i == 1 && err.contains("wrong enrollment code");
        assert!(
            err.contains(REFUSED_BY_THE_DATABASE) || wrong,
            "{id}: {err}"
        );
        assert!(!campus.path("profiles").join(id).join("cert.pem").exists());
    }
    assert!(log.contains("nothing was recorded"), "{log}");
    assert!(!log.contains("certificate issued"), "{log}");

    let registrar = Registrar::open(&pki.db()).expect("reopen");
    for id in &ids {
        assert!(
            registrar.issued(&sid(id)).expect("issued").is_empty(),
            "{id}"
        );
    }
    drop(registrar);

    // Nothing was spent: with room on the disk, every code works, the wrong one's owner too.
    let cuhk = campus.start_cuhk();
    let students: Vec<(String, String)> = ids.iter().cloned().zip(codes).collect();
    let outcomes = join_all(enroll_all(
        &cuhk.addr,
        &campus.pki().join("ca.crt"),
        &campus.path("again"),
        &students,
    ));
    assert!(cuhk.stop(), "cuhk exits cleanly");
    let enrolled: Vec<(&String, &Enrolled)> = ids
        .iter()
        .zip(&outcomes)
        .map(|(id, o)| (id, o.as_ref().unwrap_or_else(|e| panic!("{id}: {e}"))))
        .collect();
    assert_recorded(&pki, &enrolled);
}
