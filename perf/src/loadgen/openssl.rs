//! `loadgen openssl`: the reference point, the same measurements made with the `openssl`
//! command line on the same certificates as the lab (the CUHK root as CA, Blackboard's
//! certificate and key, a student's certificate and key).
//!
//! `openssl s_server` (mutual TLS 1.3, a client certificate required: `-Verify 1`) serves a
//! small file with `-WWW`; `--concurrency` `openssl s_time` processes (each single-threaded)
//! connect for `--seconds`, first with `-new` (full handshakes), then with `-reuse` (resumed).
//! Every connection fetches the small file (`-www /welcome`): a round trip after the handshake,
//! as the handin client waits for Blackboard's Welcome, and, what matters for TLS 1.3, it makes
//! s_time read the session tickets the server sends after the handshake; without it s_time
//! never holds a ticket and `-reuse` silently makes full handshakes. Whether the reuse phase
//! really resumed is read from s_time's progress marks (`r` for a reused session, `*` for a new
//! one). s_server's CPU time is read from `/proc/PID/stat` around each phase.
//!
//! With `--upload SIZE`, also a file of SIZE bytes piped through `openssl s_client` to an
//! `openssl s_server` that writes what it receives to a file, which is then fsync'd: the
//! time from starting s_client to the end of the fsync.

use super::{cpu_time, make_file, Lab, Result};
use handin_core::pki::to_pem;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Options.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Seconds per phase (s_time counts whole seconds).
    pub seconds: u64,
    /// s_time processes at once.
    pub concurrency: usize,
    /// Bytes for the upload reference, if wanted.
    pub upload: Option<u64>,
}

/// What s_server serves to each connection: about the size of Blackboard's Welcome frame.
const WELCOME: &[u8] = b"welcome 1155000001\n";
/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The files the openssl commands use.
struct Files {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    student_cert: PathBuf,
    student_key: PathBuf,
    www: PathBuf,
}

/// Writes the student's certificate and key (PEM) and the served file next to the lab's.
fn write_files(lab: &Lab) -> Result<Files> {
    let ca = lab.pki.ca().map_err(|e| e.0)?;
    let identity = lab.student(&ca, "1155000001")?;
    let cert = identity
        .chain
        .first()
        .ok_or("the student's chain is empty")?;
    let files = Files {
        ca: lab.pki.ca_cert(),
        server_cert: lab.dir.join("bb.crt"),
        server_key: lab.dir.join("bb.key"),
        student_cert: lab.dir.join("student.crt"),
        student_key: lab.dir.join("student.key"),
        www: lab.dir.join("www"),
    };
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    write(&files.student_cert, to_pem("CERTIFICATE", cert).as_bytes())?;
    write(
        &files.student_key,
        to_pem("PRIVATE KEY", identity.key.secret_der()).as_bytes(),
    )?;
    std::fs::create_dir_all(&files.www).map_err(|e| format!("creating the www dir: {e}"))?;
    write(&files.www.join("welcome"), WELCOME)?;
    Ok(files)
}

/// `openssl version`, or why it cannot run.
fn openssl_version() -> Result<String> {
    let out = Command::new("openssl")
        .arg("version")
        .output()
        .map_err(|e| format!("cannot run openssl ({e}): install it (apt-get install openssl)"))?;
    if !out.status.success() {
        return Err("`openssl version` failed".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("finding a free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Whether something listens on 127.0.0.1:`port`, from `/proc/net/tcp` (no connection made:
/// the upload server accepts only one).
fn listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&want.as_str()) && f.get(3) == Some(&"0A")
        })
}

/// An `openssl s_server`, stopped on drop.
struct SServer {
    child: Child,
    /// Held open: s_server reads its standard input, and ends its connection at end of file.
    _stdin: Option<ChildStdin>,
}

