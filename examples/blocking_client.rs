//! Embedding the sans-IO core in a loop of your own: a complete submission client over plain
//! blocking `std::net` sockets, with no async runtime and no handin transport crate.
//!
//! ```text
//! blocking-client CA_CERT CERT_CHAIN KEY HOST:PORT FILE COURSE ASSIGNMENT
//! ```
//!
//! The whole contract with the core is in `exchange`: write what `poll_transmit` hands out,
//! read with a timeout derived from `poll_timeout`, and feed what arrives to `receive` (or
//! `handle_eof` / `handle_timeout`). The core does TLS, framing, verification and the state
//! machine; this file only moves bytes and decides what to ask for next.

use handin_core::config::server_name;
use handin_core::msg::UploadOffer;
use handin_core::submit::{hex, sha256};
use handin_core::{ClientConfig, Identity, Now, Role, SubmitClient, SubmitClientEvent};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

type Result<T> = std::result::Result<T, String>;

/// The two clocks the core takes: the monotonic one for its deadlines, the wall one for
/// certificates.
fn clock() -> Now {
    Now::new(Instant::now(), SystemTime::now())
}

/// Moves bytes until `want` accepts an event; returns that event.
fn exchange(
    conn: &mut SubmitClient,
    sock: &mut TcpStream,
    mut want: impl FnMut(&SubmitClientEvent) -> bool,
) -> Result<SubmitClientEvent> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // 1. Drain events: the one we wait for ends the exchange.
        while let Some(event) = conn.poll_event() {
            if let SubmitClientEvent::Refused(r) = &event {
                return Err(format!("refused: {}", r.reason));
            }
            if want(&event) {
                return Ok(event);
            }
        }
        // 2. Send everything the core has for the peer (blocking writes are our backpressure).
        let mut out = Vec::new();
        conn.poll_transmit(&mut out);
        sock.write_all(&out).map_err(|e| format!("write: {e}"))?;
        if let Some(e) = conn.error() {
            return Err(format!("connection failed: {e}"));
        }
        if conn.is_closed() {
            return Err("the server closed the connection".into());
        }
        // 3. Wait for input, but no longer than the core's next deadline.
        let wait = conn
            .poll_timeout()
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_millis(1));
        sock.set_read_timeout(Some(wait))
            .map_err(|e| e.to_string())?;
        let read = sock.read(&mut buf);
        let now = clock();
        let _ = match read {
            Ok(0) => conn.handle_eof(now),
            Ok(n) => conn.receive(now, &buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                conn.handle_timeout(now)
            }
            Err(e) => return Err(format!("read: {e}")),
        };
    }
}

fn run(args: &[String]) -> Result<()> {
    let [ca, chain, key, addr, file, course, assignment] = args else {
        return Err(
            "usage: blocking-client CA_CERT CERT_CHAIN KEY HOST:PORT FILE COURSE ASSIGNMENT".into(),
        );
    };
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
    let ca = handin_core::pki::from_pem_or_der(&read(ca)?, "CERTIFICATE")?.remove(0);
    let identity = Identity::from_pem(&read(chain)?, &read(key)?).map_err(|e| e.to_string())?;
    let config =
        ClientConfig::new(Role::Submit, ca.into(), Some(identity)).map_err(|e| e.to_string())?;
    let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
    let name = server_name(host).map_err(|e| e.to_string())?;

    let data = read(file)?;
    let file_name = std::path::Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("the file has no name")?;
    let offer = UploadOffer {
        course: course.clone(),
        assignment: assignment.clone(),
        file_name: file_name.into(),
        size: data.len() as u64,
        sha256: sha256(&data),
    };

    let mut sock = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    let mut conn = SubmitClient::new(&config, name, clock()).map_err(|e| e.to_string())?;

    // Connected only once the server's Welcome arrives (not when our TLS handshake ends).
    exchange(&mut conn, &mut sock, |e| {
        matches!(e, SubmitClientEvent::Connected { .. })
    })?;
    conn.submit(offer).map_err(|e| e.to_string())?;
    exchange(&mut conn, &mut sock, |e| {
        matches!(e, SubmitClientEvent::UploadReady)
    })?;
    for piece in data.chunks(64 * 1024) {
        conn.send_data(piece).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        conn.poll_transmit(&mut out);
        sock.write_all(&out).map_err(|e| format!("write: {e}"))?;
    }
    conn.finish_upload().map_err(|e| e.to_string())?;
    let receipt = exchange(&mut conn, &mut sock, |e| {
        matches!(e, SubmitClientEvent::Receipt { .. })
    })?;
    if let SubmitClientEvent::Receipt { body, .. } = receipt {
        // The core already verified the signature with the server's certificate.
        println!(
            "receipt {} for {} bytes, sha256 {}",
            body.id,
            body.size,
            hex(&body.sha256)
        );
    }
    conn.close();
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    let _ = sock.write_all(&out);
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("blocking-client: {e}");
        std::process::exit(1);
    }
}
