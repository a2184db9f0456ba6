//! The limits `loadgen upload` holds one submission against, each measured in the same run by a
//! plain program doing only the necessary work:
//!
//! - the disk: the same file's bytes copied in Blackboard's write size, one `fdatasync` at the
//!   end ([`disk_copy`]), beside `dd if=/dev/zero ... conv=fdatasync` as a cross-check ([`dd`]);
//! - the network limit of the protocol: rustls over loopback doing the per-byte work handin
//!   must do (the sender reads the file, hashes it with SHA-256 and encrypts it; the receiver
//!   decrypts and hashes it, and answers with the digest) ([`network_limit`]), and bare rustls
//!   moving bytes from memory ([`raw_rustls`]) for comparison;
//! - a plain upload server in Python's standard library (`perf/python/upload_server.py`: TLS
//!   with a client certificate, no hashing, no fdatasync), fed by a rustls client ([`python`]).

use super::{Lab, Result};
use handin_core::pki::to_pem;
use handin_core::rustls;
use handin_core::Identity;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The size of the reads and writes of the plain programs: Blackboard's largest write (one
/// socket read's worth of upload bytes) and the student's read size.
pub const PIECE: usize = 256 * 1024;

/// The Python reference server, kept beside the load generator's source.
const PYTHON_SERVER: &str = include_str!("../../python/upload_server.py");

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The median of some durations (the mean of the middle two for an even count).
pub fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    match runs.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => runs[n / 2],
        n => (runs[n / 2 - 1] + runs[n / 2]) / 2,
    }
}

/// Copies `src` to a new file in `dir` in [`PIECE`]-sized reads and writes, then fdatasync:
/// what Blackboard's disk work is, done by the simplest program. The copy is removed.
pub fn disk_copy(src: &Path, dir: &Path) -> Result<Duration> {
    let dst = dir.join("disk-reference.bin");
    let mut from = std::fs::File::open(src).map_err(err)?;
    let started = Instant::now();
    let mut to = std::fs::File::create(&dst).map_err(err)?;
    let mut buf = vec![0u8; PIECE];
    loop {
        let n = from.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n]).map_err(err)?;
    }
    to.sync_data().map_err(err)?;
    let elapsed = started.elapsed();
    drop(to);
    let _ = std::fs::remove_file(&dst);
    Ok(elapsed)
}

