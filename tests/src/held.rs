//! A student connection held open to a real Blackboard: the core's [`SubmitClient`] over a
//! plain blocking socket, made from a profile that `student enroll` wrote. The `student`
//! binary opens one connection per command; tests of what happens to connections that stay
//! open (revocation, per-student limits, maximum age) need one that does not close.

use handin_core::config::server_name;
use handin_core::msg::UploadOffer;
use handin_core::{
    ClientConfig, Error, Identity, Now, Refusal, Role, SubmitClient, SubmitClientEvent,
};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// Both clocks, for the core.
fn clock() -> Now {
    Now::new(Instant::now(), SystemTime::now())
}

/// One open connection. See the [module documentation](self).
#[derive(Debug)]
pub struct Held {
    conn: SubmitClient,
    sock: TcpStream,
}

/// How a held connection ended, or why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server said why (a `Refused` answer or an `Error` frame).
    Refused(Refusal),
    /// The connection ended without a reason from the server.
    Closed(String),
}

impl Outcome {
    /// The server's refusal, if it gave one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Refused(r) => Some(r),
            Self::Closed(_) => None,
        }
    }
}

impl Held {
    /// Connects to Blackboard at `addr` with the profile in `profile` and waits for the
    /// Welcome (or the server's refusal).
    pub fn connect(profile: &Path, addr: &str) -> Result<Self, Outcome> {
        let read = |name: &str| {
            std::fs::read(profile.join(name))
                .unwrap_or_else(|e| panic!("{name} in the profile: {e}"))
        };
        let ca = handin_core::pki::from_pem_or_der(&read("ca.crt"), "CERTIFICATE")
            .expect("ca.crt")
            .remove(0);
        let identity = Identity::from_pem(&read("cert.pem"), &read("key.pem")).expect("identity");
        let config = ClientConfig::new(Role::Submit, ca.into(), Some(identity)).expect("config");
        let name = server_name("localhost").expect("name");
        let sock = TcpStream::connect(addr).expect("connects");
        let conn = SubmitClient::new(&config, name, clock()).expect("client");
        let mut held = Self { conn, sock };
        held.until(|e| matches!(e, SubmitClientEvent::Connected { .. }))?;
        Ok(held)
    }

    /// Lists this student's submissions on the open connection.
    pub fn list(&mut self) -> Result<usize, Outcome> {
        self.conn.list(None).expect("a list request can be made");
        let mut n = 0;
        loop {
            match self.until(|e| {
                matches!(
                    e,
                    SubmitClientEvent::ListEntry(_) | SubmitClientEvent::ListEnd
                )
            })? {
                SubmitClientEvent::ListEntry(_) => n += 1,
                _ => return Ok(n),
            }
        }
    }

    /// Offers `data` as `file_name` for CSCI3180/hw1 and sends its first `part` bytes,
    /// leaving the upload unfinished.
    pub fn start_upload(
        &mut self,
        file_name: &str,
        data: &[u8],
        part: usize,
    ) -> Result<(), Outcome> {
        let offer = UploadOffer {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            file_name: file_name.into(),
            size: data.len() as u64,
            sha256: handin_core::submit::sha256(data),
        };
        self.conn.submit(offer).expect("an offer can be made");
        self.until(|e| matches!(e, SubmitClientEvent::UploadReady))?;
        self.conn.send_data(&data[..part]).expect("sends");
        self.flush().map_err(Outcome::Closed)
    }

    /// Sends the rest of an upload started with [`Held::start_upload`] and waits for the receipt.
    pub fn finish_upload(&mut self, rest: &[u8]) -> Result<(), Outcome> {
        if self.conn.send_data(rest).is_err() || self.conn.finish_upload().is_err() {
            return Err(self.outcome());
        }
        self.until(|e| matches!(e, SubmitClientEvent::Receipt { .. }))
            .map(|_| ())
    }

    /// Waits, sending nothing, until the server ends the connection or `within` passes;
    /// returns how it ended, or `None` if it is still open.
    pub fn wait_closed(&mut self, within: Duration) -> Option<Outcome> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Err(o) = self.pump(Duration::from_millis(200)) {
                return Some(o);
            }
            while let Some(ev) = self.conn.poll_event() {
                if let SubmitClientEvent::Refused(r) = ev {
                    return Some(Outcome::Refused(r));
                }
            }
        }
        None
    }

    fn until(
        &mut self,
        mut want: impl FnMut(&SubmitClientEvent) -> bool,
    ) -> Result<SubmitClientEvent, Outcome> {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            while let Some(ev) = self.conn.poll_event() {
                if let SubmitClientEvent::Refused(r) = ev {
                    return Err(Outcome::Refused(r));
                }
                if want(&ev) {
                    return Ok(ev);
                }
            }
            if Instant::now() > end {
                return Err(Outcome::Closed("no answer in 30 s".into()));
            }
            self.pump(Duration::from_millis(200))?;
        }
    }

    /// Sends what is queued, then reads once (waiting at most `wait`).
    fn pump(&mut self, wait: Duration) -> Result<(), Outcome> {
        self.flush().map_err(|_| self.outcome())?;
        if self.conn.is_closed() {
            return Err(self.outcome());
        }
        self.sock
            .set_read_timeout(Some(wait))
            .map_err(|e| Outcome::Closed(e.to_string()))?;
        let mut buf = vec![0u8; 64 * 1024];
        let now = clock();
        let _ = match self.sock.read(&mut buf) {
            Ok(0) => self.conn.handle_eof(now),
            Ok(n) => self.conn.receive(now, &buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
            Err(e) => return Err(Outcome::Closed(format!("read: {e}"))),
        };
        if self.conn.error().is_some() {
            return Err(self.outcome());
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        let mut out = Vec::new();
        self.conn.poll_transmit(&mut out);
        self.sock.write_all(&out).map_err(|e| format!("write: {e}"))
    }

    fn outcome(&self) -> Outcome {
        match self.conn.error() {
            Some(Error::Remote(r)) => Outcome::Refused(r.clone()),
            Some(e) => Outcome::Closed(e.to_string()),
            None => Outcome::Closed("closed by the server".into()),
        }
    }
}
