//! `loadgen upload`: one submission end to end into durable storage, next to the limits it
//! cannot beat and a plain reference, measured in the same run ([`super::references`]): the
//! disk, the protocol's network limit, bare rustls, and a Python upload server. Peak RSS of
//! the student and Blackboard processes.

use super::references::{self, median};
use super::{make_file, peak_rss_kib, Lab, Result};
use handin_core::pki::to_pem;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Options.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Server and client transport.
    pub transport: String,
    /// Bytes to upload.
    pub size: u64,
    /// Runs of each reference (their median is reported).
    pub reference_runs: usize,
}

fn mib_per_sec(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / t.as_secs_f64()
}

/// Runs the measurement; returns one JSON object.
pub fn run(o: &Opts) -> Result<serde_json::Value> {
    let lab = Lab::new(o.size + 1)?;
    let ca = lab.pki.ca().map_err(|e| e.0)?;
    let identity = lab.student(&ca, "1155000001")?;
    let profile = lab.dir.join("profile");
    std::fs::create_dir_all(&profile).map_err(|e| e.to_string())?;
    let chain: String = identity
        .chain
        .iter()
        .map(|c| to_pem("CERTIFICATE", c))
        .collect();
    std::fs::write(profile.join("cert.pem"), chain).map_err(|e| e.to_string())?;
    std::fs::write(
        profile.join("key.pem"),
        to_pem("PRIVATE KEY", identity.key.secret_der()),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(profile.join("ca.crt"), to_pem("CERTIFICATE", &lab.ca))
        .map_err(|e| e.to_string())?;
    let file = lab.dir.join("upload.bin");
    make_file(&file, o.size)?;
    // Written out before anything is timed: its writeback must not overlap the measurements.
    std::fs::File::open(&file)
        .and_then(|f| f.sync_all())
        .map_err(|e| e.to_string())?;
    let server = lab.start_blackboard(&o.transport)?;

    let started = Instant::now();
    let mut child = Command::new(lab.bin("student")?)
        .arg("--profile")
        .arg(&profile)
        .arg("submit")
        .arg(&file)
        .args([
            "--course",
            "LOAD",
            "--assignment",
            "hw1",
            "--blackboard",
            &server.addr,
            "--transport",
            &o.transport,
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut student_rss = 0;
    let status = loop {
        if let Ok(kib) = peak_rss_kib(child.id()) {
            student_rss = student_rss.max(kib);
        }
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(s) => break s,
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let end_to_end = started.elapsed();
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if !status.success() {
        let mut err = String::new();
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        return Err(format!("the upload failed: {}", err.trim()));
    }
    let receipt: serde_json::Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
    let id = receipt["id"].as_str().ok_or("no id in the receipt")?;
    let stored = std::fs::metadata(lab.stored(id))
        .map_err(|e| e.to_string())?
        .len();
    if stored != o.size {
        return Err(format!("stored {stored} bytes of {}", o.size));
    }
    let server_rss = peak_rss_kib(server.pid())?;
    drop(server);

    // The references, interleaved so that a passing disturbance spreads over all of them.
    let data = lab.dir.join("data");
    let runs = o.reference_runs.max(1);
    let (mut disk, mut dd, mut net, mut raw) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        disk.push(references::disk_copy(&file, &data)?);
        dd.push(references::dd(&data, o.size)?);
        net.push(references::network_limit(&lab, &identity, &file)?);
        raw.push(references::raw_rustls(&lab, o.size)?);
    }
    let python = references::python(&lab, &identity, &file, runs)?;
    let rate = |runs: Vec<Duration>| mib_per_sec(o.size, median(runs));
    let (disk, dd, net, raw, python) = (rate(disk), rate(dd), rate(net), rate(raw), rate(python));
    let e2e = mib_per_sec(o.size, end_to_end);
    let limit = net.min(disk);
    Ok(serde_json::json!({
        "measurement": "upload",
        "transport": o.transport,
        "size": o.size,
        "reference_runs": runs,
        "end_to_end_mib_per_sec": e2e,
        "disk_mib_per_sec": disk,
        "dd_mib_per_sec": dd,
        "disk_over_dd": disk / dd,
        "network_limit_mib_per_sec": net,
        "raw_rustls_loopback_mib_per_sec": raw,
        "python_upload_mib_per_sec": python,
        "fraction_of_limit": e2e / limit,
        "over_python": e2e / python,
        "student_peak_rss_kib": student_rss,
        "blackboard_peak_rss_kib": server_rss,
    }))
}
