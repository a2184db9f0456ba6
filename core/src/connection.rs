//! One connection type for every protocol: the input/output surface is written once here, for
//! any [`Protocol`]; each protocol adds its own requests and answers in an
//! `impl Connection<ItsProtocol>` block next to its state machine.

use crate::engine::{Engine, HandshakeInfo};
use crate::error::Error;
use crate::time::Now;
use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

/// One side of one protocol over one TLS session: rustls fed through slices, the frames, the
/// deadlines and the protocol's state machine. It does no I/O and reads no clock.
///
/// The connections of handin are this type over a protocol parameter:
/// [`EnrollClient`](crate::EnrollClient), [`EnrollServer`](crate::EnrollServer)
/// (`handin-enroll/1`), [`SubmitClient`](crate::SubmitClient),
/// [`SubmitServer`](crate::SubmitServer) (`handin-submit/1`),
/// [`StaffClient`](crate::StaffClient) and [`StaffServer`](crate::StaffServer)
/// (`handin-staff/1`). The methods
/// on this page are shared by all of them; each adds its own requests and answers (`submit`,
/// `accept_upload`, `issue`, ...), documented on its protocol type.
///
/// # The call protocol
///
/// The embedder owns the socket and the clocks, and calls four kinds of methods:
///
/// - **inputs**: [`receive`](Self::receive) for bytes read from the socket (any split),
///   [`handle_eof`](Self::handle_eof) when the read returned end of stream, and
///   [`handle_timeout`](Self::handle_timeout) once the instant of
///   [`poll_timeout`](Self::poll_timeout) has passed. Each takes [`Now`]: the monotonic instant
///   for deadlines and the wall time for certificates.
/// - **application calls**: the protocol's requests and answers, and [`close`](Self::close),
///   [`hold_input`](Self::hold_input).
/// - **outputs**: [`poll_event`](Self::poll_event), [`poll_transmit`](Self::poll_transmit),
///   [`poll_timeout`](Self::poll_timeout).
/// - **getters**: [`is_closed`](Self::is_closed), [`error`](Self::error),
///   [`is_handshaking`](Self::is_handshaking), [`handshake_info`](Self::handshake_info),
///   [`peer_certificate`](Self::peer_certificate), [`buffered_input`](Self::buffered_input).
///
/// After every input or application call, drain the outputs in this order:
///
/// 1. [`poll_event`](Self::poll_event) until it returns `None`, answering each request event
///    with the call its documentation names (answers may also come later, from another task:
///    the connection waits, with its idle deadline paused);
/// 2. [`poll_transmit`](Self::poll_transmit), and write everything it appended to the socket;
/// 3. [`poll_timeout`](Self::poll_timeout): wait for the socket, or until that instant of the
///    monotonic clock, then call [`handle_timeout`](Self::handle_timeout).
///
/// Once [`is_closed`](Self::is_closed) and everything was written, close the socket.
///
/// A whole driver over a blocking socket, given `clock`, which reads the caller's two clocks
/// into a [`Now`], and a socket whose `read_until` gives up (with an error) at a deadline:
///
/// ```no_run
/// # use handin_core::{Now, SubmitClient};
/// # use std::io::{Read, Result, Write};
/// # use std::time::Instant;
/// # trait Socket: Read + Write {
/// #     fn read_until(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize>;
/// # }
/// # fn drive(conn: &mut SubmitClient, sock: &mut impl Socket, clock: impl Fn() -> Now) -> Result<()> {
/// let mut buf = vec![0; 64 * 1024];
/// let mut out = Vec::new();
/// while !conn.is_closed() {
///     while let Some(event) = conn.poll_event() {
///         println!("{event:?}"); // answer requests here, or make the next one
///     }
///     conn.poll_transmit(&mut out);
///     sock.write_all(&out)?;
///     out.clear();
///     let read = sock.read_until(&mut buf, conn.poll_timeout());
///     let now = clock();
///     let _ = match read {
///         Ok(0) => conn.handle_eof(now),
///         Ok(n) => conn.receive(now, &buf[..n]),
///         Err(_) => conn.handle_timeout(now),
///     };
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// An error returned by an input is fatal and sticky: the connection keeps it, returns it
/// from [`error`](Self::error) and from every later input, and [`poll_transmit`](Self::poll_transmit)
/// still yields the farewell (an `Error` frame and the TLS close_notify, or an alert) to send
/// before closing. Every error an input returns is that same error, so a driver may drop the
/// `Result` and read [`error`](Self::error) instead: that is what
/// [`Driven`](crate::driver::Driven) does. An application call refused in the current state
/// returns a [`UsageError`](crate::UsageError) and changes nothing.
pub struct Connection<P: Protocol> {
    pub(crate) engine: Engine,
    pub(crate) events: VecDeque<P::Event>,
    pub(crate) proto: P,
}

/// One side of one protocol: the parameter of [`Connection`]. Implemented by the protocol
/// sides of this crate only ([`EnrollClientProtocol`](crate::enroll::EnrollClientProtocol),
/// [`EnrollServerProtocol`](crate::enroll::EnrollServerProtocol),
/// [`SubmitClientProtocol`](crate::submit::SubmitClientProtocol),
/// [`SubmitServerProtocol`](crate::submit::SubmitServerProtocol),
/// [`StaffClientProtocol`](crate::staff::StaffClientProtocol),
/// [`StaffServerProtocol`](crate::staff::StaffServerProtocol)); write code generic over it
/// to drive any of them.
pub trait Protocol: sealed::Machine + fmt::Debug {
    /// What the connection tells the application, from [`Connection::poll_event`].
    type Event: fmt::Debug;
}

