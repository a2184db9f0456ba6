//! Enrollment code guessing against the real `cuhk` binary, served on both transports: wrong
//! codes sent by someone else for a student's ID neither lock the student out nor spend their
//! code; guessing is throttled per client address and per connection instead; and an ID that is
//! not on the roster gets exactly the refusal a wrong code gets.
//!
//! The guesser is a plain blocking client over the core's `EnrollClient`, so that it can send
//! many enrollments on one connection and connect from its own loopback address (127.0.0.2,
//! 127.0.0.3...) while the real student, the `student` binary, comes from 127.0.0.1.

use handin_core::pki::{from_pem_or_der, new_student_key, StudentId};
use handin_core::Now;
use handin_core::{ClientConfig, EnrollClient, EnrollClientEvent, Refusal, RefusalCode, Role};
use handin_services::cuhk::throttle::{ADDRESS_BURST, ADDRESS_INTERVAL, CONNECTION_LIMIT};
use handin_services::cuhk::PkiDir;
use handin_tests::*;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// Both clocks, for the core.
fn clock() -> Now {
    Now::new(Instant::now(), SystemTime::now())
}

const WRONG: &str = "AAAA-BBBB-CCCC-DDDD";

fn sid(id: &str) -> StudentId {
    StudentId::parse(id).expect("student id")
}

/// A guesser's connection to CUHK, made from the loopback address `from`.
struct Guesser {
    conn: EnrollClient,
    sock: TcpStream,
    csrs: HashMap<String, Vec<u8>>,
}

/// How an enrollment on a guesser's connection ended.
#[derive(Debug)]
enum Answer {
    Refused(Refusal),
    Issued,
    /// The server closed the connection instead of answering.
    Closed,
}

impl Guesser {
    fn connect(campus: &Campus, cuhk: &Server, from: &str) -> Self {
        let pem = std::fs::read(campus.pki().join("ca.crt")).expect("ca.crt");
        let ca = from_pem_or_der(&pem, "CERTIFICATE").expect("a CA certificate");
        let config = ClientConfig::new(Role::Enroll, ca[0].clone().into(), None).expect("config");
        let server: SocketAddr = cuhk.addr.parse().expect("cuhk address");
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        let local: SocketAddr = format!("{from}:0").parse().expect("source address");
        sock.bind(&local.into())
            .expect("bind to the guesser's address");
        sock.connect(&server.into()).expect("connect to cuhk");
        let name = handin_core::config::server_name("127.0.0.1").expect("server name");
        let conn = EnrollClient::new(&config, name, clock()).expect("client");
        let mut g = Self {
            conn,
            sock: sock.into(),
            csrs: HashMap::new(),
        };
        let welcome = g.pump(|e| matches!(e, EnrollClientEvent::Connected { .. }));
        assert!(
            matches!(welcome, Some(EnrollClientEvent::Connected { .. })),
            "no Welcome from cuhk"
        );
        g
    }

    /// Sends an enrollment for `id` with `code` and waits for its answer.
    fn enroll(&mut self, id: &str, code: &str) -> Answer {
        let csr = self
            .csrs
            .entry(id.to_owned())
            .or_insert_with(|| new_student_key(&sid(id)).expect("a key").csr_der)
            .clone();
        if self.conn.enroll(&sid(id), code, &csr).is_err() {
            return Answer::Closed;
        }
        match self.pump(|e| {
            matches!(
                e,
                EnrollClientEvent::Refused(_) | EnrollClientEvent::Issued { .. }
            )
        }) {
            Some(EnrollClientEvent::Refused(r)) => Answer::Refused(r),
            Some(EnrollClientEvent::Issued { .. }) => Answer::Issued,
            _ => Answer::Closed,
        }
    }

    /// Moves bytes until an event `want` accepts arrives (`None` once the connection ended).
    fn pump(&mut self, want: impl Fn(&EnrollClientEvent) -> bool) -> Option<EnrollClientEvent> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(e) = self.conn.poll_event() {
                if want(&e) {
                    return Some(e);
                }
            }
            let mut out = Vec::new();
            self.conn.poll_transmit(&mut out);
            if !out.is_empty() && self.sock.write_all(&out).is_err() {
                return None;
            }
            if self.conn.is_closed() {
                return None;
            }
            let wait = self
                .conn
                .poll_timeout()
                .map(|at| at.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(30))
                .clamp(Duration::from_millis(1), Duration::from_secs(30));
            self.sock.set_read_timeout(Some(wait)).expect("timeout");
            let now = clock();
            let _ = match self.sock.read(&mut buf) {
                Ok(0) => self.conn.handle_eof(now),
                Ok(n) => self.conn.receive(now, &buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    self.conn.handle_timeout(clock())
                }
                Err(_) => return None,
            };
        }
    }
}