impl SServer {
    /// Starts `openssl s_server` for the lab's Blackboard on `port`, requiring a client
    /// certificate, with `extra` arguments.
    fn start(files: &Files, port: u16, extra: &[&str], stdout: Stdio, dir: &Path) -> Result<Self> {
        let mut c = Command::new("openssl");
        c.arg("s_server")
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(&files.server_cert)
            .arg("-key")
            .arg(&files.server_key)
            .arg("-CAfile")
            .arg(&files.ca)
            .args(["-Verify", "1", "-tls1_3", "-quiet"])
            .args(extra)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::null());
        let mut child = c
            .spawn()
            .map_err(|e| format!("starting openssl s_server: {e}"))?;
        let stdin = child.stdin.take();
        let server = Self {
            child,
            _stdin: stdin,
        };
        let give_up = Instant::now() + START_TIMEOUT;
        while !listening(port) {
            if Instant::now() > give_up {
                return Err(format!("openssl s_server did not listen on port {port}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for it to exit by itself (after `-naccept`), up to `within`.
    fn wait(&mut self, within: Duration) -> Result<()> {
        let give_up = Instant::now() + within;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < give_up => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => return Err("openssl s_server did not finish".into()),
                Err(e) => return Err(format!("waiting for openssl s_server: {e}")),
            }
        }
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// What one s_time process reported.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct STime {
    /// Connections in the timed loop.
    connections: u64,
    /// Progress marks: `*` a new session, `r` a reused one.
    new: u64,
    reused: u64,
}

/// Reads s_time's output: the count from its `N connections in T real seconds` line (or, if
/// missing, its `N connections in Ts; ...` line), and the progress marks.
fn parse_s_time(out: &str) -> Option<STime> {
    let count = |marker: &str| {
        out.lines()
            .filter(|l| l.contains(" connections in ") && l.contains(marker))
            .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .next_back()
    };
    let connections = count("real seconds").or_else(|| count("s;"))?;
    let (mut new, mut reused) = (0, 0);
    for line in out.lines().map(str::trim) {
        if !line.is_empty() && line.chars().all(|c| c == '*' || c == 'r') {
            new += line.chars().filter(|&c| c == '*').count() as u64;
            reused += line.chars().filter(|&c| c == 'r').count() as u64;
        }
    }
    Some(STime {
        connections,
        new,
        reused,
    })
}

/// One phase: `concurrency` s_time processes in `mode` (`-new` or `-reuse`) at once.
struct Phase {
    /// Connections per second, summed over the processes (each over its own wall time).
    per_sec: f64,
    totals: STime,
    /// Processes that failed, and the first reason.
    failures: u64,
    first_failure: Option<String>,
    /// Connections s_server handled: the timed ones, plus the first (untimed) one of each
    /// `-reuse` process.
    served: u64,
}

/// `openssl TOOL` connecting to 127.0.0.1:`port` as the lab's student, trusting the lab's CA.
fn student_command(tool: &str, files: &Files, port: u16) -> Command {
    let mut c = Command::new("openssl");
    c.arg(tool)
        .args(["-connect", &format!("127.0.0.1:{port}")])
        .arg("-cert")
        .arg(&files.student_cert)
        .arg("-key")
        .arg(&files.student_key)
        .arg("-CAfile")
        .arg(&files.ca);
    c
}

fn phase(files: &Files, port: u16, mode: &str, o: &Opts) -> Result<Phase> {
    let run_one = || -> Result<(STime, Duration)> {
        let started = Instant::now();
        let out = student_command("s_time", files, port)
            .args([mode, "-tls1_3", "-www", "/welcome"])
            .args(["-time", &o.seconds.to_string()])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("starting openssl s_time: {e}"))?;
        let wall = started.elapsed();
        let text = String::from_utf8_lossy(&out.stdout);
        let why = || {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err.lines().chain(text.lines()).find(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("error") || l.contains("unable")
            });
            first
                .unwrap_or("no connection count in its output")
                .trim()
                .to_owned()
        };
        if !out.status.success() {
            return Err(format!(
                "s_time {mode} exited with {}: {}",
                out.status,
                why()
            ));
        }
        let parsed = parse_s_time(&text).ok_or_else(|| format!("s_time {mode}: {}", why()))?;
        Ok((parsed, wall))
    };
    let results: Vec<Result<(STime, Duration)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..o.concurrency.max(1))
            .map(|_| s.spawn(run_one))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("an s_time thread panicked".into()))
            })
            .collect()
    });
    let mut p = Phase {
        per_sec: 0.0,
        totals: STime::default(),
        failures: 0,
        first_failure: None,
        served: 0,
    };
    for r in results {
        match r {
            Ok((t, wall)) => {
                p.per_sec += t.connections as f64 / wall.as_secs_f64().max(1e-9);
                p.totals.connections += t.connections;
                p.totals.new += t.new;
                p.totals.reused += t.reused;
                p.served += t.connections + u64::from(mode == "-reuse");
            }
            Err(e) => {
                p.failures += 1;
                p.first_failure.get_or_insert(e);
            }
        }
    }
    Ok(p)
}

