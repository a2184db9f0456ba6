//! `loadgen upload`: one submission end to end into durable storage, next to the two limits it
//! cannot beat, measured in the same run: raw rustls throughput over loopback, and the disk's
//! own fdatasync'd write speed. Peak RSS of the student and Blackboard processes.

use super::{make_file, peak_rss_kib, Lab, Result};
use handin_core::pki::to_pem;
use handin_core::rustls;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Server and client transport.
    pub transport: String,
    /// Bytes to upload.
    pub size: u64,
}

fn mib_per_sec(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / t.as_secs_f64()
}

/// Raw TLS 1.3 over loopback with the same certificates and provider: one stream of `size`
/// bytes from a client to a server thread.
fn raw_rustls(lab: &Lab, size: u64) -> Result<Duration> {
    let provider = handin_core::config::provider();
    let identity = handin_core::Identity::from_pem(
        &std::fs::read(lab.dir.join("bb.crt")).map_err(|e| e.to_string())?,
        &std::fs::read(lab.dir.join("bb.key")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let server_cfg = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)
        .map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(lab.ca.clone()).map_err(|e| e.to_string())?;
    let client_cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = std::thread::spawn(move || -> Result<u64> {
        let (sock, _) = listener.accept().map_err(|e| e.to_string())?;
        let conn =
            rustls::ServerConnection::new(Arc::new(server_cfg)).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0u64;
        while got < size {
            match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n as u64,
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(got)
    });
    let sock = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let name = handin_core::config::server_name("127.0.0.1").map_err(|e| e.to_string())?;
    let conn =
        rustls::ClientConnection::new(Arc::new(client_cfg), name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let chunk = vec![0x5au8; 256 * 1024];
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < size {
        let n = chunk.len().min((size - sent) as usize);
        tls.write_all(&chunk[..n]).map_err(|e| e.to_string())?;
        sent += n as u64;
    }
    tls.flush().map_err(|e| e.to_string())?;
    let got = server.join().map_err(|_| "server thread panicked")??;
    let elapsed = started.elapsed();
    if got != size {
        return Err(format!("raw TLS moved {got} of {size} bytes"));
    }
    Ok(elapsed)
}

/// The disk's own speed: `size` bytes written in 1 MiB pieces, then fdatasync.
fn disk(lab: &Lab, size: u64) -> Result<Duration> {
    let path = lab.dir.join("data").join("disk-probe.bin");
    let mut f = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let chunk = vec![0xa5u8; 1 << 20];
    let started = Instant::now();
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    f.sync_data().map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    drop(f);
    let _ = std::fs::remove_file(&path);
    Ok(elapsed)
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

    let raw = raw_rustls(&lab, o.size)?;
    let disk = disk(&lab, o.size)?;
    let e2e = mib_per_sec(o.size, end_to_end);
    let limit = mib_per_sec(o.size, raw).min(mib_per_sec(o.size, disk));
    Ok(serde_json::json!({
        "measurement": "upload",
        "transport": o.transport,
        "size": o.size,
        "end_to_end_mib_per_sec": e2e,
        "raw_rustls_loopback_mib_per_sec": mib_per_sec(o.size, raw),
        "disk_fdatasync_mib_per_sec": mib_per_sec(o.size, disk),
        "fraction_of_limit": e2e / limit,
        "student_peak_rss_kib": student_rss,
        "blackboard_peak_rss_kib": server_rss,
    }))
}