/// Sends `n` enrollments from `from`, each for the next of `ids` with a wrong code, reconnecting
/// whenever the server closes a connection; returns the refusals in order.
fn guess(campus: &Campus, cuhk: &Server, from: &str, ids: &[String], n: usize) -> Vec<Refusal> {
    let mut refusals = Vec::new();
    let mut g = Guesser::connect(campus, cuhk, from);
    let mut i = 0;
    while refusals.len() < n {
        match g.enroll(&ids[i % ids.len()], WRONG) {
            Answer::Refused(r) => {
                refusals.push(r);
                i += 1;
            }
            Answer::Closed => g = Guesser::connect(campus, cuhk, from),
            Answer::Issued => panic!("a wrong code enrolled"),
        }
    }
    refusals
}

/// `student enroll` (from 127.0.0.1) for `id` with `code`.
fn student_enroll(campus: &Campus, cuhk: &Server, id: &str, code: &str) -> Command {
    let mut c = campus.student(
        id,
        &[
            "enroll", "--id", id, "--code", code, "--cuhk", &cuhk.addr, "--ca",
        ],
    );
    c.arg(campus.pki().join("ca.crt"));
    c
}

fn is_wrong_code(r: &Refusal) -> bool {
    r.code == RefusalCode::BadCode && r.reason.contains("wrong enrollment code")
}

/// The seconds in "try again in N seconds".
fn wait_secs(r: &Refusal) -> u64 {
    r.reason
        .split("try again in ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no \"try again in N seconds\" in {r:?}"))
}

/// Past its burst, an address is throttled: the burst comes back at one wrong code per
/// interval, so a slow machine may see a wrong code or two among the throttled refusals, but
/// never only wrong codes.
fn assert_throttled_from_here(refusals: &[Refusal]) {
    let throttled: Vec<&Refusal> = refusals
        .iter()
        .filter(|r| r.code == RefusalCode::Throttled)
        .collect();
    assert!(!throttled.is_empty(), "never throttled: {refusals:?}");
    assert!(
        refusals
            .iter()
            .all(|r| is_wrong_code(r) || r.code == RefusalCode::Throttled),
        "{refusals:?}"
    );
    for r in throttled {
        assert!(
            (1..=ADDRESS_INTERVAL.as_secs()).contains(&wait_secs(r)),
            "{r:?}"
        );
    }
}

fn wrong_codes_for_a_students_id_do_not_stop_the_student(transport: &str) {
    let campus = Campus::with_transports(transport, transport);
    let cuhk = campus.start_cuhk();
    let code = campus.roster_add(ALICE);

    // Someone who knows Alice's ID sends more wrong codes for it than any per-ID limit would
    // allow, until their own address is throttled.
    let n = ADDRESS_BURST as usize + 10;
    let refusals = guess(&campus, &cuhk, "127.0.0.2", &[ALICE.to_owned()], n);
    let (wrong, more) = refusals.split_at(ADDRESS_BURST as usize);
    assert!(wrong.iter().all(is_wrong_code), "{wrong:?}");
    assert_throttled_from_here(more);

    // Alice, from her own address, enrolls at once with her code.
    let out = run(student_enroll(&campus, &cuhk, ALICE, &code));
    assert!(
        out.status.success(),
        "the student was locked out by someone else's guesses: {}",
        stderr_of(&out)
    );
    assert!(campus.profile(ALICE).join("cert.pem").exists());
    assert!(cuhk.stop(), "cuhk exits 0 on SIGTERM");
}

#[test]
fn wrong_codes_for_a_students_id_do_not_stop_the_student_mio() {
    wrong_codes_for_a_students_id_do_not_stop_the_student("mio");
}

#[test]
fn wrong_codes_for_a_students_id_do_not_stop_the_student_smol() {
    wrong_codes_for_a_students_id_do_not_stop_the_student("smol");
}

