//! The contract between a transport and what it drives.
//!
//! A transport owns sockets, readiness, timers and backpressure; it knows nothing of the
//! protocol. It drives anything that is [`Driven`]: the four connection types of this crate
//! directly (a client), or an application's wrapper around a server connection that also
//! handles its events. Servers get their connections from an [`Accept`] implementation, one per
//! listener. The application wakes a connection from another thread (a finished disk write,
//! say) through the [`Notify`] it was given at accept time.

mod pump;

pub use pump::{Pump, Round, Wait, LINGER};

use crate::connection::{Connection, Protocol};
use crate::error::Error;
use crate::time::Now;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Wakes one connection from any thread: the transport then calls [`Driven::wake`] on its loop.
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// One connection as a transport sees it. All methods are called from the transport's loop.
///
/// After every call the transport drains [`poll_transmit`](Self::poll_transmit) to the socket,
/// re-reads [`poll_timeout`](Self::poll_timeout), and closes the socket once
/// [`is_closed`](Self::is_closed) and everything was written.
///
/// Inputs return nothing: a failure is the connection's own business, and ends it. A
/// [`Connection`] keeps the error that ended it (its sticky [`Connection::error`], the same
/// error its inputs return), and [`error`](Self::error) hands it to the transport.
pub trait Driven {
    /// Bytes read from the socket.
    fn receive(&mut self, now: Now, data: &[u8]);
    /// The socket read returned end of stream (or failed).
    fn handle_eof(&mut self, now: Now);
    /// The deadline from `poll_timeout` passed.
    fn handle_timeout(&mut self, now: Now);
    /// The connection's [`Notify`] fired.
    fn wake(&mut self, _now: Now) {}
    /// Appends bytes to send; returns how many.
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize;
    /// The next deadline, an instant of the monotonic clock.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Whether the transport should read more now (false: the application is behind, e.g. disk).
    fn wants_read(&self) -> bool {
        true
    }
    /// Whether the connection is still in its TLS handshake. Servers count such connections
    /// against [`ServeOptions::max_handshakes`]; a wrapper around a server connection should
    /// forward this (the default, `false`, exempts the connection from admission control).
    fn is_handshaking(&self) -> bool {
        false
    }
    /// Whether the connection is finished.
    fn is_closed(&self) -> bool;
    /// Why the connection failed, if it did (a wrapper should forward its connection's).
    fn error(&self) -> Option<&Error> {
        None
    }
    /// The server is shutting down: finish the request in flight, then close.
    fn shutdown(&mut self, _now: Now) {}
}

/// Makes the [`Driven`] connection for each accepted socket.
pub trait Accept: Send + Sync + 'static {
    /// The connection type.
    type Conn: Driven + Send + 'static;
    /// A new connection from `peer`; `None` refuses it (the socket is closed at once).
    fn accept(&self, now: Now, peer: core::net::SocketAddr, notify: Notify) -> Option<Self::Conn>;
}

/// Limits a server transport enforces.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Event loops (threads, or executor threads) to run; 0 means one per core.
    pub loops: usize,
    /// Most connections open at once, across all loops; more are closed on accept.
    pub max_connections: usize,
    /// Most connections in their TLS handshake at once (admission control; the mio transport
    /// splits it evenly between its loops). An accepted socket gets no protocol state until
    /// its first bytes arrive and a slot is free; those with bytes wait in arrival order, and
    /// their handshake deadline starts when they are admitted. Under a burst, each admitted
    /// handshake then gets the CPU it needs to finish well inside its deadline, instead of
    /// thousands of handshakes interleaving until all are late.
    pub max_handshakes: usize,
    /// How long an accepted socket may stay silent (no ClientHello) before it is closed. Silent
    /// sockets never hold a handshake slot.
    pub hello_timeout: Duration,
    /// Stop reading from a peer while this many bytes wait to be written to it.
    pub write_high_water: usize,
    /// Bytes read from a socket per read call.
    pub read_chunk: usize,
    /// How long shutdown waits for requests in flight before closing everything.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            loops: 0,
            max_connections: 20_000,
            max_handshakes: 256,
            hello_timeout: Duration::from_secs(10),
            write_high_water: 256 * 1024,
            read_chunk: 256 * 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// A shutdown signal shared by a server's loops and whoever stops it (a signal handler, a test).
