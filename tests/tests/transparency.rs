//! handin's transparency logs through the real binaries, on one campus: a commitment before the
//! due time makes a submission after it on time; `verify-receipt` shows the receipt's place in
//! Blackboard's log and refuses a receipt whose log proof was tampered with; `student audit`
//! passes on honest logs and compares checkpoints between students; `staff audit-log` replays
//! both logs. Then the attacks, each caught: a checkpoint of another history signed with
//! Blackboard's log key (a split view), a certificate for a student's ID made with CUHK's CA key
//! and appended to CUHK's log as the server appends, one obtained with a second enrollment code,
//! and a receipt's entry rewritten in Blackboard's database.

use handin_core::logs::{LogEntry, LogProof};
use handin_core::pki::{check_person_csr, new_person_key, rfc3339, Ca, PersonId};
use handin_core::rustls::pki_types::{pem::PemObject, PrivatePkcs8KeyDer};
use handin_core::tlog::{Checkpoint, Hash, NoteSigner};
use handin_core::Receipt;
use handin_services::cuhk::PkiDir;
use handin_tests::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

const CAROL: &str = "1155000003";
const MALLORY: &str = "mallory";

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// `student audit --json` as `who` (with `extra` flags): its exit code and report.
fn audit(campus: &Campus, who: &str, extra: &[&Path]) -> (Option<i32>, Value, String) {
    let mut c = campus.student(who, &["audit", "--json"]);
    for checkpoint in extra {
        c.arg("--checkpoint").arg(checkpoint);
    }
    let out = run(c);
    (out.status.code(), json(&stdout_of(&out)), stderr_of(&out))
}

fn passes(campus: &Campus, who: &str) -> Value {
    let (code, report, err) = audit(campus, who, &[]);
    assert_eq!(code, Some(0), "{report} {err}");
    assert_eq!(report["passed"], true, "{report}");
    report
}

fn alarms(report: &Value) -> String {
    report["alarms"]
        .as_array()
        .expect("alarms")
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

fn audit_log(campus: &Campus, bb: &Server, log: &str) -> Output {
    let mut c = campus.staff(TEACHER, &["audit-log", "--blackboard", &bb.addr, "--json"]);
    c.args(["--log", log]);
    run(c)
}

fn pki(campus: &Campus) -> PkiDir {
    PkiDir::new(&campus.pki()).with_db(campus.postgres().map(|p| p.cuhk_url().to_owned()))
}

/// A certificate for `id` made with CUHK's CA key, appended to CUHK's log in a transaction of
/// its records, as the server appends the certificates it issues (but without a record of it:
/// what an intruder holding the CA key and the database would leave).
fn rogue_certificate(campus: &Campus, id: &str) -> Vec<u8> {
    let dir = pki(campus);
    let ca = Ca::from_pem(
        &std::fs::read_to_string(dir.ca_cert()).expect("ca.crt"),
        &std::fs::read_to_string(dir.ca_key()).expect("ca.key"),
    )
    .expect("the CA");
    let person = PersonId::parse(id).expect("id");
    let key = new_person_key(&person).expect("key");
    let csr = check_person_csr(&key.csr_der, Some(&person)).expect("csr");
    let der = ca
        .issue_person(&csr, SystemTime::now(), Duration::from_secs(86_400))
        .expect("issued")
        .to_vec();
    let writer = dir.log_writer().expect("CUHK's log key");
    let mut records = dir.records().expect("CUHK's records");
    let mut tx = records.begin().expect("a transaction");
    let mut batch = writer.start(tx.log()).expect("the log head");
    batch.push(LogEntry::Certificate(der.clone()).encode());
    batch.finish(tx.log()).expect("appended");
    tx.commit().expect("committed");
    der
}

/// A checkpoint of Blackboard's log of the same size as `head`'s but another root, signed with
/// Blackboard's log key: what a log shows a second audience in a split view.
fn forged_checkpoint(campus: &Campus, head: &Value) -> String {
    let text = std::fs::read_to_string(campus.data().join("log.key")).expect("log.key");
    let (name, pem) = text.split_once('\n').expect("a name line");
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).expect("the key");
    let signer = NoteSigner::from_pkcs8(name.trim(), der.secret_pkcs8_der()).expect("signer");
    let size = head["size"].as_u64().expect("size");
    Checkpoint::new(name.trim(), size, Hash([0x5a; 32]))
        .sign(&signer)
        .expect("signed")
}

