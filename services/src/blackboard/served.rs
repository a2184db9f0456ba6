//! What Blackboard's three kinds of connection share (a student's [`BbConn`](super::BbConn), a
//! staff member's [`StaffConn`](super::StaffConn), a browser's [`WebConn`](super::WebConn)):
//! the order in which every input is handled, written once. The configuration in force comes
//! first (a new CRL reaches the connection before its input does), then the core, then the
//! connection's own events; then it tells the core whether Blackboard itself holds the input
//! back. Each kind gives its parts through [`Served`], and `served_driven!` makes it a
//! [`Driven`](handin_core::driver::Driven).

use crate::runtime::Inbox;
use handin_core::{Connection, Now, Protocol};
use std::time::Instant;

/// A connection to Blackboard, as the shared input handling sees it.
pub(super) trait Served {
    /// The core's protocol.
    type Protocol: Protocol;
    /// What its jobs send it.
    type Done: Send + 'static;

    /// The core connection.
    fn core(&self) -> &Connection<Self::Protocol>;
    /// The core connection.
    fn core_mut(&mut self) -> &mut Connection<Self::Protocol>;
    /// Where its jobs' answers arrive.
    fn inbox(&self) -> &Inbox<Self::Done>;
    /// Hands the core the configuration in force if it changed (a new CRL).
    fn refresh_config(&mut self, now: Now);
    /// When the connection reaches its maximum age (`None`: not armed, or passed).
    fn retire_at(&self) -> Option<Instant>;
    /// The maximum age was reached: close once the request in flight is answered.
    fn retire(&mut self);
    /// Answers the core's events, and closes when told to and idle.
    fn process(&mut self);
    /// A job's answer.
    fn on_done(&mut self, done: Self::Done);
    /// Feeds what streams out (a fetch, a zip) into the core while `out_len` bytes wait.
    fn pump(&mut self, out_len: usize);
    /// Whether Blackboard reads from the peer now (not while its disk or buffer is behind).
    fn wants_read(&self) -> bool;
    /// Whether the core was told that Blackboard holds the input.
    fn held(&mut self) -> &mut bool;
    /// Tells the connection to close once idle (a shutdown).
    fn close_when_idle(&mut self);
    /// The peer's stream ended (after the core was told).
    fn on_eof(&mut self) {}
}

fn sync_hold<S: Served>(s: &mut S, now: Now) {
    let held = !s.wants_read();
    if held != *s.held() {
        *s.held() = held;
        s.core_mut().hold_input(now, held);
    }
}

pub(super) fn receive<S: Served>(s: &mut S, now: Now, data: &[u8]) {
    s.refresh_config(now);
    let _ = s.core_mut().receive(now, data);
    s.process();
    sync_hold(s, now);
}

pub(super) fn handle_eof<S: Served>(s: &mut S, now: Now) {
    let _ = s.core_mut().handle_eof(now);
    s.on_eof();
    s.process();
}

pub(super) fn handle_timeout<S: Served>(s: &mut S, now: Now) {
    s.refresh_config(now);
    if s.retire_at().is_some_and(|at| now.mono >= at) {
        tracing::debug!("connection reached its maximum age: closing after its request");
        s.retire();
    }
    let _ = s.core_mut().handle_timeout(now);
    s.process();
    sync_hold(s, now);
}

pub(super) fn wake<S: Served>(s: &mut S, now: Now) {
    s.refresh_config(now);
    for done in s.inbox().take() {
        s.on_done(done);
    }
    s.process();
    sync_hold(s, now);
}

pub(super) fn poll_transmit<S: Served>(s: &mut S, out: &mut Vec<u8>) -> usize {
    let before = out.len();
    s.pump(out.len());
    s.process();
    s.core_mut().poll_transmit(out);
    out.len() - before
}

pub(super) fn poll_timeout<S: Served>(s: &S) -> Option<Instant> {
    let core = s.core();
    let deadline = core.poll_timeout();
    match (deadline, s.retire_at()) {
        _ if core.is_closed() => deadline,
        (Some(a), Some(b)) => Some(a.min(b)),
        (None, Some(b)) if !core.is_handshaking() => Some(b),
        _ => deadline,
    }
}

pub(super) fn shutdown<S: Served>(s: &mut S) {
    s.close_when_idle();
    s.process();
}

/// Implements [`Driven`](handin_core::driver::Driven) for a [`Served`] connection.
macro_rules! served_driven {
    ($t:ty) => {
        impl handin_core::driver::Driven for $t {
            fn receive(&mut self, now: handin_core::Now, data: &[u8]) {
                $crate::blackboard::served::receive(self, now, data)
            }
            fn handle_eof(&mut self, now: handin_core::Now) {
                $crate::blackboard::served::handle_eof(self, now)
            }
            fn handle_timeout(&mut self, now: handin_core::Now) {
                $crate::blackboard::served::handle_timeout(self, now)
            }
            fn wake(&mut self, now: handin_core::Now) {
                $crate::blackboard::served::wake(self, now)
            }
            fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
                $crate::blackboard::served::poll_transmit(self, out)
            }
            fn poll_timeout(&self) -> Option<std::time::Instant> {
                $crate::blackboard::served::poll_timeout(self)
            }
            fn wants_read(&self) -> bool {
                $crate::blackboard::served::Served::wants_read(self)
            }
            fn is_closed(&self) -> bool {
                $crate::blackboard::served::Served::core(self).is_closed()
            }
            fn is_handshaking(&self) -> bool {
                $crate::blackboard::served::Served::core(self).is_handshaking()
            }
            fn error(&self) -> Option<&handin_core::Error> {
                $crate::blackboard::served::Served::core(self).error()
            }
            fn shutdown(&mut self, _now: handin_core::Now) {
                $crate::blackboard::served::shutdown(self)
            }
        }
    };
}
pub(super) use served_driven;