#[derive(Default)]
pub struct Shutdown {
    requested: AtomicBool,
    listeners: Mutex<Vec<Notify>>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("requested", &self.is_requested())
            .finish()
    }
}

impl Shutdown {
    /// A signal not yet raised.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Raises the signal and wakes every registered loop.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        let listeners = match self.listeners.lock() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        for notify in listeners {
            notify();
        }
    }

    /// Whether the signal was raised.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Registers a loop's waker; it is called on `request`.
    pub fn register(&self, notify: Notify) {
        match self.listeners.lock() {
            Ok(mut l) => l.push(notify),
            Err(poisoned) => poisoned.into_inner().push(notify),
        }
        if self.is_requested() {
            // Raised before this loop registered: make sure it notices.
            self.request();
        }
    }
}

/// How far a client exchange has come, as a transport reports it to the step function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes the transport holds that the socket has not taken yet.
    pub unsent: usize,
}

/// What the step function of a client exchange wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Keep driving.
    Continue,
    /// Stop: flush what is queued and return.
    Done,
}

/// A client-side transport: one connection, driven until the step function says it is done.
pub trait Link {
    /// The transport's error (connect failure, socket error, deadline).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Drives `conn`, calling `step` after every round of input and output, until `step`
    /// returns [`Step::Done`] or the connection closes. `step` may queue more output (the next
    /// piece of an upload, say): keep `Progress::unsent` small to bound memory.
    fn run<C: Driven>(
        &mut self,
        conn: &mut C,
        step: impl FnMut(&mut C, Progress) -> Step,
    ) -> Result<(), Self::Error>;

    /// Drives `conn` until `step` returns an outcome, then closes the connection (what is
    /// queued is still flushed) and returns that outcome: a client's request and its answer.
    ///
    /// `Ok(None)`: the connection closed first ([`Connection::error`] says why, if it failed);
    /// `Err`: the transport failed first.
    fn run_until<P: Protocol, T>(
        &mut self,
        conn: &mut Connection<P>,
        step: impl FnMut(&mut Connection<P>, Progress) -> Option<T>,
    ) -> Result<Option<T>, Self::Error> {
        self.drive(conn, step, true)
    }

    /// As [`run_until`](Self::run_until), but leaves the connection open for the next request
    /// (several requests over one connection); close it with the last one.
    fn run_to<P: Protocol, T>(
        &mut self,
        conn: &mut Connection<P>,
        step: impl FnMut(&mut Connection<P>, Progress) -> Option<T>,
    ) -> Result<Option<T>, Self::Error> {
        self.drive(conn, step, false)
    }

    #[doc(hidden)]
    fn drive<P: Protocol, T>(
        &mut self,
        conn: &mut Connection<P>,
        mut step: impl FnMut(&mut Connection<P>, Progress) -> Option<T>,
        close: bool,
    ) -> Result<Option<T>, Self::Error> {
        let mut outcome = None;
        let ran = self.run(conn, |c, progress| {
            if outcome.is_none() {
                outcome = step(c, progress);
            }
            if outcome.is_some() {
                if close {
                    c.close();
                }
                Step::Done
            } else {
                Step::Continue
            }
        });
        match (outcome, ran) {
            (Some(o), _) => Ok(Some(o)),
            (None, Err(e)) => Err(e),
            (None, Ok(())) => Ok(None),
        }
    }
}

/// Every connection is driven as it is: a client directly, a server through the application's
/// wrapper (which handles its events) or directly.
///
/// The inputs' `Result`s are not lost here: every error an input of a [`Connection`] returns is
/// also its sticky error, which [`Driven::error`] (and [`Connection::error`]) report, and which
/// ends the connection ([`Driven::is_closed`]).
impl<P: Protocol> Driven for Connection<P> {
    fn receive(&mut self, now: Now, data: &[u8]) {
        // The error, if any, stays in `self.error()`.
        let _ = Connection::receive(self, now, data);
    }
    fn handle_eof(&mut self, now: Now) {
        let _ = Connection::handle_eof(self, now);
    }
    fn handle_timeout(&mut self, now: Now) {
        let _ = Connection::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        Connection::poll_transmit(self, out)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Connection::poll_timeout(self)
    }
    fn is_closed(&self) -> bool {
        Connection::is_closed(self)
    }
    fn is_handshaking(&self) -> bool {
        Connection::is_handshaking(self)
    }
    fn error(&self) -> Option<&Error> {
        Connection::error(self)
    }
}
