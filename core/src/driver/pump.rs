//! The byte pump every transport shares: moves bytes between a non-blocking stream and a
//! [`Driven`] connection, with write backpressure, and says what to wait for next.
//!
//! A transport owns the socket and the waiting (readiness, timers, wake-ups); after anything
//! happens it calls [`Pump::service`] and waits for what the returned [`Wait`] asks. The pump
//! never blocks: it expects reads and writes that return `WouldBlock` when the socket is not
//! ready (mio streams, `async_io::Async::get_ref()`, or a standard TCP stream set non-blocking).

use super::Driven;
use crate::time::Now;
use std::io::{ErrorKind, Read, Write};
use std::time::Instant;

/// What to wait for after [`Pump::service`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// The connection is finished and everything was written: close the socket.
    pub done: bool,
    /// Wait for the socket to become readable.
    pub read: bool,
    /// Wait for the socket to become writable.
    pub write: bool,
    /// Wake up at this instant of the monotonic clock (the connection's next deadline).
    pub until: Option<Instant>,
}

/// Per-connection transport state: the bytes waiting for the socket, and what the socket said.
#[derive(Debug)]
pub struct Pump {
    out: Vec<u8>,
    sent: usize,
    eof: bool,
    /// Reading stopped before the socket said `WouldBlock`; with edge-triggered readiness no new
    /// event will come for those bytes, so resume by ourselves.
    unread: bool,
    high_water: usize,
    closed_at: Option<Instant>,
    pulled: u64,
    /// A client's pump (driven by [`Pump::client_round`]) keeps its output buffer between
    /// bursts: one connection streams an upload through it, and a fresh buffer per burst costs a
    /// page fault per 4 KiB. A server's frees it once empty, so idle connections hold none.
    keep_buffer: bool,
}

/// The outcome of one [`Pump::client_round`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// The step function is done (or the connection ended): send what is left and return.
    Finished,
    /// The step queued output the socket took at once: go round again without waiting.
    Again,
    /// Wait for this, then feed the socket's readiness back (`read`, `flush`) and go round.
    Wait(Wait),
}

/// Most rounds of output and input one [`Pump::service`] call makes before it lets the
/// transport serve other connections.
const ROUNDS: usize = 64;

/// How long a finished connection may take to send its last bytes.
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

impl Pump {
    /// A pump that stops reading while `high_water` bytes wait to be written.
    pub fn new(high_water: usize) -> Self {
        Self {
            out: Vec::new(),
            sent: 0,
            eof: false,
            unread: true,
            high_water,
            closed_at: None,
            pulled: 0,
            keep_buffer: false,
        }
    }

    /// Bytes queued for the socket.
    pub fn unsent(&self) -> usize {
        self.out.len() - self.sent
    }

    /// Whether the peer's end of the stream was seen.
    pub fn eof(&self) -> bool {
        self.eof
    }

    fn can_read<C: Driven>(&self, conn: &C) -> bool {
        !self.eof && !conn.is_closed() && conn.wants_read() && self.unsent() < self.high_water
    }

    /// Reads until the socket is drained, the stream ends, or backpressure says stop; each
    /// piece goes to `conn`, and its answer towards the socket.
    pub fn read<C: Driven, S: Read + Write>(
        &mut self,
        conn: &mut C,
        io: &mut S,
        buf: &mut [u8],
        now: Now,
    ) {
        loop {
            if !self.can_read(conn) {
                self.unread = !self.eof && !conn.is_closed();
                return;
            }
            match io.read(buf) {
                Ok(0) => {
                    self.end(conn, now);
                    return;
                }
                Ok(n) => {
                    conn.receive(now, &buf[..n]);
                    self.pulled += conn.poll_transmit(&mut self.out) as u64;
                    self.flush(conn, io, now);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.unread = false;
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.end(conn, now);
                    return;
                }
            }
        }
    }

    fn end<C: Driven>(&mut self, conn: &mut C, now: Now) {
        if !self.eof {
            self.eof = true;
            self.unread = false;
            conn.handle_eof(now);
        }
    }