/// `dd if=/dev/zero of=DIR/dd.bin bs=1M count=SIZE/1MiB conv=fdatasync`, timed from outside
/// (the process's start included, a few milliseconds). The file is removed.
pub fn dd(dir: &Path, size: u64) -> Result<Duration> {
    let dst = dir.join("dd.bin");
    let count = size.div_ceil(1 << 20).max(1);
    let started = Instant::now();
    let out = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", dst.display()))
        .args(["bs=1M", &format!("count={count}"), "conv=fdatasync"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run dd: {e}"))?;
    let elapsed = started.elapsed();
    let _ = std::fs::remove_file(&dst);
    if !out.status.success() {
        return Err(format!(
            "dd failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // dd wrote whole MiB: scale to the size asked for.
    Ok(elapsed.mul_f64(size as f64 / (count << 20) as f64))
}

fn server_config(lab: &Lab, client_auth: bool) -> Result<rustls::ServerConfig> {
    let provider = handin_core::config::provider();
    let identity = Identity::from_pem(
        &std::fs::read(lab.dir.join("bb.crt")).map_err(err)?,
        &std::fs::read(lab.dir.join("bb.key")).map_err(err)?,
    )
    .map_err(err)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(err)?;
    let builder = if client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(lab.ca.clone()).map_err(err)?;
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(err)?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    builder
        .with_single_cert(identity.chain, identity.key)
        .map_err(err)
}

fn client_config(lab: &Lab, identity: Option<&Identity>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(lab.ca.clone()).map_err(err)?;
    let builder = rustls::ClientConfig::builder_with_provider(handin_core::config::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(err)?
        .with_root_certificates(roots);
    match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .map_err(err),
        None => Ok(builder.with_no_client_auth()),
    }
}

type ClientStream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

fn connect(addr: std::net::SocketAddr, cfg: rustls::ClientConfig) -> Result<ClientStream> {
    let sock = std::net::TcpStream::connect(addr).map_err(err)?;
    sock.set_nodelay(true).map_err(err)?;
    let name = handin_core::config::server_name("127.0.0.1").map_err(err)?;
    let conn = rustls::ClientConnection::new(Arc::new(cfg), name).map_err(err)?;
    Ok(rustls::StreamOwned::new(conn, sock))
}

/// Completes the TLS handshake, so that a limit's clock measures the bytes alone.
fn handshake(tls: &mut ClientStream) -> Result<()> {
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).map_err(err)?;
    }
    Ok(())
}

/// Bare TLS 1.3 over loopback with the same certificates and provider: `size` bytes from
/// memory, one stream, nothing done with them.
pub fn raw_rustls(lab: &Lab, size: u64) -> Result<Duration> {
    let server_cfg = Arc::new(server_config(lab, false)?);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let server = std::thread::spawn(move || -> Result<u64> {
        let (sock, _) = listener.accept().map_err(err)?;
        let conn = rustls::ServerConnection::new(server_cfg).map_err(err)?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut buf = vec![0u8; PIECE];
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
    let mut tls = connect(addr, client_config(lab, None)?)?;
    handshake(&mut tls)?;
    let chunk = vec![0x5au8; PIECE];
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < size {
        let n = chunk.len().min((size - sent) as usize);
        tls.write_all(&chunk[..n]).map_err(err)?;
        sent += n as u64;
    }
    tls.flush().map_err(err)?;
    let got = server.join().map_err(|_| "server thread panicked")??;
    let elapsed = started.elapsed();
    if got != size {
        return Err(format!("raw TLS moved {got} of {size} bytes"));
    }
    Ok(elapsed)
}

/// The protocol's network limit: mutual TLS over loopback, the sender reading `src` in
/// [`PIECE`]s, hashing and encrypting them, the receiver decrypting and hashing them and
/// answering with the digest, which the sender compares. Timed from the first read of the
/// file to the digest's arrival.
pub fn network_limit(lab: &Lab, identity: &Identity, src: &Path) -> Result<Duration> {
    use aws_lc_rs::digest::{Context, SHA256};
    let size = std::fs::metadata(src).map_err(err)?.len();
    let server_cfg = Arc::new(server_config(lab, true)?);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let server = std::thread::spawn(move || -> Result<()> {
        let (sock, _) = listener.accept().map_err(err)?;
        let conn = rustls::ServerConnection::new(server_cfg).map_err(err)?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut buf = vec![0u8; PIECE];
        let mut hash = Context::new(&SHA256);
        let mut got = 0u64;
        while got < size {
            match tls.read(&mut buf).map_err(err)? {
                0 => return Err(format!("the sender stopped after {got} of {size} bytes")),
                n => {
                    hash.update(&buf[..n]);
                    got += n as u64;
                }
            }
        }
        tls.write_all(hash.finish().as_ref()).map_err(err)?;
        tls.flush().map_err(err)
    });
    let mut tls = connect(addr, client_config(lab, Some(identity))?)?;
    handshake(&mut tls)?;
    let mut file = std::fs::File::open(src).map_err(err)?;
    let mut buf = vec![0u8; PIECE];
    let started = Instant::now();
    let mut hash = Context::new(&SHA256);
    loop {
        let n = file.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        tls.write_all(&buf[..n]).map_err(err)?;
    }
    tls.flush().map_err(err)?;
    let mut answer = [0u8; 32];
    tls.read_exact(&mut answer).map_err(err)?;
    let elapsed = started.elapsed();
    server.join().map_err(|_| "server thread panicked")??;
    if answer[..] != *hash.finish().as_ref() {
        return Err("the network reference's digests differ".into());
    }
    Ok(elapsed)
}

/// `runs` uploads of `src` to the Python standard library's upload server (started here with
/// Blackboard's certificate, requiring the student's), each timed from the connection to the
/// server's "OK" (every byte written to its file, not synced). The server's files are removed.
pub fn python(lab: &Lab, identity: &Identity, src: &Path, runs: usize) -> Result<Vec<Duration>> {
    let script = lab.dir.join("upload_server.py");
    std::fs::write(&script, PYTHON_SERVER).map_err(err)?;
    let out_dir = lab.dir.join("python-out");
    std::fs::create_dir_all(&out_dir).map_err(err)?;
    let ca = lab.dir.join("ca-for-python.crt");
    std::fs::write(&ca, to_pem("CERTIFICATE", &lab.ca)).map_err(err)?;
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(lab.dir.join("bb.crt"))
        .arg(lab.dir.join("bb.key"))
        .arg(&ca)
        .arg(&out_dir)
        .arg(runs.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    let result = (|| -> Result<Vec<Duration>> {
        let stdout = child.stdout.take().ok_or("no stdout from python3")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map_err(err)?;
        let port: u16 = line
            .trim()
            .parse()
            .map_err(|_| format!("the Python server did not print its port: {line:?}"))?;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let size = std::fs::metadata(src).map_err(err)?.len();
        let mut times = Vec::with_capacity(runs);
        let mut buf = vec![0u8; PIECE];
        for i in 0..runs {
            let mut file = std::fs::File::open(src).map_err(err)?;
            let started = Instant::now();
            let mut tls = connect(addr, client_config(lab, Some(identity))?)?;
            tls.write_all(&size.to_be_bytes()).map_err(err)?;
            loop {
                let n = file.read(&mut buf).map_err(err)?;
                if n == 0 {
                    break;
                }
                tls.write_all(&buf[..n]).map_err(err)?;
            }
            tls.flush().map_err(err)?;
            let mut ok = [0u8; 3];
            tls.read_exact(&mut ok)
                .map_err(|e| format!("no answer from the Python server: {e}"))?;
            times.push(started.elapsed());
            if &ok != b"OK\n" {
                return Err("the Python server did not answer OK".into());
            }
            // Its bytes are only in the page cache: gone before the next measurement.
            let _ = std::fs::remove_file(out_dir.join(format!("python-upload-{i}.bin")));
        }
        Ok(times)
    })();
    let status = if result.is_ok() {
        child.wait().map_err(err)?
    } else {
        let _ = child.kill();
        child.wait().map_err(err)?
    };
    let mut stderr = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut stderr);
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    let times = result.map_err(|e| format!("{e} {}", stderr.trim()))?;
    if !status.success() {
        return Err(format!("the Python server failed: {}", stderr.trim()));
    }
    Ok(times)
}
