//! Blackboard under a deadline storm, with the real binary on loopback, real SQLite and real
//! files: submissions ready at the same time share one directory fsync and one transaction
//! (group commit), a refusal inside a batch refuses only its own submission, a failed commit
//! refuses its whole batch and keeps nothing of it, and a small server-wide upload buffer makes
//! many concurrent uploads wait for the disk (TCP backpressure) without stalling any of them.
//!
//! The students are pre-enrolled (their certificates issued directly by the CA) and drive the
//! protocol core over the same client links the `student` command uses, from one thread each.

use handin::net::{self, Transport};
use handin_core::driver::{Link, Step};
use handin_core::msg::UploadOffer;
use handin_core::pki::{from_pem_or_der, new_student_key, StudentId};
use handin_core::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use handin_core::submit::sha256;
use handin_core::{
    ClientConfig, Identity, ReceiptBody, Refusal, RefusalCode, Role, SubmitClient,
    SubmitClientEvent,
};
use handin_services::board::Board;
use handin_services::cuhk::PkiDir;
use handin_tests::*;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `blackboard serve -v` for the campus, on `transport`, with extra arguments.
fn start_blackboard(campus: &Campus, transport: &str, extra: &[&str]) -> Server {
    let mut c = campus.blackboard_serve(&campus.data());
    c.args(["--listen", "127.0.0.1:0", "--transport", transport])
        .args(extra);
    Server::start(c, "blackboard")
}

/// Pre-enrolled students: certificates issued directly by the campus CA.
struct Students {
    ca: CertificateDer<'static>,
    pki: PkiDir,
}

impl Students {
    fn new(campus: &Campus) -> Self {
        let pki = PkiDir::new(&campus.pki());
        let pem = std::fs::read(pki.ca_cert()).expect("ca.crt");
        let ca = CertificateDer::from(from_pem_or_der(&pem, "CERTIFICATE").expect("pem").remove(0));
        Self { ca, pki }
    }

    /// A client configuration holding a fresh certificate for `id`.
    fn config(&self, id: &str) -> ClientConfig {
        let ca = self.pki.ca().expect("the CA");
        let sid = StudentId::parse(id).expect("student id");
        let key = new_student_key(&sid).expect("key");
        let csr = handin_core::pki::check_csr(&key.csr_der, Some(&sid)).expect("csr");
        let cert = ca
            .issue_student(&csr, SystemTime::now(), Duration::from_secs(86_400))
            .expect("certificate");
        let identity = Identity {
            chain: vec![cert, self.ca.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.key_der)),
        };
        ClientConfig::new(Role::Submit, self.ca.clone(), Some(identity)).expect("config")
    }
}

/// One submission to make.
#[derive(Clone)]
struct Job {
    student: String,
    assignment: String,
    file_name: String,
    bytes: Arc<Vec<u8>>,
}

impl Job {
    fn new(student: &str, assignment: &str, file_name: &str, size: usize, seed: u64) -> Self {
        Self {
            student: student.into(),
            assignment: assignment.into(),
            file_name: file_name.into(),
            bytes: Arc::new(pattern(size, seed)),
        }
    }

    fn offer(&self) -> UploadOffer {
        UploadOffer {
            course: "CSCI3180".into(),
            assignment: self.assignment.clone(),
            file_name: self.file_name.clone(),
            size: self.bytes.len() as u64,
            sha256: sha256(&self.bytes),
        }
    }
}

