//! Several protocols on one port: the client's ALPN offer, read from its ClientHello before
//! any TLS configuration is chosen, picks the protocol.
//!
//! Blackboard serves `handin-submit/2` (and `/1`) and `handin-staff/1` on one port. A server that does
//! so starts every accepted socket as an [`Incoming`] (sans-IO, over
//! [`rustls::server::Acceptor`]), feeds it bytes until it yields the [`Hello`], looks at the
//! protocols the client offers, and continues the handshake as the matching connection with
//! the bytes already read:
//!
//! ```no_run
//! # use handin_core::accept::{Incoming, Hello};
//! # use handin_core::{Now, Role, ServerConfig, Timeouts};
//! # use std::sync::Arc;
//! # fn go(submit: Arc<ServerConfig>, staff: Arc<ServerConfig>, now: Now, bytes: &[u8]) {
//! let mut incoming = Incoming::new(now, Timeouts::default());
//! match incoming.receive(now, bytes) {
//!     Ok(None) => { /* read more; or handle_timeout at poll_timeout */ }
//!     Err(_) => { /* send what incoming.poll_transmit gives (an alert), then close */ }
//!     Ok(Some(hello)) => match hello.role() {
//!         Some(Role::Submit) => { let conn = hello.into_submit(submit, now); }
//!         Some(Role::Staff) => { let conn = hello.into_staff(staff, now); }
//!         _ => { let rejected = hello.refuse(); /* flush its alert, then close */ }
//!     },
//! }
//! # }
//! ```
//!
//! The ClientHello must arrive within the handshake timeout, counted from [`Incoming::new`];
//! the connection built from it keeps that same deadline for the rest of the handshake.

use crate::config::{Role, ServerConfig, Timeouts};
use crate::connection::{Connection, Protocol};
use crate::driver::Driven;
use crate::error::Error;
use crate::http::{HttpLimits, HttpServer};
use crate::staff::StaffServer;
use crate::submit::SubmitServer;
use crate::time::Now;
use rustls::server::{Accepted, Acceptor};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// A fatal `no_application_protocol` (120) alert, as a TLS 1.3 server sends it before its
/// ServerHello: a plaintext alert record.
const NO_APPLICATION_PROTOCOL: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x78];

/// An accepted socket until its ClientHello is complete.
///
/// Inputs: [`receive`](Self::receive), [`handle_eof`](Self::handle_eof) and
/// [`handle_timeout`](Self::handle_timeout) (once [`poll_timeout`](Self::poll_timeout) has
/// passed). An error is fatal and sticky, as on a [`Connection`]: send what
/// [`poll_transmit`](Self::poll_transmit) yields (a TLS alert for a malformed hello), then
/// close the socket.
pub struct Incoming {
    acceptor: Option<Acceptor>,
    deadline: Instant,
    out: Vec<u8>,
    error: Option<Error>,
}

impl Incoming {
    /// A socket accepted at `now`; its ClientHello is due within `timeouts.handshake`.
    pub fn new(now: Now, timeouts: Timeouts) -> Self {
        Self {
            acceptor: Some(Acceptor::default()),
            deadline: now.mono + timeouts.handshake,
            out: Vec::new(),
            error: None,
        }
    }

    /// Feeds bytes read from the socket (any split). Returns the [`Hello`] once the
    /// ClientHello is complete; the bytes after it travel inside the `Hello`, so nothing read
    /// is lost. After that the `Incoming` is spent: make the connection from the `Hello`.
    ///
    /// A malformed ClientHello is an error, and [`poll_transmit`](Self::poll_transmit) then
    /// yields the TLS alert to send.
    pub fn receive(&mut self, _now: Now, mut data: &[u8]) -> Result<Option<Hello>, Error> {
        self.check()?;
        let Some(acceptor) = self.acceptor.as_mut() else {
            return Err(Error::Protocol(
                "the ClientHello was already handed out".into(),
            ));
        };
        while !data.is_empty() {
            if let Err(e) = acceptor.read_tls(&mut data) {
                return Err(self.fail(Error::Protocol(format!("tls input: {e}"))));
            }
            match acceptor.accept() {
                Ok(None) => {}
                Ok(Some(accepted)) => {
                    self.acceptor = None;
                    return Ok(Some(Hello {
                        accepted,
                        rest: data.to_vec(),
                        deadline: self.deadline,
                    }));
                }
                Err((e, mut alert)) => {
                    let _ = alert.write_all(&mut self.out);
                    return Err(self.fail(Error::Tls(e)));
                }
            }
        }
        Ok(None)
    }