fn guessing_across_many_ids_is_cut_per_connection_and_throttled_per_address(transport: &str) {
    let campus = Campus::with_transports(transport, transport);
    let cuhk = campus.start_cuhk();
    let ids: Vec<String> = (0..20).map(|i| format!("11556000{i:02}")).collect();
    let codes: Vec<String> = {
        let mut registrar = PkiDir::new(&campus.pki()).registrar().expect("registrar");
        ids.iter()
            .map(|id| {
                registrar
                    .add_student(&sid(id), SystemTime::now())
                    .expect("roster add")
            })
            .collect()
    };

    // One connection: answered CONNECTION_LIMIT times, then closed.
    let mut g = Guesser::connect(&campus, &cuhk, "127.0.0.3");
    for (i, id) in ids.iter().enumerate().take(CONNECTION_LIMIT as usize) {
        match g.enroll(id, WRONG) {
            Answer::Refused(r) => assert!(is_wrong_code(&r), "guess {}: {r:?}", i + 1),
            other => panic!("guess {}: {other:?}", i + 1),
        }
    }
    let next = g.enroll(&ids[CONNECTION_LIMIT as usize], WRONG);
    assert!(
        matches!(next, Answer::Closed),
        "the connection was not closed after {CONNECTION_LIMIT} wrong codes: {next:?}"
    );

    // The same address on new connections: refused as throttled once its burst is spent,
    // whichever ID it tries.
    let more = ADDRESS_BURST as usize - CONNECTION_LIMIT as usize;
    let refusals = guess(&campus, &cuhk, "127.0.0.3", &ids[3..], more + 10);
    let (wrong, beyond) = refusals.split_at(more);
    assert!(wrong.iter().all(is_wrong_code), "{wrong:?}");
    assert_throttled_from_here(beyond);

    // Other addresses are not held back: a student enrolls with the right code.
    let out = run(student_enroll(&campus, &cuhk, &ids[7], &codes[7]));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mut other = Guesser::connect(&campus, &cuhk, "127.0.0.4");
    let answer = other.enroll(&ids[8], &codes[8]);
    assert!(matches!(answer, Answer::Issued), "{answer:?}");
    assert!(cuhk.stop(), "cuhk exits 0 on SIGTERM");
}

#[test]
fn guessing_across_many_ids_is_cut_per_connection_and_throttled_per_address_mio() {
    guessing_across_many_ids_is_cut_per_connection_and_throttled_per_address("mio");
}

#[test]
fn guessing_across_many_ids_is_cut_per_connection_and_throttled_per_address_smol() {
    guessing_across_many_ids_is_cut_per_connection_and_throttled_per_address("smol");
}

fn an_unknown_id_gets_the_refusal_a_wrong_code_gets(transport: &str) {
    let campus = Campus::with_transports(transport, transport);
    let cuhk = campus.start_cuhk();
    campus.roster_add(ALICE);
    const STRANGER: &str = "1155999999";

    let mut g = Guesser::connect(&campus, &cuhk, "127.0.0.5");
    let wrong = g.enroll(ALICE, WRONG);
    let unknown = g.enroll(STRANGER, WRONG);
    match (&wrong, &unknown) {
        (Answer::Refused(w), Answer::Refused(u)) => {
            assert_eq!(w, u, "the refusal tells who is on the roster");
            assert_eq!(w.code, RefusalCode::BadCode);
        }
        other => panic!("{other:?}"),
    }

    // And so does the student command: the same line for both.
    let wrong = run(student_enroll(&campus, &cuhk, ALICE, WRONG));
    let unknown = run(student_enroll(&campus, &cuhk, STRANGER, WRONG));
    assert!(!wrong.status.success() && !unknown.status.success());
    assert_eq!(stderr_of(&wrong), stderr_of(&unknown));
    assert_eq!(
        stderr_of(&wrong).trim().lines().count(),
        1,
        "{}",
        stderr_of(&wrong)
    );
    assert!(
        !stderr_of(&unknown).contains(STRANGER),
        "{}",
        stderr_of(&unknown)
    );
    assert!(cuhk.stop(), "cuhk exits 0 on SIGTERM");
}

#[test]
fn an_unknown_id_gets_the_refusal_a_wrong_code_gets_mio() {
    an_unknown_id_gets_the_refusal_a_wrong_code_gets("mio");
}

#[test]
fn an_unknown_id_gets_the_refusal_a_wrong_code_gets_smol() {
    an_unknown_id_gets_the_refusal_a_wrong_code_gets("smol");
}