/// Distinct pseudo-random bytes for each seed.
fn pattern(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// What Blackboard answered.
type Outcome = Result<ReceiptBody, Refusal>;

/// Submits `job` over a fresh connection. With `hold`, reports on `hold.0` once every byte
/// has been sent, and sends the end of the upload only when `hold.1` lets it.
fn submit(
    addr: &str,
    transport: Transport,
    config: &ClientConfig,
    job: &Job,
    hold: Option<(&mpsc::Sender<()>, &Barrier)>,
) -> Outcome {
    let name = handin_core::config::server_name("127.0.0.1").expect("name");
    let mut conn = SubmitClient::new(
        config,
        name,
        handin_core::Now::new(std::time::Instant::now(), SystemTime::now()),
    )
    .expect("client");
    let addr = net::resolve(addr).expect("addr");
    let mut link = net::connect(transport, addr, Duration::from_secs(10)).expect("connect");
    let offer = job.offer();
    let mut sent = 0usize;
    let mut held = false;
    let mut outcome: Option<Outcome> = None;
    link.run(&mut conn, |c, progress| {
        while let Some(ev) = c.poll_event() {
            match ev {
                SubmitClientEvent::Connected { .. } => {
                    c.submit(offer.clone()).expect("submit");
                }
                SubmitClientEvent::Receipt { body, .. } => outcome = Some(Ok(body)),
                SubmitClientEvent::Refused(r) => outcome = Some(Err(r)),
                _ => {}
            }
        }
        // Stream while the link keeps up, a quarter MiB ahead at most.
        let mut room = (256 * 1024usize).saturating_sub(progress.unsent);
        while c.is_uploading() && room > 0 && sent < job.bytes.len() {
            let n = (job.bytes.len() - sent).min(64 * 1024).min(room);
            c.send_data(&job.bytes[sent..sent + n]).expect("send");
            sent += n;
            room -= n;
        }
        if c.is_uploading() && sent == job.bytes.len() {
            if let Some((ready, go)) = hold {
                if !held && progress.unsent == 0 {
                    held = true;
                    ready.send(()).expect("report ready");
                    go.wait();
                }
            }
            if hold.is_none() || held {
                c.finish_upload().expect("finish");
            }
        }
        if outcome.is_some() || c.is_closed() {
            Step::Done
        } else {
            Step::Continue
        }
    })
    .expect("the link");
    outcome.unwrap_or_else(|| {
        panic!(
            "{}: the connection ended without an answer: {:?}",
            job.student,
            conn.error()
        )
    })
}

/// Runs every job at once, one thread each; the outcomes in the jobs' order.
fn submit_all(addr: &str, transport: Transport, students: &Students, jobs: &[Job]) -> Vec<Outcome> {
    let configs: Vec<ClientConfig> = jobs.iter().map(|j| students.config(&j.student)).collect();
    let start = Barrier::new(jobs.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .zip(&configs)
            .map(|(job, config)| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    submit(addr, transport, config, job, None)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a client thread"))
            .collect()
    })
}

/// Every record has its file with the recorded size and hash, every file has a record, and
/// nothing is left in `tmp/`: checked on the store reopened after the server stopped.
fn assert_store_consistent(campus: &Campus, data: &Path) -> Board {
    let board = campus.reopen_board(data).expect("the store reopens");
    let all = board.all().expect("records");
    let mut ids = HashSet::new();
    for e in &all {
        let bytes = std::fs::read(data.join("files").join(&e.id))
            .unwrap_or_else(|err| panic!("the record {} has no file: {err}", e.id));
        assert_eq!(bytes.len() as u64, e.size, "{}", e.id);
        assert_eq!(sha256(&bytes), e.sha256, "{}", e.id);
        ids.insert(e.id.clone());
    }
    for name in names_in(&data.join("files")) {
        assert!(ids.contains(&name), "files/{name} has no record");
    }
    assert!(
        uploads_in(&campus.uploads_dir(data)).is_empty(),
        "tmp/ is not empty"
    );
    board
}

/// A field `name=value` of a log line.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
}

/// The exact bytes of a size field of a log line, as Blackboard logs sizes:
/// `name=1 MiB (1,048,576 bytes)`, or `name=512 bytes`.
fn size_field(line: &str, name: &str) -> Option<usize> {
    let value = line.split(&format!(" {name}=")).nth(1)?;
    let exact = match value.split_once(" (") {
        Some((_, rest)) if !value.split_whitespace().nth(1)?.starts_with("bytes") => {
            rest.split_once(" bytes)")?.0
        }
        _ => value.split_whitespace().next()?,
    };
    exact.replace(',', "").parse().ok()
}