    /// The socket's stream ended before the ClientHello did.
    pub fn handle_eof(&mut self, _now: Now) -> Result<(), Error> {
        self.check()?;
        Err(self.fail(Error::Closed))
    }

    /// Fails the socket if its ClientHello is overdue at `now.mono`.
    pub fn handle_timeout(&mut self, now: Now) -> Result<(), Error> {
        self.check()?;
        if now.mono >= self.deadline {
            return Err(self.fail(Error::Timeout("the ClientHello did not arrive in time")));
        }
        Ok(())
    }

    /// The instant by which the ClientHello must be complete (`None` once failed).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (&self.error, &self.acceptor) {
            (None, Some(_)) => Some(self.deadline),
            _ => None,
        }
    }

    /// Appends the bytes to send (only ever an alert, after an error); returns how many.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.out.len();
        out.append(&mut self.out);
        n
    }

    /// Whether the socket failed: flush [`poll_transmit`](Self::poll_transmit), then close.
    pub fn is_closed(&self) -> bool {
        self.error.is_some()
    }

    /// The fatal error, if one happened.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    fn check(&self) -> Result<(), Error> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        self.acceptor = None;
        self.error = Some(e.clone());
        e
    }
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("waiting", &self.acceptor.is_some())
            .field("error", &self.error)
            .finish()
    }
}

/// A complete ClientHello: what the client offers, and the means to continue its handshake
/// as one of the protocols.
pub struct Hello {
    accepted: Accepted,
    rest: Vec<u8>,
    deadline: Instant,
}

impl Hello {
    /// The ALPN protocol names the client offers, in its order of preference (empty if it
    /// offers none).
    pub fn alpn(&self) -> Vec<Vec<u8>> {
        self.accepted
            .client_hello()
            .alpn()
            .map(|names| names.map(<[u8]>::to_vec).collect())
            .unwrap_or_default()
    }

    /// Whether the client offers the ALPN protocol `name`.
    pub fn offers(&self, name: &[u8]) -> bool {
        self.accepted
            .client_hello()
            .alpn()
            .is_some_and(|mut names| names.any(|n| n == name))
    }

    /// The first protocol of handin the client offers (in its order of preference), if any.
    pub fn role(&self) -> Option<Role> {
        self.accepted
            .client_hello()
            .alpn()
            .and_then(|mut names| names.find_map(Role::from_alpn))
    }

    /// The server name the client asked for (SNI), if it sent one.
    pub fn server_name(&self) -> Option<String> {
        self.accepted
            .client_hello()
            .server_name()
            .map(str::to_owned)
    }

    /// Continues the handshake as a submission server ([`SubmitServer`]), from `config`
    /// (whose role must be [`Role::Submit`]). If the client offers ALPN protocols but neither
    /// `handin-submit/2` nor `handin-submit/1`, the handshake fails with the `no_application_protocol` alert; a
    /// client that offers none is refused after the handshake, as by [`SubmitServer::new`].
    pub fn into_submit(
        self,
        config: Arc<ServerConfig>,
        now: Now,
    ) -> Result<SubmitServer, Rejected> {
        let (tls, rest) = self.connection(&config, Role::Submit, now)?;
        Ok(rest.finish(SubmitServer::from_tls(config, tls, now), now))
    }