/// The upload reference: `size` bytes through s_client into s_server's standard output, a
/// file, then fsync. Returns MiB/s and whether the file arrived whole.
fn upload(lab: &Lab, files: &Files, size: u64) -> Result<(f64, bool)> {
    let input = lab.dir.join("upload.bin");
    let output = lab.dir.join("received.bin");
    make_file(&input, size)?;
    let sink = std::fs::File::create(&output)
        .map_err(|e| format!("creating {}: {e}", output.display()))?;
    let port = free_port()?;
    let mut server = SServer::start(files, port, &["-naccept", "1"], sink.into(), &lab.dir)?;
    let source =
        std::fs::File::open(&input).map_err(|e| format!("opening {}: {e}", input.display()))?;
    let started = Instant::now();
    let status = student_command("s_client", files, port)
        // -quiet would ignore the end of input; -nocommands: the payload's bytes are no commands.
        .args(["-tls1_3", "-quiet", "-no_ign_eof", "-nocommands"])
        .stdin(source)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("starting openssl s_client: {e}"))?;
    if !status.success() {
        return Err(format!("openssl s_client exited with {status}"));
    }
    server.wait(Duration::from_secs(60))?;
    std::fs::File::open(&output)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("fsync {}: {e}", output.display()))?;
    let elapsed = started.elapsed();
    let matched = same_contents(&input, &output)?;
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
    Ok((
        size as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64(),
        matched,
    ))
}

/// Whether two files hold the same bytes.
fn same_contents(a: &Path, b: &Path) -> Result<bool> {
    let open = |p: &Path| {
        std::fs::File::open(p)
            .map(std::io::BufReader::new)
            .map_err(|e| format!("opening {}: {e}", p.display()))
    };
    let (mut a, mut b) = (open(a)?, open(b)?);
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = read_full(&mut a, &mut x)?;
        let m = read_full(&mut b, &mut y)?;
        if n != m || x[..n] != y[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the end of the file.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(n)
}

/// Runs the measurement; returns one JSON object.
pub fn run(o: &Opts) -> Result<serde_json::Value> {
    if o.seconds == 0 {
        return Err("--seconds must be at least 1".into());
    }
    let version = openssl_version()?;
    let lab = Lab::new(1)?;
    let files = write_files(&lab)?;
    let port = free_port()?;
    let server = SServer::start(&files, port, &["-WWW"], Stdio::null(), &files.www)?;

    let cpu0 = cpu_time(server.pid())?;
    let full = phase(&files, port, "-new", o)?;
    let cpu1 = cpu_time(server.pid())?;
    let resumed = phase(&files, port, "-reuse", o)?;
    let cpu2 = cpu_time(server.pid())?;
    drop(server);

    let per = |cpu: Duration, n: u64| {
        if n == 0 {
            0.0
        } else {
            cpu.as_secs_f64() * 1e6 / n as f64
        }
    };
    let marks = resumed.totals.new + resumed.totals.reused;
    let resumed_fraction = if marks == 0 {
        0.0
    } else {
        resumed.totals.reused as f64 / marks as f64
    };
    let (upload_rate, upload_matched) = match o.upload {
        Some(size) => {
            let (rate, matched) = upload(&lab, &files, size)?;
            (Some(rate), Some(matched))
        }
        None => (None, None),
    };
    Ok(serde_json::json!({
        "measurement": "openssl",
        "openssl_version": version,
        "concurrency": o.concurrency,
        "seconds": o.seconds,
        "full_connections": full.totals.connections,
        "resumed_connections": resumed.totals.connections,
        "full_per_sec": full.per_sec,
        "resumed_per_sec": resumed.per_sec,
        "resumed_over_full": resumed.per_sec / full.per_sec.max(f64::MIN_POSITIVE),
        "resumed_fraction": resumed_fraction,
        "server_cpu_us_per_full": per(cpu1.saturating_sub(cpu0), full.served),
        "server_cpu_us_per_resumed": per(cpu2.saturating_sub(cpu1), resumed.served),
        "failures": full.failures + resumed.failures,
        "first_failure": full.first_failure.or(resumed.first_failure),
        "upload_size": o.upload.unwrap_or(0),
        "upload_end_to_end_mib_per_sec": upload_rate,
        "upload_matched": upload_matched,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s_time_output_is_read() {
        let new = "Collecting connection statistics for 2 seconds\n\
                   ******\n\n\
                   6 connections in 0.97s; 647.42 connections/user sec, bytes read 0\n\
                   6 connections in 3 real seconds, 0 bytes read per connection\n";
        assert_eq!(
            parse_s_time(new),
            Some(STime {
                connections: 6,
                new: 6,
                reused: 0
            })
        );
        let reuse = "\n\nNow timing with session id reuse.\nstarting\nrrr*r\n\n\
                     5 connections in 0.68s; 2777.94 connections/user sec, bytes read 265\n\
                     5 connections in 3 real seconds, 53 bytes read per connection\n";
        assert_eq!(
            parse_s_time(reuse),
            Some(STime {
                connections: 5,
                new: 1,
                reused: 4
            })
        );
        // Only the user-time line: its count is taken.
        assert_eq!(
            parse_s_time("7 connections in 1.00s; 7.00 connections/user sec")
                .map(|t| t.connections),
            Some(7)
        );
        assert_eq!(parse_s_time("ERROR\nunable to connect\n"), None);
    }
}