/// Every "group commit" line of the log: (batch, size, stored, refused).
fn batches(log: &str) -> Vec<(u64, usize, usize, usize)> {
    log.lines()
        .filter(|l| l.contains("group commit") && !l.contains("failed"))
        .filter_map(|l| {
            Some((
                field(l, "batch")?.parse().ok()?,
                field(l, "size")?.parse().ok()?,
                field(l, "stored")?.parse().ok()?,
                field(l, "refused")?.parse().ok()?,
            ))
        })
        .collect()
}

/// Stops the server with SIGTERM and returns its whole log once it said it stopped.
fn stop_and_log(bb: Server) -> String {
    bb.signal("TERM");
    let log = poll(Duration::from_secs(40), Duration::from_millis(50), || {
        let log = bb.log();
        log.contains("blackboard: stopped").then_some(log)
    });
    let log = log.unwrap_or_else(|| panic!("blackboard did not stop:\n{}", bb.log()));
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
    log
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// `blackboard assignment add` on the campus while the server runs.
fn set_assignment(campus: &Campus, assignment: &str, max: &str) {
    ok(campus.blackboard_admin(&[
        "assignment",
        "add",
        "CSCI3180",
        assignment,
        "--due",
        "2099-01-01T00:00:00Z",
        "--max-size",
        max,
    ]));
}

// ---------------------------------------------------------------------------------------------
// 1. Many concurrent submissions, committed in shared transactions
// ---------------------------------------------------------------------------------------------

fn many_concurrent_submissions(transport: &str) {
    const STUDENTS: usize = 48;
    let campus = Campus::new();
    let students = Students::new(&campus);
    let bb = start_blackboard(&campus, transport, &[]);
    let t = if transport == "smol" {
        Transport::Smol
    } else {
        Transport::Mio
    };

    let mut jobs: Vec<Job> = (0..STUDENTS)
        .map(|i| {
            Job::new(
                &format!("11557{i:05}"),
                "hw1",
                "report.pdf",
                20_000 + 3_000 * i,
                i as u64 + 1,
            )
        })
        .collect();
    // The same student sends the same file name twice at once: versions 1 and 2.
    jobs.push(Job::new("1155700000", "hw1", "report.pdf", 12_345, 1000));
    let outcomes = submit_all(&bb.addr, t, &students, &jobs);

    let mut ids = HashSet::new();
    let mut versions: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (job, outcome) in jobs.iter().zip(&outcomes) {
        let body = outcome
            .as_ref()
            .unwrap_or_else(|r| panic!("{} refused: {r:?}\n{}", job.student, tail(&bb.log())));
        assert_eq!(body.student_id, job.student);
        assert_eq!(body.size, job.bytes.len() as u64);
        assert_eq!(body.sha256, sha256(&job.bytes));
        assert!(!body.late);
        assert!(
            ids.insert(body.id.clone()),
            "submission id {} twice",
            body.id
        );
        versions
            .entry(job.student.clone())
            .or_default()
            .push(body.version);
        let stored = std::fs::read(campus.data().join("files").join(&body.id)).expect("stored");
        assert!(
            stored == *job.bytes,
            "the stored file of {} differs",
            job.student
        );
    }
    let mut twice = versions
        .remove("1155700000")
        .expect("the student who sent twice");
    twice.sort();
    assert_eq!(twice, [1, 2]);
    assert!(versions.values().all(|v| v == &[1]), "{versions:?}");

    let log = stop_and_log(bb);
    let batches = batches(&log);
    let stored: usize = batches.iter().map(|b| b.2).sum();
    assert_eq!(
        stored,
        jobs.len(),
        "every submission went through a group commit"
    );
    let largest = batches.iter().map(|b| b.1).max().unwrap_or(0);
    eprintln!(
        "{} submissions in {} commits (largest {largest})",
        jobs.len(),
        batches.len()
    );
    assert!(
        largest >= 2,
        "no two submissions ever shared a commit: {batches:?}"
    );

    // Reopened, the store holds exactly what was receipted.
    let board = assert_store_consistent(&campus, &campus.data());
    let recorded: HashSet<String> = board
        .all()
        .expect("records")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(recorded, ids);
}

#[test]
fn many_concurrent_submissions_are_all_receipted_stored_intact_and_share_commits() {
    many_concurrent_submissions("mio");
}

#[test]
fn many_concurrent_submissions_on_the_smol_server_too() {
    many_concurrent_submissions("smol");
}

// ---------------------------------------------------------------------------------------------
// 2. One submission refused inside a batch
// ---------------------------------------------------------------------------------------------

#[test]
fn a_submission_refused_at_commit_leaves_the_rest_of_its_batch_stored() {
    const OTHERS: usize = 12;
    let campus = Campus::new();
    set_assignment(&campus, "hw2", "10MB");
    let students = Students::new(&campus);
    let bb = start_blackboard(&campus, "mio", &[]);
    let mut receipted = Vec::new();
    // Which submissions share a commit is up to timing: a few rounds make it all but certain
    // that the refused one shares a batch with stored ones at least once.
    let mut shared_a_batch = false;
    for round in 0..5u64 {
        set_assignment(&campus, "hw2", "10MB");
        let mut jobs: Vec<Job> = (0..OTHERS)
            .map(|i| {
                Job::new(
                    &format!("11558{i:05}"),
                    "hw1",
                    &format!("r{round}.bin"),
                    150_000 + 1_000 * i,
                    round * 100 + i as u64,
                )
            })
            .collect();
        jobs.push(Job::new(
            "1155899999",
            "hw2",
            &format!("big{round}.bin"),
            300_000,
            7,
        ));
        let configs: Vec<ClientConfig> = jobs.iter().map(|j| students.config(&j.student)).collect();
        let (ready_tx, ready_rx) = mpsc::channel();
        let go = Barrier::new(jobs.len() + 1);
        let outcomes: Vec<Outcome> = std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .iter()
                .zip(&configs)
                .map(|(job, config)| {
                    let (ready_tx, go, addr) = (ready_tx.clone(), &go, &bb.addr);
                    s.spawn(move || {
                        submit(addr, Transport::Mio, config, job, Some((&ready_tx, go)))
                    })
                })
                .collect();
            for _ in 0..jobs.len() {
                ready_rx
                    .recv_timeout(Duration::from_secs(60))
                    .expect("every upload is under way");
            }
            // Every offer was accepted; now hw2's limit drops below the big file, while the
            // server holds every upload in progress.
            set_assignment(&campus, "hw2", "100KB");
            go.wait();
            handles
                .into_iter()
                .map(|h| h.join().expect("a client thread"))
                .collect()
        });
        let (others, victim) = outcomes.split_at(OTHERS);
        let refused = victim[0].as_ref().expect_err("the big file is refused");
        assert_eq!(refused.code, RefusalCode::TooLarge, "{refused:?}");
        for (job, o) in jobs.iter().zip(others) {
            let body = o
                .as_ref()
                .unwrap_or_else(|r| panic!("{} refused: {r:?}\n{}", job.student, tail(&bb.log())));
            assert_eq!(body.sha256, sha256(&job.bytes));
            receipted.push((body.id.clone(), job.bytes.clone()));
        }
        let log = poll(Duration::from_secs(10), Duration::from_millis(20), || {
            let log = bb.log();
            (batches(&log).iter().map(|b| b.3).sum::<usize>() > round as usize).then_some(log)
        })
        .expect("the refusal is logged");
        shared_a_batch = batches(&log)
            .iter()
            .any(|&(_, _, stored, refused)| stored >= 1 && refused >= 1);
        if shared_a_batch {
            eprintln!("round {round}: the refused submission shared a batch with stored ones");
            break;
        }
    }
    assert!(
        shared_a_batch,
        "the refused submission never shared a batch:\n{}",
        tail(&bb.log())
    );
    for (id, bytes) in &receipted {
        let stored = std::fs::read(campus.data().join("files").join(id)).expect("stored");
        assert!(stored == **bytes, "{id} differs");
    }
    stop_and_log(bb);
    let board = assert_store_consistent(&campus, &campus.data());
    let all = board.all().expect("records");
    assert_eq!(
        all.len(),
        receipted.len(),
        "exactly the receipted submissions"
    );
    assert!(all.iter().all(|e| e.assignment == "hw1"));
}

