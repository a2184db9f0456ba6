//! The multi-node deployment, through the real binaries on loopback: one PostgreSQL server,
//! two CUHK nodes (each on a copy of the PKI directory, `--db`), three Blackboard nodes on one
//! shared blob directory behind HAProxy (TCP mode, TLS passed through). See
//! `handin_tests::cluster`.
//!
//! - Students enroll through either CUHK node; one code raced at both nodes at once is
//!   accepted exactly once.
//! - A storm of students submits through HAProxy, retrying as a student would on "try again"
//!   (exit codes 3 and 4), while one Blackboard node is SIGKILLed and PostgreSQL restarted.
//!   Every receipted submission is then listed and fetched byte-identical from every node
//!   directly, its receipt verifies, and no receipt exists for a failed attempt. The killed
//!   node, restarted under its name, empties its own `tmp/<node>/` and nothing else.
//! - With PostgreSQL stopped, a submit is refused with "try again" and no receipt; once it is
//!   back, the same node accepts without a restart.
//! - `cuhk revoke --db` on one CUHK node: within seconds every Blackboard node refuses the
//!   student.
//! - A profile naming several Blackboard addresses, the first dead, submits to the next.
//! - A web form's token from one node is accepted by another (they share the form key).

use handin_tests::cluster::{free_addr, Cluster};
use handin_tests::*;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Students in the storm.
const STORM_STUDENTS: usize = 48;
/// Processes submitting at once in the storm.
const STORM_WORKERS: usize = 8;
/// Attempts a student makes before giving up.
const ATTEMPTS: usize = 40;

/// Rosters `ids` with `cuhk roster import` on CUHK node 0; returns each ID's code.
fn roster_import(cluster: &Cluster, ids: &[String]) -> HashMap<String, String> {
    let csv = cluster.campus.path("roster.csv");
    std::fs::write(&csv, ids.join("\n") + "\n").expect("writing the roster");
    let mut c = cluster.cuhk_cmd(0, &["roster", "import"]);
    c.arg(&csv);
    let out = ok(c);
    out.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 3, "id,name,code: {line:?}");
            (f[0].to_owned(), f[2].to_owned())
        })
        .collect()
}

/// `student enroll` into the profile `profile`, at `cuhk`, trusting the campus's root file.
fn enroll_cmd(cluster: &Cluster, profile: &Path, id: &str, code: &str, cuhk: &str) -> Command {
    let mut c = client_cmd("student");
    c.arg("--profile")
        .arg(profile)
        .args(["enroll", "--id", id, "--code", code, "--cuhk", cuhk, "--ca"])
        .arg(cluster.campus.pki().join("ca.crt"));
    c
}

/// `student submit FILE` to CSCI3180/hw1 as `id` at `addr` (an address list allowed).
fn submit_to(cluster: &Cluster, id: &str, file: &Path, addr: &str) -> Command {
    let mut c = cluster.campus.student(id, &["submit"]);
    c.arg(file).args([
        "--course",
        "CSCI3180",
        "--assignment",
        "hw1",
        "--blackboard",
        addr,
        "--json",
    ]);
    c
}

/// The receipts a student's profile holds.
fn receipts(cluster: &Cluster, id: &str) -> Vec<String> {
    let mut v = names_in(&cluster.campus.profile(id).join("receipts"));
    v.sort();
    v
}

/// Whether an exit code is "try again": the server could not be reached (3) or refused for
/// now (4).
fn try_again(out: &Output) -> bool {
    matches!(out.status.code(), Some(3) | Some(4))
}

/// The outcome of one student's storm submission.
#[derive(Debug)]
struct Outcome {
    id: String,
    receipted: Option<Receipted>,
    failed_attempts: usize,
    last_error: String,
}