    /// Writes what is queued until the socket would block.
    pub fn flush<C: Driven, S: Write>(&mut self, conn: &mut C, io: &mut S, now: Now) {
        while self.sent < self.out.len() {
            match io.write(&self.out[self.sent..]) {
                Ok(0) => break,
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    // The peer is gone: nothing more can be sent or received.
                    self.out.clear();
                    self.sent = 0;
                    self.end(conn, now);
                    return;
                }
            }
        }
        if self.sent == self.out.len() {
            // Everything left: on a server, give the memory back too, so that an idle
            // connection holds no output buffer (the next burst allocates afresh).
            if self.keep_buffer {
                self.out.clear();
            } else {
                self.out = Vec::new();
            }
            self.sent = 0;
        } else if self.sent >= self.out.len() / 2 {
            // Mostly sent: drop the sent part (moving at most as much as was sent), so a stream
            // that never fully drains does not grow the buffer with bytes already gone.
            self.out.drain(..self.sent);
            self.sent = 0;
        }
    }

    /// After any input (readiness, a wake-up, a timer, an application call): fires a passed
    /// deadline, sends what the connection has (streaming connections add more as the socket
    /// takes it), resumes reading if backpressure lifted, and says what to wait for.
    pub fn service<C: Driven, S: Read + Write>(
        &mut self,
        conn: &mut C,
        io: &mut S,
        buf: &mut [u8],
        now: Now,
    ) -> Wait {
        if conn.poll_timeout().is_some_and(|at| at <= now.mono) {
            conn.handle_timeout(now);
        }
        // Whether the last round left work that only another round would do.
        let mut more = false;
        for _ in 0..ROUNDS {
            let added = conn.poll_transmit(&mut self.out);
            self.pulled += added as u64;
            let queued = self.unsent();
            self.flush(conn, io, now);
            more = false;
            if conn.is_closed() && self.unsent() == 0 {
                break;
            }
            if self.unread && self.can_read(conn) {
                self.read(conn, io, buf, now);
                more = true;
                continue;
            }
            // The socket took everything queued. A streaming connection adds output only while
            // little waits (a fetch in progress), so it may have held back when asked above:
            // ask again. Nothing else would: with no output left, the socket's writability is
            // not waited for, and the connection may have nothing else to wait for either.
            if queued > 0 && self.unsent() == 0 {
                more = true;
                continue;
            }
            break;
        }
        let mut until = conn.poll_timeout();
        if more {
            // Out of rounds with work left (a fast peer taking everything): come back at once,
            // through the transport's timer, after its other connections had their turn.
            until = Some(now.mono);
        }
        let mut done = false;
        if conn.is_closed() {
            // Give the last bytes (an alert, an Error frame) a little time to leave, but never
            // let a peer that stopped reading hold the connection open.
            let since = *self.closed_at.get_or_insert(now.mono);
            let give_up = since + LINGER;
            done = self.unsent() == 0 || now.mono >= give_up;
            until = Some(give_up);
        }
        Wait {
            done,
            read: self.can_read(conn),
            write: self.unsent() > 0,
            until,
        }
    }
}

impl Pump {
    /// One round of a client exchange: move bytes, let `step` look at the connection (and
    /// queue more), move bytes again, and say whether to finish, go again, or wait.
    pub fn client_round<C: Driven, S: Read + Write>(
        &mut self,
        conn: &mut C,
        io: &mut S,
        buf: &mut [u8],
        now: Now,
        step: &mut impl FnMut(&mut C, super::Progress) -> super::Step,
    ) -> Round {
        self.keep_buffer = true;
        self.service(conn, io, buf, now);
        let before = self.pulled;
        let progress = super::Progress {
            unsent: self.unsent(),
        };
        if step(conn, progress) == super::Step::Done {
            conn.poll_transmit(&mut self.out);
            self.flush(conn, io, now);
            return Round::Finished;
        }
        let wait = self.service(conn, io, buf, now);
        if wait.done || (self.eof && conn.is_closed()) {
            // Let the step see the final state once.
            let _ = step(conn, super::Progress { unsent: 0 });
            return Round::Finished;
        }
        // The socket took all there was, what the step queued or what it saw waiting (and so
        // held back for): go again, so it can queue more. Waiting instead would be for the
        // socket's writability, not asked for with nothing to write, or for the peer, which
        // may be waiting for us.
        if self.unsent() == 0 && (self.pulled != before || progress.unsent > 0) {
            return Round::Again;
        }
        Round::Wait(wait)
    }
}

#[cfg(test)]
mod tests;