// ---------------------------------------------------------------------------------------------
// 3. A commit that fails
// ---------------------------------------------------------------------------------------------

#[test]
fn a_failed_commit_refuses_its_batch_keeps_nothing_of_it_and_the_next_student_is_served() {
    let campus = Campus::new();
    let students = Students::new(&campus);
    let bb = start_blackboard(&campus, "mio", &[]);
    let first = Job::new(ALICE, "hw1", "first.bin", 50_000, 1);
    let kept = submit(
        &bb.addr,
        Transport::Mio,
        &students.config(ALICE),
        &first,
        None,
    )
    .expect("the first submission");

    // The fault: every record inserts, but no transaction can commit (a deferred foreign key
    // never satisfied), so the files are renamed and the directory synced before it fails.
    let fault = Fault::add(&campus);
    let jobs: Vec<Job> = (0..8)
        .map(|i| {
            Job::new(
                &format!("11559{i:05}"),
                "hw1",
                "hw.bin",
                80_000 + i,
                10 + i as u64,
            )
        })
        .collect();
    for (job, o) in jobs
        .iter()
        .zip(submit_all(&bb.addr, Transport::Mio, &students, &jobs))
    {
        let r = o.expect_err("a submission during the fault is refused");
        assert_eq!(r.code, RefusalCode::Storage, "{}: {r:?}", job.student);
        assert!(
            r.reason.contains("nothing was"),
            "{}: {}",
            job.student,
            r.reason
        );
    }
    let log = bb.log();
    assert!(log.contains("group commit failed"), "{}", tail(&log));
    assert!(
        log.to_lowercase().contains("foreign key"),
        "the cause is logged:\n{}",
        tail(&log)
    );
    // Nothing of the failed batches: only the first file, nothing left in tmp/.
    let settled = poll(Duration::from_secs(10), Duration::from_millis(20), || {
        (uploads_in(&campus.uploads_dir(&campus.data())).is_empty()
            && names_in(&campus.data().join("files")) == [kept.id.clone()])
        .then_some(())
    });
    assert!(
        settled.is_some(),
        "files {:?}, tmp {:?}",
        names_in(&campus.data().join("files")),
        uploads_in(&campus.uploads_dir(&campus.data()))
    );

    // The fault removed, the next students are served, without a restart.
    fault.remove();
    let next = Job::new(BOB, "hw1", "hw.bin", 90_000, 99);
    let body = submit(&bb.addr, Transport::Mio, &students.config(BOB), &next, None)
        .expect("the next student is served");
    assert_eq!(body.version, 1, "the refused ones left no version behind");
    let again = submit(
        &bb.addr,
        Transport::Mio,
        &students.config(&jobs[0].student),
        &jobs[0],
        None,
    )
    .expect("a refused student submits again");
    assert_eq!(again.version, 1);
    stop_and_log(bb);
    let board = assert_store_consistent(&campus, &campus.data());
    let mut ids: Vec<String> = board
        .all()
        .expect("records")
        .into_iter()
        .map(|e| e.id)
        .collect();
    ids.sort();
    let mut want = vec![kept.id, body.id, again.id];
    want.sort();
    assert_eq!(ids, want);
}

