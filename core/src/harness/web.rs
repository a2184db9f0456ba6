//! A browser in memory: a plain rustls client speaking `http/1.1` to an [`HttpServer`]
//! continued from its ClientHello, as Blackboard's port dispatches it. Used by the tests of
//! the HTTP connection and by its fuzz target.

use super::Campus;
use crate::accept::Incoming;
use crate::config::{server_name, Identity, Role};
use crate::http::{HttpLimits, HttpServer, HttpServerEvent};
use crate::time::Now;
use std::io::{Read, Write};
use std::sync::Arc;

/// A browser's TLS session and the server connection it talks to.
#[derive(Debug)]
pub struct WebPair {
    /// The browser's side.
    pub browser: rustls::ClientConnection,
    /// Blackboard's side.
    pub server: HttpServer,
    /// The plaintext the browser received so far.
    pub received: Vec<u8>,
}

impl Campus {
    /// A browser presenting `identity` (or no certificate), connected to Blackboard's web
    /// pages with `limits`; the handshake is done (or failed: see the server's error).
    pub fn web_pair(&self, identity: Option<Identity>, limits: HttpLimits) -> WebPair {
        let cfg = self.client_config(Role::Web, identity);
        // The browser's certificate checks run on the campus's virtual wall clock.
        cfg.clock.set(self.now.wall);
        let mut browser =
            rustls::ClientConnection::new(cfg.tls.clone(), server_name("localhost").expect("name"))
                .expect("a browser's TLS session");
        let mut hello = Vec::new();
        let _ = browser.write_tls(&mut hello);
        let mut incoming = Incoming::new(self.now, self.timeouts);
        let hello = incoming
            .receive(self.now, &hello)
            .expect("a good hello")
            .expect("complete");
        let web = Arc::new(self.blackboard.with_role(Role::Web).expect("web config"));
        let server = hello
            .into_web(web, limits, self.now)
            .expect("the web pages are served");
        let mut pair = WebPair {
            browser,
            server,
            received: Vec::new(),
        };
        pair.pump(self);
        pair
    }
}

impl WebPair {
    /// Moves bytes both ways until neither side has anything more to send.
    pub fn pump(&mut self, campus: &Campus) {
        self.pump_at(campus.now);
    }

    /// [`pump`](Self::pump), the server's input arriving at `now`.
    pub fn pump_at(&mut self, now: Now) {
        for _ in 0..10_000 {
            let mut to_server = Vec::new();
            while self.browser.wants_write() {
                if self.browser.write_tls(&mut to_server).is_err() {
                    break;
                }
            }
            let mut to_browser = Vec::new();
            self.server.poll_transmit(&mut to_browser);
            if to_server.is_empty() && to_browser.is_empty() {
                return;
            }
            if !to_server.is_empty() {
                let _ = self.server.receive(now, &to_server);
            }
            let mut slice = &to_browser[..];
            while !slice.is_empty() {
                match self.browser.read_tls(&mut slice) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if self.browser.process_new_packets().is_err() {
                            return;
                        }
                    }
                }
            }
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = self.browser.reader().read(&mut buf) {
                if n == 0 {
                    break;
                }
                self.received.extend_from_slice(&buf[..n]);
            }
        }
    }

    /// The browser sends `bytes` (plaintext), and the pair settles.
    pub fn send(&mut self, campus: &Campus, bytes: &[u8]) {
        let _ = self.browser.writer().write_all(bytes);
        self.pump(campus);
    }

    /// The browser sends `bytes` at `now`, and the pair settles.
    pub fn send_at(&mut self, now: Now, bytes: &[u8]) {
        let _ = self.browser.writer().write_all(bytes);
        self.pump_at(now);
    }

    /// The server's events so far.
    pub fn events(&mut self) -> Vec<HttpServerEvent> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    /// What the browser received, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }
}
