//! The web pages as a browser uses them, for the measurements: a blocking HTTPS/1.1 client
//! (rustls over a TCP stream, the person's certificate presented) that fetches one page or
//! downloads one file (chunked or not) to disk and fsyncs it, as `staff collect` does with
//! each file it fetches.

use super::Result;
use handin_core::config::provider;
use handin_core::rustls::pki_types::{CertificateDer, ServerName};
use handin_core::rustls::{self, ClientConnection, RootCertStore, StreamOwned};
use handin_core::Identity;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A browser holding `identity`, trusting `ca`.
#[derive(Debug, Clone)]
pub struct Browser {
    config: Arc<rustls::ClientConfig>,
    addr: String,
}

impl Browser {
    /// A browser for Blackboard at `addr`.
    pub fn new(addr: &str, ca: &CertificateDer<'static>, identity: Identity) -> Result<Self> {
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone()).map_err(|e| e.to_string())?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(identity.chain, identity.key)
            .map_err(|e| e.to_string())?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            addr: addr.to_owned(),
        })
    }

    /// `GET path` on a new connection; the body goes to `sink`. Returns the status and the
    /// bytes of the body.
    pub fn get(&self, path: &str, sink: &mut dyn Write) -> Result<(u16, u64)> {
        let host = self.addr.rsplit_once(':').map_or(&*self.addr, |(h, _)| h);
        let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
        let conn = ClientConnection::new(self.config.clone(), name).map_err(|e| e.to_string())?;
        let sock = TcpStream::connect(&self.addr).map_err(|e| format!("{}: {e}", self.addr))?;
        sock.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut tls = StreamOwned::new(conn, sock);
        write!(
            tls,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .map_err(|e| e.to_string())?;
        let mut r = BufReader::with_capacity(256 * 1024, tls);
        let mut line = String::new();
        r.read_line(&mut line).map_err(|e| e.to_string())?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: {line:?}"))?;
        let mut chunked = false;
        let mut length: Option<u64> = None;
        loop {
            line.clear();
            r.read_line(&mut line).map_err(|e| e.to_string())?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let lower = l.to_ascii_lowercase();
            if lower == "transfer-encoding: chunked" {
                chunked = true;
            } else if let Some(n) = lower.strip_prefix("content-length: ") {
                length = n.parse().ok();
            }
        }
        let mut total = 0u64;
        if chunked {
            loop {
                line.clear();
                r.read_line(&mut line).map_err(|e| e.to_string())?;
                let n = u64::from_str_radix(line.trim_end(), 16)
                    .map_err(|_| format!("bad chunk size {line:?}"))?;
                if n == 0 {
                    break;
                }
                total += std::io::copy(&mut (&mut r).take(n), sink).map_err(|e| e.to_string())?;
                line.clear();
                r.read_line(&mut line).map_err(|e| e.to_string())?;
            }
        } else if let Some(n) = length {
            total = std::io::copy(&mut (&mut r).take(n), sink).map_err(|e| e.to_string())?;
        }
        Ok((status, total))
    }

    /// Downloads `path` to `file` and fsyncs it; returns the time and the bytes.
    pub fn download(&self, path: &str, file: &Path) -> Result<(Duration, u64)> {
        let started = Instant::now();
        let mut f = std::fs::File::create(file).map_err(|e| e.to_string())?;
        let (status, n) = self.get(path, &mut f)?;
        f.sync_all().map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("GET {path}: {status}"));
        }
        Ok((started.elapsed(), n))
    }

    /// Times `GET path` `runs` times (a new connection each, as a page load after a while);
    /// returns each time.
    pub fn time_page(&self, path: &str, runs: usize) -> Result<Vec<Duration>> {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let mut page = Vec::new();
            let (status, _) = self.get(path, &mut page)?;
            if status != 200 {
                return Err(format!("GET {path}: {status}"));
            }
            times.push(started.elapsed());
        }
        Ok(times)
    }
}