/// A fault in the campus's Blackboard database, made beside the running server: through the
/// SQLite file, or with `psql` in PostgreSQL.
enum Fault {
    /// Removes the fault through the open SQLite connection.
    Sqlite(Box<dyn FnOnce()>),
    Postgres(String),
}

impl Fault {
    fn add(campus: &Campus) -> Self {
        match campus.postgres() {
            None => {
                let db = campus.data().join("blackboard.db");
                let raw = handin_services::store::sqlite::open(&db, "", 3)
                    .expect("the database, beside the server");
                raw.execute_batch(
                    "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                     CREATE TABLE fault (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
                     CREATE TRIGGER fault AFTER INSERT ON submissions
                     BEGIN INSERT INTO fault (p) VALUES (1); END;",
                )
                .expect("the fault");
                Self::Sqlite(Box::new(move || {
                    raw.execute_batch("DROP TRIGGER fault; DROP TABLE fault; DROP TABLE parent;")
                        .expect("the fault goes")
                }))
            }
            Some(pg) => {
                let url = pg.board_url(&campus.data());
                psql(
                    &url,
                    "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                     CREATE TABLE fault (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
                     CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS
                       $$ BEGIN INSERT INTO fault (p) VALUES (1); RETURN NEW; END $$;
                     CREATE TRIGGER fault AFTER INSERT ON submissions
                       FOR EACH ROW EXECUTE FUNCTION fault();",
                );
                Self::Postgres(url)
            }
        }
    }