/// Rewrites entry `index` of Blackboard's log where the store keeps its entries (not its
/// hashes), as someone with the database would: `log_entries` in `blackboard.db`, or
/// `blackboard_log_entries` in PostgreSQL.
fn rewrite_entry(campus: &Campus, index: u64, data: &[u8]) {
    let idx = i64::try_from(index).expect("index");
    let changed = match campus.postgres() {
        Some(pg) => {
            let url = pg.board_url(&campus.data());
            let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("PostgreSQL");
            db.execute(
                "UPDATE blackboard_log_entries SET data = $1 WHERE idx = $2",
                &[&data, &idx],
            )
            .expect("update") as usize
        }
        None => {
            let db = rusqlite::Connection::open(campus.data().join("blackboard.db"))
                .expect("blackboard.db");
            db.busy_timeout(Duration::from_secs(10)).expect("timeout");
            db.execute(
                "UPDATE log_entries SET data = ?1 WHERE idx = ?2",
                rusqlite::params![data, idx],
            )
            .expect("update")
        }
    };
    assert_eq!(changed, 1, "entry {index} rewritten");
}

/// The receipt file at `path`, with its log proof's index moved by one.
fn with_wrong_index(path: &Path, out: &Path) {
    let receipt = Receipt::from_pem(&std::fs::read(path).expect("receipt")).expect("a receipt");
    let proof = receipt.log_proof().expect("a logged receipt").clone();
    let wrong = receipt.with_log(LogProof {
        index: proof.index + 1,
        ..proof
    });
    std::fs::write(out, wrong.to_pem()).expect("written");
}

/// `student --profile P ARGS` for a command without network flags.
fn local(campus: &Campus, who: &str, args: &[&str]) -> Command {
    let mut c = client_cmd("student");
    c.arg("--profile").arg(campus.profile(who)).args(args);
    c
}

/// `BIN --profile PROFILE config --cuhk ... --blackboard ...`.
fn config(profile: PathBuf, bin: &str, cuhk: &Server, bb: &Server) -> Command {
    let mut c = client_cmd(bin);
    c.arg("--profile").arg(profile).args([
        "config",
        "--cuhk",
        &cuhk.addr,
        "--blackboard",
        &bb.addr,
    ]);
    c
}

fn commit_cmd(campus: &Campus, bb: &Server, who: &str, file: &Path, assignment: &str) -> Command {
    let mut c = campus.student(who, &["commit"]);
    c.arg(file).args([
        "--course",
        "CSCI3180",
        "--assignment",
        assignment,
        "--blackboard",
        &bb.addr,
        "--json",
    ]);
    c
}