pub(crate) mod sealed {
    use super::{Connection, Protocol};
    use crate::error::Error;

    /// What a protocol side does with the engine's input. Outside this crate it can be neither
    /// named nor implemented.
    pub trait Machine: Sized {
        /// Handles what the engine decoded (the end of the handshake, whole messages, the end
        /// of the stream), queueing events and answers. An error is fatal.
        fn process(conn: &mut Connection<Self>) -> Result<(), Error>
        where
            Self: Protocol;

        /// Cleans up after a fatal error (an upload in progress is aborted, say).
        fn on_fatal(_conn: &mut Connection<Self>)
        where
            Self: Protocol,
        {
        }
    }
}

impl<P: Protocol> Connection<P> {
    pub(crate) fn from_parts(engine: Engine, proto: P) -> Self {
        Self {
            engine,
            events: VecDeque::new(),
            proto,
        }
    }

    /// Feeds bytes read from the network (any split). Then drain [`poll_event`](Self::poll_event)
    /// and [`poll_transmit`](Self::poll_transmit). An error is fatal and sticky (see the type's
    /// documentation).
    pub fn receive(&mut self, now: Now, data: &[u8]) -> Result<(), Error> {
        let r = self
            .engine
            .receive(now, data)
            .and_then(|()| P::process(self));
        self.settle(r)
    }

    /// Continues a connection made from an accepted ClientHello: processes what rustls
    /// already buffered, then `rest`, the bytes read after the hello.
    pub(crate) fn resume(&mut self, now: Now, rest: &[u8]) {
        self.engine.set_now(now);
        let r = self
            .engine
            .process_buffered()
            .and_then(|()| P::process(self));
        if self.settle(r).is_ok() && !rest.is_empty() {
            let _ = self.receive(now, rest);
        }
    }

    /// Tells the connection the byte stream ended (the socket read returned 0, or failed).
    pub fn handle_eof(&mut self, now: Now) -> Result<(), Error> {
        let r = self.engine.eof(now).and_then(|()| P::process(self));
        self.settle(r)
    }

    /// Fires any deadline that has passed by `now.mono`. A passed deadline is fatal.
    pub fn handle_timeout(&mut self, now: Now) -> Result<(), Error> {
        let r = self.engine.handle_timeout(now);
        self.settle(r)
    }

    /// Appends the TLS bytes to send to `out`; returns how many were appended.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        self.engine.poll_transmit(out)
    }

    /// The next protocol event, if any.
    pub fn poll_event(&mut self) -> Option<P::Event> {
        self.events.pop_front()
    }

    /// Closes gracefully (close_notify after anything queued).
    pub fn close(&mut self) {
        self.engine.close();
    }

    /// Tells the connection that the application has stopped reading from the peer (`held`:
    /// its own backpressure, say a disk that is behind) or reads again. While the input is held
    /// the idle deadline does not run: the silence is the application's, not the peer's.
    /// Releasing it restarts the idle deadline from `now`.
    pub fn hold_input(&mut self, now: Now, held: bool) {
        self.engine.hold_input(now, held);
    }

    /// Writes raw application bytes into the TLS stream, bypassing the protocol. For tests and
    /// fuzzing of the peer only: it can break the framing on purpose.
    #[doc(hidden)]
    pub fn danger_send_raw(&mut self, bytes: &[u8]) {
        self.engine.send_raw(bytes);
    }

    /// The next deadline, an instant of the monotonic clock: call
    /// [`handle_timeout`](Self::handle_timeout) once it has passed. `None` once the connection
    /// is closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    /// Whether the connection is finished (closed or failed): flush
    /// [`poll_transmit`](Self::poll_transmit), then close the socket.
    pub fn is_closed(&self) -> bool {
        self.engine.is_closed()
    }

    /// The fatal error, if one happened: the same error every failed input returned.
    pub fn error(&self) -> Option<&Error> {
        self.engine.error()
    }

    /// Whether the TLS handshake is still in progress.
    pub fn is_handshaking(&self) -> bool {
        self.engine.is_handshaking()
    }

    /// TLS facts for logs: version, cipher suite, key exchange, resumed or not.
    pub fn handshake_info(&self) -> HandshakeInfo {
        self.engine.handshake_info()
    }

    /// The peer's end-entity certificate (DER), once the handshake has produced one.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.engine
            .tls
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref())
    }

    /// Bytes received but not yet forming a whole frame.
    pub fn buffered_input(&self) -> usize {
        self.engine.buffered_input()
    }

    /// Makes every error an input returns the connection's sticky error: recorded (with its
    /// farewell queued) if the path that returned it had not, so that [`error`](Self::error)
    /// always tells what an ignored `Result` said. Then lets the protocol clean up.
    pub(crate) fn settle(&mut self, r: Result<(), Error>) -> Result<(), Error> {
        match r {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = self.engine.fail(e);
                P::on_fatal(self);
                Err(e)
            }
        }
    }
}

impl<P: Protocol> fmt::Debug for Connection<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("protocol", &self.proto)
            .field("engine", &self.engine)
            .field("events", &self.events.len())
            .finish()
    }
}