    fn remove(self) {
        match self {
            Self::Sqlite(remove) => remove(),
            Self::Postgres(url) => psql(
                &url,
                "DROP TRIGGER fault ON submissions; DROP FUNCTION fault();
                 DROP TABLE fault; DROP TABLE parent;",
            ),
        }
    }
}

/// Runs `sql` with `psql` (PostgreSQL's own client) on the database at `url`.
fn psql(url: &str, sql: &str) {
    let mut c = Command::new("psql");
    c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql]);
    ok(c);
}

// ---------------------------------------------------------------------------------------------
// 4. A small upload buffer: backpressure without deadlock
// ---------------------------------------------------------------------------------------------

fn small_upload_buffer(transport: &str) {
    const STUDENTS: usize = 16;
    const SIZE: usize = 3 * 1024 * 1024;
    const CAP: usize = 1024 * 1024;
    let campus = Campus::new();
    let students = Students::new(&campus);
    let bb = start_blackboard(&campus, transport, &["--upload-buffer", "1MiB"]);
    let t = if transport == "smol" {
        Transport::Smol
    } else {
        Transport::Mio
    };
    let jobs: Vec<Job> = (0..STUDENTS)
        .map(|i| {
            Job::new(
                &format!("11554{i:05}"),
                "hw1",
                "big.bin",
                SIZE + i,
                50 + i as u64,
            )
        })
        .collect();
    let outcomes = submit_all(&bb.addr, t, &students, &jobs);
    for (job, o) in jobs.iter().zip(&outcomes) {
        let body = o
            .as_ref()
            .unwrap_or_else(|r| panic!("{} refused: {r:?}\n{}", job.student, tail(&bb.log())));
        let stored = std::fs::read(campus.data().join("files").join(&body.id)).expect("stored");
        assert!(
            stored == *job.bytes,
            "the stored file of {} differs",
            job.student
        );
    }
    let log = stop_and_log(bb);
    let line = log
        .lines()
        .find(|l| l.contains("upload buffer"))
        .unwrap_or_else(|| panic!("no upload buffer line:\n{}", tail(&log)));
    eprintln!("{line}");
    let cap = size_field(line, "cap").expect("cap");
    let peak = size_field(line, "peak").expect("peak");
    let waits: u64 = field(line, "waits")
        .and_then(|v| v.parse().ok())
        .expect("waits");
    assert_eq!(cap, CAP);
    assert!(
        waits > 0,
        "the buffer never filled, so nothing was tested: {line}"
    );
    // Past the cap by at most what the event loops read while it filled.
    assert!(
        peak <= CAP + 512 * 1024,
        "{peak} bytes held at once: {line}"
    );
    assert_store_consistent(&campus, &campus.data());
}

#[test]
fn with_a_one_mib_upload_buffer_many_concurrent_multi_mib_uploads_all_complete() {
    small_upload_buffer("mio");
}

#[test]
fn the_same_on_the_smol_server() {
    small_upload_buffer("smol");
}

// ---------------------------------------------------------------------------------------------
// 5. The flag
// ---------------------------------------------------------------------------------------------

#[test]
fn the_upload_buffer_flag_is_documented_and_checked() {
    let help = ok({
        let mut c = cmd("blackboard");
        c.args(["serve", "--help"]);
        c
    });
    assert!(help.contains("--upload-buffer"), "{help}");
    assert!(help.contains("256MiB"), "the default is shown: {help}");
    let campus = Campus::new();
    for bad in ["1KiB", "lots"] {
        let mut c = campus.blackboard_serve(&campus.data());
        c.args(["--listen", "127.0.0.1:0", "--upload-buffer", bad]);
        let err = fails(c);
        assert!(err.contains("--upload-buffer"), "{bad}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}