#[test]
fn the_logs_are_kept_honest_by_their_audits() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    for who in [ALICE, BOB, CAROL] {
        campus.enroll(&cuhk, who);
        // Later commands find both servers in the profile, as after `enroll --blackboard`.
        ok(config(campus.profile(who), "student", &cuhk, &bb));
    }
    campus.enroll_staff(&cuhk, TEACHER);
    ok(config(campus.profile(TEACHER), "staff", &cuhk, &bb));
    ok(campus.blackboard_admin(&["course", "add", "CSCI3180"]));
    ok(campus.blackboard_admin(&["course", "staff", "CSCI3180", "--add", TEACHER]));

    // hw2 is due in a few seconds, with a minute's grace for committed work.
    let due = SystemTime::now() + Duration::from_secs(4);
    ok(campus.blackboard_admin(&[
        "assignment",
        "add",
        "CSCI3180",
        "hw2",
        "--due",
        &rfc3339(due),
        "--max-size",
        "1MB",
        "--grace",
        "1m",
    ]));
    let essay = campus.path("essay.txt");
    std::fs::write(&essay, b"alice's essay, final").expect("essay");
    let committed = json(&ok(commit_cmd(&campus, &bb, ALICE, &essay, "hw2")));
    let commitment = PathBuf::from(committed["commitment"].as_str().expect("path"));
    assert!(commitment.is_file());
    assert_eq!(committed["sha256"], sha256_hex(b"alice's essay, final"));
    let other = campus.path("other.txt");
    std::fs::write(&other, b"bob's essay").expect("other");
    while SystemTime::now() < due + Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Past the due time: no more commitments (exit 4), but Alice's committed bytes are on time.
    let late = run(commit_cmd(&campus, &bb, BOB, &other, "hw2"));
    assert_eq!(late.status.code(), Some(4), "{}", stderr_of(&late));
    let on_time = campus.submit(&bb, ALICE, &essay, "hw2");
    assert_eq!(on_time["late"], false, "{on_time}");
    assert_eq!(on_time["committed_at"], committed["committed_at"]);
    let bobs = campus.submit(&bb, BOB, &other, "hw2");
    assert_eq!(
        (&bobs["late"], &bobs["committed_at"]),
        (&true.into(), &Value::Null)
    );
    let carols = campus.submit(&bb, CAROL, &other, "hw1");
    let receipt = PathBuf::from(on_time["receipt"].as_str().expect("receipt"));

    // The receipt's place in the log, checked offline; a tampered proof is not valid.
    let mut verify = local(&campus, ALICE, &["verify-receipt"]);
    verify.arg(&receipt);
    let shown = ok(verify);
    assert!(shown.contains("in Blackboard's log "), "{shown}");
    assert!(shown.contains(": proof checked offline"), "{shown}");
    assert!(
        shown.contains(&format!(
            "committed at {}, received at {}",
            committed["committed_at"].as_str().expect("time"),
            on_time["received_at"].as_str().expect("time")
        )),
        "{shown}"
    );
    let mut verify = local(&campus, ALICE, &["verify-receipt", "--json"]);
    verify.arg(&receipt);
    let v = json(&ok(verify));
    assert_eq!(v["log"]["key"], "pinned", "{v}");
    let receipt_index = v["log"]["index"].as_u64().expect("index");
    assert!(receipt_index > committed["log"]["index"].as_u64().expect("index"));
    let tampered = campus.path("tampered.receipt");
    with_wrong_index(&receipt, &tampered);
    let mut verify = local(&campus, ALICE, &["verify-receipt"]);
    verify.arg(&tampered);
    let out = run(verify);
    assert_eq!(out.status.code(), Some(5), "{}", stdout_of(&out));
    assert!(stderr_of(&out).contains("NOT valid"), "{}", stderr_of(&out));

    // Honest logs pass; a second audit sees the same logs.
    let first = passes(&campus, ALICE);
    assert_eq!(first["receipts"][0]["status"], "ok", "{first}");
    assert_eq!(first["commitments"][0]["status"], "ok", "{first}");
    assert_eq!(
        first["logs"][1]["pinned_now"], true,
        "CUHK's key pinned at first use"
    );
    let second = passes(&campus, ALICE);
    assert_eq!(
        second["logs"][0]["previous_size"],
        second["logs"][0]["size"]
    );
    let bobs_view = passes(&campus, BOB);
    assert_eq!(bobs_view["logs"][0]["root"], second["logs"][0]["root"]);
    // Bob's saved checkpoints, compared by Alice: the same history.
    let bob_bb = campus.profile(BOB).join("logs/blackboard.checkpoint");
    let bob_cuhk = campus.profile(BOB).join("logs/cuhk.checkpoint");
    let (code, compared, err) = audit(&campus, ALICE, &[&bob_bb, &bob_cuhk]);
    assert_eq!(code, Some(0), "{compared} {err}");
    let outcomes: Vec<&str> = compared["checkpoints"]
        .as_array()
        .expect("checkpoints")
        .iter()
        .filter_map(|c| c["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["same", "same"]);
    for log in ["blackboard", "cuhk"] {
        let out = audit_log(&campus, &bb, log);
        assert!(out.status.success(), "{log}: {}", stderr_of(&out));
        let replayed = json(&stdout_of(&out));
        assert_eq!(replayed["passed"], true, "{replayed}");
        if log == "blackboard" {
            assert_eq!(
                (&replayed["receipts"], &replayed["commitments"]),
                (&3.into(), &1.into())
            );
        } else {
            // CUHK's and Blackboard's server certificates, three students and a teacher.
            assert_eq!(replayed["certificates"], 6, "{replayed}");
        }
    }

    // A split view: another checkpoint of the same size, signed with the log's key.
    let forged = campus.path("forged.checkpoint");
    std::fs::write(&forged, forged_checkpoint(&campus, &second["logs"][0])).expect("forged");
    let (code, report, _) = audit(&campus, ALICE, &[&forged]);
    assert_eq!(code, Some(5), "{report}");
    assert_eq!(
        report["checkpoints"][0]["outcome"], "split_view",
        "{report}"
    );
    assert!(alarms(&report).contains("SPLIT VIEW"), "{report}");
    assert_eq!(report["saved"], false);
    // A file that is no checkpoint of either log.
    let (code, report, _) = audit(&campus, ALICE, &[&commitment]);
    assert_eq!(
        (code, &report["checkpoints"][0]["outcome"]),
        (Some(5), &"unknown_key".into())
    );

    // A certificate for Bob's ID made with the CA key and logged: Bob's audit says so, loudly;
    // Alice's, about her own ID, still passes.
    let rogue = rogue_certificate(&campus, BOB);
    let (code, report, err) = audit(&campus, BOB, &[]);
    assert_eq!(code, Some(5), "{report}");
    assert!(alarms(&report).contains("ROGUE CERTIFICATE"), "{report}");
    assert!(alarms(&report).contains(&sha256_hex(&rogue)), "{report}");
    assert!(err.contains("alarm"), "{err}");
    let unknown: Vec<&Value> = report["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .filter(|c| c["known"] == false)
        .collect();
    assert_eq!(unknown.len(), 1, "{report}");
    assert_eq!(report["saved"], false);
    passes(&campus, ALICE);
    // The human report says it too.
    let text = run(campus.student(BOB, &["audit"]));
    assert_eq!(text.status.code(), Some(5));
    assert!(
        stdout_of(&text).contains("NEVER HELD BY THIS PROFILE"),
        "{}",
        stdout_of(&text)
    );

    // A second enrollment code for Carol, used by someone else: CUHK issues and logs a
    // certificate for her ID that her profile never held; revoked since, it is still reported.
    let code = campus.roster_add(CAROL);
    let mut c = campus.student(
        MALLORY,
        &["enroll", "--id", CAROL, "--code", &code, "--cuhk"],
    );
    c.arg(&cuhk.addr)
        .arg("--ca")
        .arg(campus.pki().join("ca.crt"));
    ok(c);
    let (code, report, _) = audit(&campus, CAROL, &[]);
    assert_eq!(code, Some(5), "{report}");
    assert!(alarms(&report).contains("ROGUE CERTIFICATE"), "{report}");

    // Alice's receipt rewritten in Blackboard's database: her audit and the monitor catch it.
    let entry = LogEntry::Receipt({
        let mut body = Receipt::from_pem(&std::fs::read(&receipt).expect("receipt"))
            .expect("receipt")
            .body_unverified()
            .expect("body");
        body.late = true;
        body.committed_at = None;
        body
    });
    rewrite_entry(&campus, receipt_index, &entry.encode());
    let (code, report, _) = audit(&campus, ALICE, &[]);
    assert_eq!(code, Some(5), "{report}");
    let said = alarms(&report);
    assert!(said.contains(&format!("entry {receipt_index}")), "{said}");
    assert!(said.contains("rewritten"), "{said}");
    assert_eq!(report["receipts"][0]["status"], "alarm", "{report}");
    let out = audit_log(&campus, &bb, "blackboard");
    assert_eq!(out.status.code(), Some(5), "{}", stdout_of(&out));
    assert!(stderr_of(&out).contains("rewritten"), "{}", stderr_of(&out));
    // Carol's receipt is in the same entry bundle: her audit, too, finds the bundle no longer
    // matches the log's hashes, and names the entry rewritten.
    let (_, report, _) = audit(&campus, CAROL, &[]);
    assert_eq!(report["receipts"][0]["id"], carols["id"]);
    assert_eq!(report["receipts"][0]["status"], "alarm", "{report}");
    assert!(
        alarms(&report).contains(&format!("entry {receipt_index}")),
        "{report}"
    );

    // Once Alice's profile pinned a log key, a receipt in another log is not accepted: as if
    // she had pinned another key (CUHK's) before Blackboard answered.
    let pin = campus.profile(ALICE).join("logs/blackboard.vkey");
    let real = std::fs::read(&pin).expect("pinned key");
    std::fs::copy(campus.profile(ALICE).join("logs/cuhk.vkey"), &pin).expect("another key");
    let mut verify = local(&campus, ALICE, &["verify-receipt"]);
    verify.arg(&receipt);
    let out = run(verify);
    assert_eq!(out.status.code(), Some(5), "{}", stdout_of(&out));
    assert!(
        stderr_of(&out).contains("not the one your profile pinned"),
        "{}",
        stderr_of(&out)
    );
    let receipts = campus.profile(ALICE).join("receipts");
    let before = std::fs::read_dir(&receipts).expect("receipts").count();
    let out = run(submit_cmd(&campus, &bb, ALICE, &essay));
    assert_eq!(out.status.code(), Some(5), "{}", stdout_of(&out));
    assert!(
        stderr_of(&out).contains("receipt its pinned log does not hold"),
        "{}",
        stderr_of(&out)
    );
    let after = std::fs::read_dir(&receipts).expect("receipts").count();
    assert_eq!(after, before + 1, "the receipt is kept as evidence");
    std::fs::write(&pin, real).expect("restore");

    assert!(bb.stop());
    assert!(cuhk.stop());
}
