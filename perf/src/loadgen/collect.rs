//! `loadgen collect`: a TA collects every student's submission to an assignment (`staff
//! collect`, one connection), measured against the limit it is meant to approach: each student
//! fetching their own submission (`student fetch`, the same bytes, one connection each), in
//! the same run, both through the client library in this process, both writing each file to
//! disk and fsyncing it. Then a second collect (nothing changed: nothing fetched), and the peak
//! memory of the real `staff collect` and `student fetch` processes, to show that a client's
//! memory does not grow with what it fetches. In the same run, the web pages' side of it: the
//! time to load the assignment's table (a row per student), and the zip of every current
//! submission downloaded over HTTPS, against `staff collect`.

use super::{make_file, peak_rss_kib, Lab, Result};
use handin_client::net::Transport;
use handin_client::session::{Profile, Remote};
use handin_core::pki::{to_pem, PersonId, StudentId};
use handin_core::Identity;
use handin_services::board::Board;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// Options.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Server and client transport.
    pub transport: String,
    /// Students, one submission each.
    pub students: usize,
    /// Bytes per submission.
    pub size: u64,
}

/// The TA who collects: a student ID on the course's staff list.
const TA: &str = "1150000000";

fn write_profile(dir: &Path, identity: &Identity, ca: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let chain: String = identity
        .chain
        .iter()
        .map(|c| to_pem("CERTIFICATE", c))
        .collect();
    std::fs::write(dir.join("cert.pem"), chain).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("key.pem"),
        to_pem("PRIVATE KEY", identity.key.secret_der()),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("ca.crt"), to_pem("CERTIFICATE", ca)).map_err(|e| e.to_string())
}

/// Stores one submission per student directly in the data directory (the measurement is of
/// getting them out); returns each student's id and submission id.
fn populate(lab: &Lab, o: &Opts) -> Result<Vec<(String, String)>> {
    let board = Board::open(&lab.dir.join("data")).map_err(|e| e.to_string())?;
    let now = SystemTime::now();
    board
        .add_course("LOAD", "", now)
        .map_err(|e| e.to_string())?;
    let ta = PersonId::parse(TA).map_err(|e| e.to_string())?;
    board
        .add_staff("LOAD", &[ta], now)
        .map_err(|e| e.to_string())?;
    let file = lab.dir.join("payload");
    make_file(&file, o.size)?;
    let bytes = std::fs::read(&file).map_err(|e| e.to_string())?;
    let offer = handin_core::msg::UploadOffer {
        course: "LOAD".into(),
        assignment: "hw1".into(),
        file_name: "report.pdf".into(),
        size: o.size,
        sha256: handin_core::submit::sha256(&bytes),
    };
    let mut stored = Vec::with_capacity(o.students);
    for chunk in (0..o.students).collect::<Vec<_>>().chunks(64) {
        let mut batch = Vec::new();
        let mut ids = Vec::new();
        for i in chunk {
            let id = format!("1157{i:06}");
            let sid = StudentId::parse(&id).map_err(|e| e.to_string())?;
            let mut up = board.begin_upload().map_err(|e| e.to_string())?;
            up.write(&bytes).map_err(|e| e.to_string())?;
            batch.push(
                board
                    .prepare(up, &sid, &offer, now)
                    .map_err(|e| e.to_string())?,
            );
            ids.push(id);
        }
        for (id, r) in ids.into_iter().zip(board.commit_batch(batch)) {
            stored.push((id, r.map_err(|e| e.to_string())?.record.id));
        }
    }
    Ok(stored)
}

fn mib_per_sec(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / t.as_secs_f64()
}