/// Submits `file` as `id` through `addr` until it gets a receipt, retrying on "try again".
fn submit_with_retry(cluster: &Cluster, id: &str, file: &Path, addr: &str) -> Outcome {
    let mut failed_attempts = 0;
    let mut last_error = String::new();
    for _ in 0..ATTEMPTS {
        let out = run(submit_to(cluster, id, file, addr));
        if out.status.success() {
            return Outcome {
                id: id.to_owned(),
                receipted: Some(Receipted::from_output(&out, file)),
                failed_attempts,
                last_error,
            };
        }
        failed_attempts += 1;
        last_error = format!("{}: {}", out.status, stderr_of(&out));
        if !try_again(&out) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Outcome {
        id: id.to_owned(),
        receipted: None,
        failed_attempts,
        last_error,
    }
}

/// Runs `job` over `items` on `threads` threads.
fn parallel<T: Sync, R: Send>(items: &[T], threads: usize, job: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = job(item);
                results.lock().expect("results").push((i, r));
            });
        }
    });
    let mut v = results.into_inner().expect("results");
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, r)| r).collect()
}

#[test]
fn enrollment_and_a_storm_survive_a_node_crash_and_a_database_restart() {
    let mut cluster = Cluster::start(2, 3);
    let started = Instant::now();

    // One code raced at both CUHK nodes at once: accepted exactly once.
    let racer = "1155099999";
    let code = cluster.campus.roster_add(racer);
    let profiles = [
        cluster.campus.path("racer-a"),
        cluster.campus.path("racer-b"),
    ];
    let outs: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = profiles
            .iter()
            .zip(&cluster.cuhk)
            .map(|(profile, cuhk)| {
                let c = enroll_cmd(&cluster, profile, racer, &code, &cuhk.addr);
                s.spawn(move || run(c))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an enrollment thread"))
            .collect()
    });
    let won: Vec<&Output> = outs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(
        won.len(),
        1,
        "one code raced at two nodes is accepted exactly once: {:?}",
        outs.iter().map(stderr_of).collect::<Vec<_>>()
    );
    let lost = outs.iter().find(|o| !o.status.success()).expect("one lost");
    assert!(stderr_of(lost).contains("used"), "{}", stderr_of(lost));

    // The storm's students, enrolled through either CUHK node.
    let ids: Vec<String> = (0..STORM_STUDENTS)
        .map(|i| format!("11550{:05}", i + 100))
        .collect();
    let codes = roster_import(&cluster, &ids);
    assert_eq!(codes.len(), ids.len(), "a code for each student");
    let numbered: Vec<(usize, String)> = ids.iter().cloned().enumerate().collect();
    parallel(&numbered, 4, |(i, id)| {
        let cuhk = &cluster.cuhk[i % cluster.cuhk.len()].addr;
        let profile = cluster.campus.profile(id);
        ok(enroll_cmd(&cluster, &profile, id, &codes[id], cuhk));
    });
    let mut files = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        let file = cluster.campus.path(&format!("work-{id}.bin"));
        write_pattern(&file, 64 * 1024 + i * 37 * 1024, i as u8);
        files.insert(id.clone(), file);
    }
    eprintln!("enrolled {} students in {:?}", ids.len(), started.elapsed());

    // The storm through HAProxy: node n1 is killed a third of the way, PostgreSQL restarted
    // two thirds of the way.
    let done = AtomicUsize::new(0);
    let proxy = cluster.haproxy.addr.clone();
    let storm_started = Instant::now();
    let (outcomes, events) = std::thread::scope(|s| {
        let cluster_ref = &cluster;
        let storm = s.spawn(|| {
            parallel(&ids, STORM_WORKERS, |id| {
                let r = submit_with_retry(cluster_ref, id, &files[id], &proxy);
                done.fetch_add(1, Ordering::SeqCst);
                r
            })
        });
        let mut events = Vec::new();
        let wait_for = |n: usize| {
            while done.load(Ordering::SeqCst) < n && !storm.is_finished() {
                std::thread::sleep(Duration::from_millis(5));
            }
            done.load(Ordering::SeqCst)
        };
        let at = wait_for(STORM_STUDENTS / 3);
        events.push(format!("killed n1 after {at} done"));
        // SIGKILL through the pid: the cluster is borrowed by the storm's threads.
        let pid = cluster_ref.node(0).pid();
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        let at = wait_for(2 * STORM_STUDENTS / 3);
        events.push(format!("restarting PostgreSQL after {at} done"));
        cluster_ref.pg.restart().expect("restarting PostgreSQL");
        events.push(format!(
            "PostgreSQL back with {} done",
            done.load(Ordering::SeqCst)
        ));
        (storm.join().expect("the storm"), events)
    });
    eprintln!(
        "storm of {} in {:?}: {events:?}",
        ids.len(),
        storm_started.elapsed()
    );
    // The node was SIGKILLed above; reap it, then start it again under its name.
    cluster.kill_node(0);
    let failed: Vec<(&str, &str)> = outcomes
        .iter()
        .filter(|o| o.receipted.is_none())
        .map(|o| (o.id.as_str(), o.last_error.as_str()))
        .collect();
    assert!(
        failed.is_empty(),
        "students who never got a receipt after {ATTEMPTS} attempts: {failed:#?}"
    );
    let retried: usize = outcomes.iter().map(|o| o.failed_attempts).sum();
    eprintln!("{retried} attempts were told to try again");

    // The killed node's leftovers: a planted one in its own tmp/ (beside any real one) and one
    // in another node's, which is not its to remove.
    let own = cluster.node_tmp(0);
    let other = cluster.node_tmp(1);
    std::fs::write(own.join("upload-LEFTOVERFROMACRASH"), b"half").expect("planting");
    std::fs::write(other.join("upload-INPROGRESSONNODE2"), b"busy").expect("planting");
    cluster.restart_node(0);
    assert_eq!(
        uploads_in(&own),
        Vec::<String>::new(),
        "n1 emptied its own tmp/ when it started again"
    );
    assert!(
        names_in(&other).contains(&"upload-INPROGRESSONNODE2".to_owned()),
        "n1 left n2's upload in progress alone: {:?}",
        names_in(&other)
    );

    // Every receipted submission, from every node directly.
    let addrs = cluster.node_addrs();
    let checks: Vec<(String, String)> = outcomes
        .iter()
        .flat_map(|o| addrs.iter().map(|a| (o.id.clone(), a.clone())))
        .collect();
    let by_id: HashMap<&str, &Outcome> = outcomes.iter().map(|o| (o.id.as_str(), o)).collect();
    let problems: Vec<String> = parallel(&checks, 4, |(id, addr)| {
        let o = by_id[id.as_str()];
        let r = o.receipted.as_ref().expect("receipted");
        check_on_node(&cluster, id, r, o.failed_attempts, addr).err()
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    let cert = cluster.campus.path("bb.crt");
    let bad_receipts: Vec<String> = parallel(&outcomes, 4, |o| {
        let r = o.receipted.as_ref().expect("receipted");
        let out = run(cluster.campus.verify_receipt(&o.id, &r.receipt, &cert));
        (!out.status.success()).then(|| format!("{}: {}", o.id, stderr_of(&out)))
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(bad_receipts.is_empty(), "{bad_receipts:#?}");
    for o in &outcomes {
        let r = o.receipted.as_ref().expect("receipted");
        assert_eq!(
            receipts(&cluster, &o.id),
            [format!("{}.receipt", r.id)],
            "{}: one receipt, for the submission that succeeded",
            o.id
        );
    }
    eprintln!("whole test in {:?}", started.elapsed());
}

/// `r` is listed at `addr` and fetches back byte-identical there; a student who never had to
/// retry has exactly that one submission.
fn check_on_node(
    cluster: &Cluster,
    id: &str,
    r: &Receipted,
    failed_attempts: usize,
    addr: &str,
) -> Result<(), String> {
    let c = cluster
        .campus
        .student(id, &["list", "--blackboard", addr, "--json"]);
    let out = run(c);
    if !out.status.success() {
        return Err(format!("{id} list at {addr}: {}", stderr_of(&out)));
    }
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{id} list at {addr} printed no JSON array: {e}"))?;
    let ids: Vec<&str> = listed.iter().filter_map(|v| v["id"].as_str()).collect();
    if !ids.contains(&r.id.as_str()) {
        return Err(format!("{id}: {} not listed at {addr}: {ids:?}", r.id));
    }
    if failed_attempts == 0 && ids.len() != 1 {
        return Err(format!(
            "{id} submitted once without a failure but {addr} lists {ids:?}"
        ));
    }
    let back = cluster
        .campus
        .path(&format!("back-{id}-{}", addr.replace([':', '.'], "_")));
    let mut c = cluster
        .campus
        .student(id, &["fetch", &r.id, "--blackboard", addr, "--out"]);
    c.arg(&back);
    let out = run(c);
    if !out.status.success() {
        return Err(format!(
            "{id} fetch {} at {addr}: {}",
            r.id,
            stderr_of(&out)
        ));
    }
    let fetched = std::fs::read(&back).map_err(|e| format!("reading {}: {e}", back.display()))?;
    let original = std::fs::read(&r.original).map_err(|e| format!("original: {e}"))?;
    let _ = std::fs::remove_file(&back);
    if fetched != original || sha256_hex(&original) != r.sha256 {
        return Err(format!("{id}: {} at {addr} came back different", r.id));
    }
    Ok(())
}

/// Rosters and enrolls `id` at CUHK node `node`.
fn enroll(cluster: &Cluster, id: &str, node: usize) {
    let code = cluster.campus.roster_add(id);
    let profile = cluster.campus.profile(id);
    ok(enroll_cmd(
        cluster,
        &profile,
        id,
        &code,
        &cluster.cuhk[node].addr,
    ));
}

#[test]
fn database_outage_revocation_address_lists_and_shared_form_keys() {
    let cluster = Cluster::start(2, 3);
    let started = Instant::now();
    enroll(&cluster, ALICE, 0);
    enroll(&cluster, BOB, 1);
    let work = cluster.campus.path("work.pdf");
    write_pattern(&work, 300 * 1024, 7);
    let n2 = cluster.node(1).addr.clone();

    // PostgreSQL stopped: "try again", no receipt. Back: the same node accepts, unrestarted.
    ok(submit_to(&cluster, ALICE, &work, &n2));
    let before = receipts(&cluster, ALICE);
    cluster.pg.stop().expect("stopping PostgreSQL");
    let out = run(submit_to(&cluster, ALICE, &work, &n2));
    let err = stderr_of(&out);
    assert!(
        try_again(&out) && err.contains("try again"),
        "with PostgreSQL stopped: {} {err}",
        out.status
    );
    assert!(out.stdout.is_empty(), "{}", stdout_of(&out));
    assert_eq!(
        receipts(&cluster, ALICE),
        before,
        "no receipt without the database"
    );
    cluster.pg.start_again().expect("starting PostgreSQL again");
    let accepted = poll(Duration::from_secs(20), Duration::from_millis(250), || {
        let out = run(submit_to(&cluster, ALICE, &work, &n2));
        out.status.success().then_some(out)
    });
    let out = accepted.expect("the node accepts again once PostgreSQL is back");
    let r = Receipted::from_output(&out, &work);
    assert_eq!(receipts(&cluster, ALICE).len(), before.len() + 1);
    // The other nodes serve again too, unrestarted, after at most a few "try again" answers
    // (a node's idle database connections are found dead only when next used).
    for node in &cluster.nodes {
        let mut refusals = Vec::new();
        let served = poll(Duration::from_secs(20), Duration::from_millis(100), || {
            let out = run(cluster
                .campus
                .student(ALICE, &["list", "--blackboard", &node.addr]));
            if out.status.success() {
                return Some(());
            }
            assert!(try_again(&out), "{}: {}", node.name, stderr_of(&out));
            refusals.push(stderr_of(&out));
            None
        });
        assert!(
            served.is_some(),
            "{} never served again: {refusals:?}",
            node.name
        );
        if !refusals.is_empty() {
            eprintln!(
                "{} said \"try again\" {} time(s) after PostgreSQL came back: {:?}",
                node.name,
                refusals.len(),
                refusals[0].trim()
            );
        }
    }
    assert_fetches_back(&cluster.campus, cluster.node(2), ALICE, &r);

    // A profile naming several Blackboard addresses, the first dead: the next takes it.
    let dead = free_addr();
    let list = format!("{dead}, {}", cluster.node(2).addr);
    let mut config = client_cmd("student");
    config
        .arg("--profile")
        .arg(cluster.campus.profile(BOB))
        .args(["config", "--blackboard", &list]);
    ok(config);
    let mut c = cluster.campus.student(BOB, &["submit"]);
    c.arg(&work)
        .args(["--course", "CSCI3180", "--assignment", "hw1", "--json"]);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let r = Receipted::from_output(&out, &work);
    assert_fetches_back(&cluster.campus, cluster.node(0), BOB, &r);

    // The web form: a token from n1's page, the form posted to n2.
    web_form_across_nodes(&cluster);

    // Revocation at CUHK node 2: every Blackboard node refuses Bob within seconds.
    for node in &cluster.nodes {
        ok(cluster
            .campus
            .student(BOB, &["list", "--blackboard", &node.addr]));
    }
    let mut revoke = cluster.cuhk_cmd(1, &["revoke"]);
    revoke.args(["--student", BOB]);
    ok(revoke);
    let revoked_at = Instant::now();
    for node in &cluster.nodes {
        let refused = poll(Duration::from_secs(15), Duration::from_millis(200), || {
            let out = run(cluster
                .campus
                .student(BOB, &["list", "--blackboard", &node.addr]));
            (!out.status.success()).then(|| stderr_of(&out))
        });
        let err = refused
            .unwrap_or_else(|| panic!("{} still serves Bob 15 s after the revocation", node.name));
        assert!(err.contains("revoked"), "{}: {err}", node.name);
    }
    eprintln!(
        "every node refused the revoked student {:?} after the revocation",
        revoked_at.elapsed()
    );
    // Alice is not revoked: still served everywhere.
    for node in &cluster.nodes {
        ok(cluster
            .campus
            .student(ALICE, &["list", "--blackboard", &node.addr]));
    }
    eprintln!("whole test in {:?}", started.elapsed());
}

/// A curl command to `addr`'s `path` as Alice (her profile's certificate and key).
fn curl(cluster: &Cluster, addr: &str, path: &str) -> Command {
    let p = cluster.campus.profile(ALICE);
    let mut c = Command::new("curl");
    c.args([
        "--silent",
        "--show-error",
        "--http1.1",
        "--include",
        "--max-time",
        "30",
    ])
    .arg("--cacert")
    .arg(cluster.campus.pki().join("ca.crt"))
    .arg("--cert")
    .arg(p.join("cert.pem"))
    .arg("--key")
    .arg(p.join("key.pem"))
    .arg(format!("https://{addr}{path}"));
    c
}

/// The HTTP status and body curl printed (with `--include`).
fn status_and_body(out: &Output) -> (u16, String) {
    assert!(out.status.success(), "curl failed: {}", stderr_of(out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    (status, text)
}

fn web_form_across_nodes(cluster: &Cluster) {
    let n1 = cluster.node(0).addr.clone();
    let n2 = cluster.node(1).addr.clone();
    let (status, html) = status_and_body(&run(curl(cluster, &n1, "/")));
    assert_eq!(status, 200, "{html}");
    let marker = "name=\"token\" value=\"";
    let at = html.find(marker).expect("a form token in n1's page") + marker.len();
    let token = &html[at..at + html[at..].find('"').expect("the token's end")];
    let file = cluster.campus.path("web-upload.txt");
    std::fs::write(&file, b"sent through n2 with n1's token").expect("writing");
    let post = |token: &str| {
        let mut c = curl(cluster, &n2, "/submit/CSCI3180/hw1");
        c.arg("-H")
            .arg(format!("Origin: https://{n2}"))
            .arg("-F")
            .arg(format!("token={token}"))
            .arg("-F")
            .arg(format!("file=@{};filename=\"web.txt\"", file.display()));
        status_and_body(&run(c))
    };
    let listed = || cluster.campus.list(cluster.node(2), ALICE).len();
    let before = listed();
    let (status, _) = post(&format!("{token}0"));
    assert_eq!(status, 403, "a wrong token is refused by n2");
    assert_eq!(listed(), before);
    let (status, head) = post(token);
    assert_eq!(status, 303, "n1's token accepted by n2: {head}");
    assert_eq!(listed(), before + 1, "stored, and listed by n3");
}
