//! The pump against a scripted socket: output a streaming connection held back is asked for
//! again once the socket takes what was waiting, whatever woke the pump.

use super::{Pump, Round, ROUNDS};
use crate::driver::{Driven, Progress, Step};
use crate::time::Now;
use std::cell::Cell;
use std::io::{self, ErrorKind, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

const PIECE: usize = 100;

/// The time the tests run at: a fixed wall time (the core reads no clock), and the test
/// clock's origin.
fn now() -> Now {
    Now::new(
        crate::tests::origin(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    )
}

/// A socket that takes `room` more bytes before it would block, and has nothing to read.
#[derive(Default)]
struct Socket {
    room: Rc<Cell<usize>>,
    taken: usize,
}

impl Read for Socket {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(ErrorKind::WouldBlock.into())
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.room.get());
        if n == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        self.room.set(self.room.get() - n);
        self.taken += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Streams pieces the way Blackboard streams a fetch: a piece is handed out only once it is
/// `ready` (read from disk), and only while less than two pieces wait for the socket.
#[derive(Default)]
struct Streaming {
    ready: usize,
    /// Queued by a client step, handed out on the next `poll_transmit`.
    queued: usize,
}

impl Driven for Streaming {
    fn receive(&mut self, _: Now, _: &[u8]) {}
    fn handle_eof(&mut self, _: Now) {}
    fn handle_timeout(&mut self, _: Now) {}
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let mut n = std::mem::take(&mut self.queued);
        if self.ready > 0 && out.len() < 2 * PIECE {
            self.ready -= 1;
            n += PIECE;
        }
        out.resize(out.len() + n, 0);
        n
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn is_closed(&self) -> bool {
        false
    }
}

#[test]
fn a_piece_held_back_is_sent_when_the_socket_drains_during_a_wake_up() {
    let now = now();
    let mut pump = Pump::new(1 << 20);
    let mut conn = Streaming {
        ready: 3,
        ..Default::default()
    };
    let mut socket = Socket::default();
    let buf = &mut [0; 64];
    socket.room.set(PIECE + PIECE / 2);
    let wait = pump.service(&mut conn, &mut socket, buf, now);
    assert!(wait.write, "half a piece waits for the socket");
    // Writability not yet reported: another piece joins the half one.
    let wait = pump.service(&mut conn, &mut socket, buf, now);
    assert!(wait.write);
    assert_eq!((conn.ready, pump.unsent()), (0, PIECE + PIECE / 2));

    // A wake-up (the next piece was read from disk) while the peer has meanwhile read
    // everything: two pieces are queued, so the connection holds the new one back, then the
    // socket takes all that waited.
    conn.ready = 1;
    socket.room.set(10 * PIECE);
    let wait = pump.service(&mut conn, &mut socket, buf, now);
    assert_eq!(
        conn.ready, 0,
        "the piece is still held back, and the pump waits for {wait:?}: nothing will ask for it"
    );
    assert_eq!(socket.taken, 4 * PIECE);
    assert!(!wait.write && wait.until.is_none(), "{wait:?}");
}

#[test]
fn a_connection_with_more_output_after_the_last_round_is_called_again_at_once() {
    let now = now();
    let mut pump = Pump::new(1 << 20);
    let mut conn = Streaming {
        ready: 10 * ROUNDS,
        ..Default::default()
    };
    let mut socket = Socket::default();
    socket.room.set(usize::MAX);
    let buf = &mut [0; 64];
    let mut calls = 0;
    while conn.ready > 0 {
        let wait = pump.service(&mut conn, &mut socket, buf, now);
        calls += 1;
        assert!(
            conn.ready == 0 || wait.write || wait.until.is_some_and(|at| at <= now.mono),
            "{} pieces left after call {calls}, and the pump waits for {wait:?}",
            conn.ready
        );
    }
    assert!(calls > 1, "the rounds of one call are bounded");
    assert_eq!(socket.taken, 10 * ROUNDS * PIECE);
}

#[test]
fn a_client_step_that_held_back_goes_again_when_the_socket_drains() {
    let now = now();
    let mut pump = Pump::new(usize::MAX);
    let mut conn = Streaming::default();
    let mut socket = Socket::default();
    let room = socket.room.clone();
    let buf = &mut [0; 64];
    // An upload's step: it queues a piece once nothing waits for the socket. The peer reads
    // `peer_reads` bytes while it looks.
    let peer_reads = Cell::new(0);
    let mut step = |c: &mut Streaming, p: Progress| {
        if p.unsent == 0 {
            c.queued += PIECE;
        }
        room.set(room.get() + peer_reads.take());
        Step::Continue
    };
    socket.room.set(PIECE / 2);
    let round = pump.client_round(&mut conn, &mut socket, buf, now, &mut step);
    assert!(matches!(round, Round::Wait(w) if w.write), "{round:?}");

    // Before writability is reported, the peer reads what waits while the step looks (and
    // holds back: half a piece still waits).
    peer_reads.set(10 * PIECE);
    let round = pump.client_round(&mut conn, &mut socket, buf, now, &mut step);
    assert_eq!(pump.unsent(), 0);
    assert_eq!(
        round,
        Round::Again,
        "nothing waits to be written, so the socket's writability is not waited for: the step \
         must be asked again"
    );
}

/// A client streaming into a socket that never takes everything at once: the bytes already
/// sent are dropped from the output buffer as it goes, so it stays the size of what waits, and
/// the buffer is kept (not freed and allocated again) between bursts.
#[test]
fn a_stream_that_never_fully_drains_does_not_grow_the_output_buffer() {
    let now = now();
    let mut pump = Pump::new(usize::MAX);
    let mut conn = Streaming::default();
    let mut socket = Socket::default();
    let room = socket.room.clone();
    let buf = &mut [0; 64];
    let mut step = |c: &mut Streaming, p: Progress| {
        if p.unsent < 4 * PIECE {
            c.queued += PIECE;
        }
        // The peer reads a little less than a piece each time.
        room.set(room.get() + PIECE - 7);
        Step::Continue
    };
    let mut largest = 0;
    for _ in 0..10_000 {
        let _ = pump.client_round(&mut conn, &mut socket, buf, now, &mut step);
        largest = largest.max(pump.out.capacity());
    }
    assert!(socket.taken > 1_000 * PIECE, "{} bytes sent", socket.taken);
    assert!(
        largest <= 64 * PIECE,
        "the buffer grew to {largest} bytes for at most ~5 pieces waiting"
    );
    assert!(pump.out.capacity() > 0, "a client keeps its buffer");
}