/// Runs `c` to its end, reading its peak RSS while it runs; returns (seconds, peak KiB).
fn peak_of(mut c: Command) -> Result<(f64, u64)> {
    let started = Instant::now();
    let mut child = c.spawn().map_err(|e| e.to_string())?;
    let mut peak = 0;
    loop {
        if let Ok(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) if status.success() => return Ok((started.elapsed().as_secs_f64(), peak)),
            Some(status) => return Err(format!("{c:?} failed: {status}")),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Runs the measurement; returns one JSON object.
pub fn run(o: &Opts) -> Result<serde_json::Value> {
    if o.students == 0 || o.size == 0 {
        return Err("--students and --size must be at least 1".into());
    }
    let transport = match o.transport.as_str() {
        "smol" => Transport::Smol,
        _ => Transport::Mio,
    };
    let lab = Lab::new(o.size)?;
    let stored = populate(&lab, o)?;
    let ca = lab.pki.ca().map_err(|e| e.0)?;
    let ca_der = lab.ca.to_vec();
    let ta_profile = lab.dir.join("profile-ta");
    write_profile(&ta_profile, &lab.student(&ca, TA)?, &ca_der)?;
    let mut profiles = Vec::with_capacity(stored.len());
    for (id, _) in &stored {
        let dir = lab.dir.join(format!("profile-{id}"));
        write_profile(&dir, &lab.student(&ca, id)?, &ca_der)?;
        profiles.push(dir);
    }
    let bb = lab.start_blackboard(&o.transport)?;
    let remote = Remote {
        addr: bb.addr.clone(),
        also: Vec::new(),
        transport,
        connect_timeout: Duration::from_secs(10),
    };
    let total = o.size * stored.len() as u64;

    // Each student fetches their own submission, one after another.
    let fetched_dir = lab.dir.join("fetched");
    std::fs::create_dir_all(&fetched_dir).map_err(|e| e.to_string())?;
    let started = Instant::now();
    for ((id, sub), dir) in stored.iter().zip(&profiles) {
        let profile = Profile::locate(Some(dir.clone()));
        handin_client::student::fetch(&remote, &profile, sub, &fetched_dir.join(id))
            .map_err(|e| format!("student fetch: {e}"))?;
    }
    let fetch_time = started.elapsed();

    // The TA collects them all over one connection.
    let out = lab.dir.join("collected");
    let ta = Profile::locate(Some(ta_profile.clone()));
    let started = Instant::now();
    let first = handin_client::staff::collect(&remote, &ta, "LOAD", "hw1", &out)
        .map_err(|e| format!("collect: {e}"))?;
    let collect_time = started.elapsed();
    if first.fetched != stored.len() {
        return Err(format!(
            "collect fetched {} of {}",
            first.fetched,
            stored.len()
        ));
    }
    let started = Instant::now();
    let again = handin_client::staff::collect(&remote, &ta, "LOAD", "hw1", &out)
        .map_err(|e| format!("collect again: {e}"))?;
    let recollect_time = started.elapsed();
    // Every collected file is the stored one.
    let mut matched = 0;
    for (id, _) in &stored {
        let a = std::fs::read(out.join(id).join("report.pdf")).map_err(|e| e.to_string())?;
        let b = std::fs::read(fetched_dir.join(id)).map_err(|e| e.to_string())?;
        if a == b && a.len() as u64 == o.size {
            matched += 1;
        }
    }

    // The same files from the web pages, in the same run: the assignment's table (every
    // student's row), and every current submission as one zip, written and fsynced.
    let browser = super::web::Browser::new(&bb.addr, &lab.ca, lab.student(&ca, TA)?)?;
    let mut table = browser.time_page("/staff/LOAD/hw1", 7)?;
    table.sort();
    let table_ms = table[table.len() / 2].as_secs_f64() * 1e3;
    let (zip_time, zip_bytes) =
        browser.download("/staff/LOAD/hw1/all.zip", &lab.dir.join("all.zip"))?;
    if zip_bytes < total {
        return Err(format!(
            "the zip holds {zip_bytes} bytes, less than the {total} stored"
        ));
    }

    // The real processes' memory: a whole collect, and one fetch.
    let mut staff = Command::new(lab.bin("staff")?);
    staff
        .arg("--profile")
        .arg(&ta_profile)
        .args([
            "collect",
            "LOAD",
            "hw1",
            "--transport",
            &o.transport,
            "--blackboard",
            &bb.addr,
            "--out",
        ])
        .arg(lab.dir.join("collected-by-process"));
    let (staff_seconds, staff_rss) = peak_of(staff)?;
    let mut student = Command::new(lab.bin("student")?);
    let (id0, sub0) = &stored[0];
    student
        .arg("--profile")
        .arg(&profiles[0])
        .args([
            "fetch",
            sub0,
            "--transport",
            &o.transport,
            "--blackboard",
            &bb.addr,
            "--out",
        ])
        .arg(lab.dir.join(format!("one-{id0}")));
    let (_, student_rss) = peak_of(student)?;
    let blackboard_rss = peak_rss_kib(bb.pid()).unwrap_or(0);

    let fetch_rate = mib_per_sec(total, fetch_time);
    let collect_rate = mib_per_sec(total, collect_time);
    let zip_rate = mib_per_sec(total, zip_time);
    Ok(serde_json::json!({
        "measurement": "collect",
        "transport": o.transport,
        "students": stored.len(),
        "size": o.size,
        "total_mib": total as f64 / (1024.0 * 1024.0),
        "fetch_seconds": fetch_time.as_secs_f64(),
        "fetch_mib_per_sec": fetch_rate,
        "collect_seconds": collect_time.as_secs_f64(),
        "collect_mib_per_sec": collect_rate,
        "collect_over_fetch": collect_rate / fetch_rate,
        "recollect_seconds": recollect_time.as_secs_f64(),
        "recollect_fetched": again.fetched,
        "files_matched": matched,
        "staff_process_seconds": staff_seconds,
        "staff_collect_peak_rss_kib": staff_rss,
        "student_fetch_peak_rss_kib": student_rss,
        "blackboard_peak_rss_kib": blackboard_rss,
        "web_table_ms_median": table_ms,
        "zip_seconds": zip_time.as_secs_f64(),
        "zip_bytes": zip_bytes,
        "zip_mib_per_sec": zip_rate,
        "zip_over_collect": zip_rate / collect_rate,
    }))
}
