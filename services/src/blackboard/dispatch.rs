//! One port, several protocols: every accepted socket starts as an [`Incoming`] until its
//! ClientHello is in, then continues as the protocol its ALPN offer names: a student's
//! [`BbConn`] (`handin-submit/1`), a staff member's [`StaffConn`] (`handin-staff/1`) or a
//! browser's [`WebConn`] (`http/1.1`, which a browser offers with `h2`). A client offering none
//! of them gets the TLS alert `no_application_protocol`.

use super::web::WebConn;
use super::{BbConn, Blackboard, StaffConn};
use handin_core::accept::{Hello, Incoming, Rejected};
use handin_core::driver::{Driven, Notify};
use handin_core::{Now, Role};
use std::net::SocketAddr;
use std::time::Instant;

/// A socket waiting for its ClientHello, and what it will need once its protocol is known.
pub struct Waiting {
    incoming: Incoming,
    bb: Blackboard,
    notify: Notify,
    peer: SocketAddr,
}

/// A connection to Blackboard, at whichever stage it is.
pub enum Conn {
    /// Waiting for the ClientHello.
    Hello(Box<Waiting>),
    /// A student's connection.
    Submit(Box<BbConn>),
    /// A staff member's connection.
    Staff(Box<StaffConn>),
    /// A browser's connection (HTTP/1.1).
    Web(Box<WebConn>),
    /// Turned away at the ClientHello (its alert is being sent).
    Refused(Rejected),
    /// Nothing left (only while one stage gives way to the next).
    Gone,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hello(w) => write!(f, "Conn::Hello({})", w.peer),
            Self::Submit(c) => c.fmt(f),
            Self::Staff(c) => c.fmt(f),
            Self::Web(c) => c.fmt(f),
            Self::Refused(r) => r.fmt(f),
            Self::Gone => f.write_str("Conn::Gone"),
        }
    }
}

impl Conn {
    pub(super) fn new(bb: &Blackboard, now: Now, peer: SocketAddr, notify: Notify) -> Self {
        let timeouts = bb.config().timeouts();
        Self::Hello(Box::new(Waiting {
            incoming: Incoming::new(now, timeouts),
            bb: bb.clone(),
            notify,
            peer,
        }))
    }

    fn driven(&mut self) -> Option<&mut dyn Driven> {
        match self {
            Self::Hello(_) | Self::Gone => None,
            Self::Submit(c) => Some(c.as_mut()),
            Self::Staff(c) => Some(c.as_mut()),
            Self::Web(c) => Some(c.as_mut()),
            Self::Refused(r) => Some(r),
        }
    }

    fn driven_ref(&self) -> Option<&dyn Driven> {
        match self {
            Self::Hello(_) | Self::Gone => None,
            Self::Submit(c) => Some(c.as_ref()),
            Self::Staff(c) => Some(c.as_ref()),
            Self::Web(c) => Some(c.as_ref()),
            Self::Refused(r) => Some(r),
        }
    }
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiting").field("peer", &self.peer).finish()
    }
}

impl Waiting {
    /// The connection its ClientHello asks for.
    fn proceed(self, now: Now, hello: Hello) -> Conn {
        let Waiting {
            bb, notify, peer, ..
        } = self;
        // A client that offers no protocol at all is taken as a submission client, which
        // then tells it (in an Error frame, after the handshake) which protocol to ask for.
        let role = match hello.role() {
            None if hello.alpn().is_empty() => Some(Role::Submit),
            r => r,
        };
        match role {
            Some(Role::Submit) => match hello.into_submit(bb.config(), now) {
                Ok(core) => Conn::Submit(Box::new(bb.submit_conn(core, now, peer, notify))),
                Err(r) => Conn::Refused(r),
            },
            Some(Role::Staff) => match hello.into_staff(bb.staff_config(), now) {
                Ok(core) => Conn::Staff(Box::new(bb.staff_conn(core, now, peer, notify))),
                Err(r) => Conn::Refused(r),
            },
            Some(Role::Web) => match hello.into_web(bb.web_config(), bb.http_limits(), now) {
                Ok(core) => Conn::Web(Box::new(bb.web_conn(core, now, peer, notify))),
                Err(r) => Conn::Refused(r),
            },
            _ => {
                tracing::info!(%peer, offered = ?hello.alpn().iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>(),
                    "no protocol of Blackboard offered");
                Conn::Refused(hello.refuse())
            }
        }
    }
}

impl Driven for Conn {
    fn receive(&mut self, now: Now, data: &[u8]) {
        if let Self::Hello(w) = self {
            match w.incoming.receive(now, data) {
                Ok(None) => {}
                Ok(Some(hello)) => {
                    if let Self::Hello(w) = std::mem::replace(self, Self::Gone) {
                        *self = w.proceed(now, hello);
                    }
                }
                Err(e) => tracing::debug!(peer = %w.peer, error = %e, "bad ClientHello"),
            }
            return;
        }
        if let Some(d) = self.driven() {
            d.receive(now, data);
        }
    }

    fn handle_eof(&mut self, now: Now) {
        match self {
            Self::Hello(w) => {
                let _ = w.incoming.handle_eof(now);
            }
            _ => {
                if let Some(d) = self.driven() {
                    d.handle_eof(now);
                }
            }
        }
    }

    fn handle_timeout(&mut self, now: Now) {
        match self {
            Self::Hello(w) => {
                let _ = w.incoming.handle_timeout(now);
            }
            _ => {
                if let Some(d) = self.driven() {
                    d.handle_timeout(now);
                }
            }
        }
    }

    fn wake(&mut self, now: Now) {
        if let Some(d) = self.driven() {
            d.wake(now);
        }
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        match self {
            Self::Hello(w) => w.incoming.poll_transmit(out),
            _ => self.driven().map_or(0, |d| d.poll_transmit(out)),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Self::Hello(w) => w.incoming.poll_timeout(),
            _ => self.driven_ref().and_then(|d| d.poll_timeout()),
        }
    }

    fn wants_read(&self) -> bool {
        self.driven_ref().is_none_or(|d| d.wants_read())
    }

    fn is_handshaking(&self) -> bool {
        match self {
            Self::Hello(w) => !w.incoming.is_closed(),
            _ => self.driven_ref().is_some_and(|d| d.is_handshaking()),
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            Self::Hello(w) => w.incoming.is_closed(),
            _ => self.driven_ref().is_none_or(|d| d.is_closed()),
        }
    }

    fn error(&self) -> Option<&handin_core::Error> {
        match self {
            Self::Hello(w) => w.incoming.error(),
            _ => self.driven_ref().and_then(|d| d.error()),
        }
    }

    fn shutdown(&mut self, now: Now) {
        if let Some(d) = self.driven() {
            d.shutdown(now);
        }
    }
}
