//! Embedding the sans-IO core in a tokio program: the same submission client as
//! `blocking_client.rs`, over `tokio::net::TcpStream`, with `tokio::time::sleep_until` for the
//! core's deadline. No handin transport crate: the core only ever sees byte slices and time.
//!
//! ```text
//! tokio-client CA_CERT CERT_CHAIN KEY HOST:PORT FILE COURSE ASSIGNMENT
//! ```
//!
//! The whole contract with the core is in `exchange`: write what `poll_transmit` hands out,
//! then wait for whichever comes first, bytes from the socket (fed to `receive`, or
//! `handle_eof`) or the core's deadline from `poll_timeout` (then `handle_timeout`).

use handin_core::config::server_name;
use handin_core::msg::UploadOffer;
use handin_core::submit::{hex, sha256};
use handin_core::{ClientConfig, Identity, Now, Role, SubmitClient, SubmitClientEvent};
use std::time::{Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Result<T> = std::result::Result<T, String>;

/// The two clocks the core takes: the monotonic one for its deadlines, the wall one for
/// certificates.
fn clock() -> Now {
    Now::new(Instant::now(), SystemTime::now())
}

/// Sends everything the core has for the peer.
async fn flush(conn: &mut SubmitClient, sock: &mut TcpStream) -> Result<()> {
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    sock.write_all(&out)
        .await
        .map_err(|e| format!("write: {e}"))
}

/// Moves bytes until `want` accepts an event; returns that event.
async fn exchange(
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
        // 2. Send what the core has for the peer.
        flush(conn, sock).await?;
        if let Some(e) = conn.error() {
            return Err(format!("connection failed: {e}"));
        }
        if conn.is_closed() {
            return Err("the server closed the connection".into());
        }
        // 3. Wait for input, or for the core's next deadline (an instant of the monotonic
        //    clock, which is what tokio's timers run on too).
        let deadline = conn.poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = sock.read(&mut buf) => {
                let now = clock();
                let _ = match read {
                    Ok(0) => conn.handle_eof(now),
                    Ok(n) => conn.receive(now, &buf[..n]),
                    Err(e) => return Err(format!("read: {e}")),
                };
            }
            () = sleep => {
                let _ = conn.handle_timeout(clock());
            }
        }
        // An error from the core is kept in `conn.error()`, checked after the next flush (which
        // sends the farewell the core queued).
    }
}

async fn run(args: &[String]) -> Result<()> {
    let [ca, chain, key, addr, file, course, assignment] = args else {
        return Err(
            "usage: tokio-client CA_CERT CERT_CHAIN KEY HOST:PORT FILE COURSE ASSIGNMENT".into(),
        );
    };
    let read = |p: &str| std::fs::read(p).map_err(|e| format!("{p}: {e}"));
    let ca = handin_core::pki::from_pem_or_der(&read(ca)?, "CERTIFICATE")?.remove(0);
    let identity = Identity::from_pem(&read(chain)?, &read(key)?).map_err(|e| e.to_string())?;
    let config =
        ClientConfig::new(Role::Submit, ca.into(), Some(identity)).map_err(|e| e.to_string())?;
    let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
    let name = server_name(host).map_err(|e| e.to_string())?;

    let data = tokio::fs::read(file)
        .await
        .map_err(|e| format!("{file}: {e}"))?;
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

    let mut sock = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = sock.set_nodelay(true);
    let mut conn = SubmitClient::new(&config, name, clock()).map_err(|e| e.to_string())?;

    // Connected only once the server's Welcome arrives (not when our TLS handshake ends).
    exchange(&mut conn, &mut sock, |e| {
        matches!(e, SubmitClientEvent::Connected { .. })
    })
    .await?;
    conn.submit(offer).map_err(|e| e.to_string())?;
    exchange(&mut conn, &mut sock, |e| {
        matches!(e, SubmitClientEvent::UploadReady)
    })
    .await?;
    for piece in data.chunks(64 * 1024) {
        conn.send_data(piece).map_err(|e| e.to_string())?;
        // Writing each piece before queueing the next keeps memory bounded.
        flush(&mut conn, &mut sock).await?;
    }
    conn.finish_upload().map_err(|e| e.to_string())?;
    let receipt = exchange(&mut conn, &mut sock, |e| {
        matches!(e, SubmitClientEvent::Receipt { .. })
    })
    .await?;
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
    let _ = flush(&mut conn, &mut sock).await;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args).await {
        eprintln!("tokio-client: {e}");
        std::process::exit(1);
    }
}