    /// Continues the handshake as a staff server ([`StaffServer`]), from `config` (whose role
    /// must be [`Role::Staff`]), as [`into_submit`](Self::into_submit) does for submission.
    pub fn into_staff(self, config: Arc<ServerConfig>, now: Now) -> Result<StaffServer, Rejected> {
        let (tls, rest) = self.connection(&config, Role::Staff, now)?;
        Ok(rest.finish(StaffServer::from_tls(config, tls, now), now))
    }

    /// Continues the handshake as an HTTP/1.1 server ([`HttpServer`]) for a browser, from
    /// `config` (whose role must be [`Role::Web`]; the client certificate is optional).
    pub fn into_web(
        self,
        config: Arc<ServerConfig>,
        limits: HttpLimits,
        now: Now,
    ) -> Result<HttpServer, Rejected> {
        let (tls, rest) = self.connection(&config, Role::Web, now)?;
        Ok(rest.finish(HttpServer::from_tls(config, tls, limits, now), now))
    }

    /// Refuses the client: none of the protocols it offers is served here. It gets the TLS
    /// alert `no_application_protocol` (120).
    pub fn refuse(self) -> Rejected {
        Rejected {
            error: Error::Tls(rustls::Error::NoApplicationProtocol),
            alert: NO_APPLICATION_PROTOCOL.to_vec(),
        }
    }

    fn connection(
        self,
        config: &ServerConfig,
        role: Role,
        now: Now,
    ) -> Result<(rustls::ServerConnection, Continue), Rejected> {
        if config.role != role {
            return Err(Rejected {
                error: Error::Protocol(format!(
                    "a {:?} server needs a configuration for that role, not {:?}",
                    role, config.role
                )),
                alert: NO_APPLICATION_PROTOCOL.to_vec(),
            });
        }
        // What rustls checks while it continues (a resumed session's age) is judged at `now`.
        config.clock.set(now.wall);
        match self.accepted.into_connection(config.tls.clone()) {
            Ok(tls) => Ok((
                tls,
                Continue {
                    rest: self.rest,
                    deadline: self.deadline,
                },
            )),
            Err((error, mut alert)) => {
                let mut bytes = Vec::new();
                let _ = alert.write_all(&mut bytes);
                Err(Rejected {
                    error: Error::Tls(error),
                    alert: bytes,
                })
            }
        }
    }
}

/// What a connection continued from a hello still needs: the bytes read after the hello and
/// the hello's deadline.
struct Continue {
    rest: Vec<u8>,
    deadline: Instant,
}

impl Continue {
    fn finish<P: Protocol>(self, mut conn: Connection<P>, now: Now) -> Connection<P> {
        conn.engine.cap_handshake_deadline(self.deadline);
        conn.resume(now, &self.rest);
        conn
    }
}

impl fmt::Debug for Hello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hello")
            .field(
                "alpn",
                &self
                    .alpn()
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>(),
            )
            .field("server_name", &self.server_name())
            .field("rest", &self.rest.len())
            .finish()
    }
}

/// A client turned away at its ClientHello: the error, and the alert to send before closing.
/// It is a [`Driven`] already closed, so a transport flushes the alert and closes the socket.
#[derive(Debug)]
pub struct Rejected {
    error: Error,
    alert: Vec<u8>,
}

impl Rejected {
    /// Why.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// Appends the alert to send (once); returns how many bytes.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.alert.len();
        out.append(&mut self.alert);
        n
    }

    /// The error, dropping the alert.
    pub fn into_error(self) -> Error {
        self.error
    }
}

impl Driven for Rejected {
    fn receive(&mut self, _now: Now, _data: &[u8]) {}

    fn handle_eof(&mut self, _now: Now) {}

    fn handle_timeout(&mut self, _now: Now) {}

    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        Rejected::poll_transmit(self, out)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn is_closed(&self) -> bool {
        true
    }

    fn error(&self) -> Option<&Error> {
        Some(&self.error)
    }
}
