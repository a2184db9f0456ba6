//! The mio client link: one connection, driven until the caller's step function is done.

use handin_core::driver::{Driven, Link, Progress, Step};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

const STREAM: Token = Token(0);

/// A client connection over mio.
#[derive(Debug)]
pub struct MioLink {
    poll: Poll,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl MioLink {
    /// Connects to `addr`, giving up after `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let std_stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        std_stream.set_nonblocking(true)?;
        let _ = std_stream.set_nodelay(true);
        let mut stream = TcpStream::from_std(std_stream);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut stream, STREAM, Interest::READABLE)?;
        Ok(Self {
            poll,
            stream,
            buf: vec![0; 64 * 1024],
        })
    }

    fn flush(&mut self, out: &mut Vec<u8>, sent: &mut usize) -> io::Result<()> {
        while *sent < out.len() {
            match self.stream.write(&out[*sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => *sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if *sent == out.len() {
            out.clear();
            *sent = 0;
        }
        Ok(())
    }

    /// Sends what is left, waiting for the socket at most `limit`.
    fn drain(&mut self, out: &mut Vec<u8>, sent: &mut usize, limit: Duration) -> io::Result<()> {
        let mut events = Events::with_capacity(4);
        let started = std::time::Instant::now();
        while *sent < out.len() && started.elapsed() < limit {
            self.flush(out, sent)?;
            if *sent < out.len() {
                self.poll
                    .registry()
                    .reregister(&mut self.stream, STREAM, Interest::WRITABLE)?;
                self.poll.poll(&mut events, Some(limit))?;
            }
        }
        Ok(())
    }
}

impl Link for MioLink {
    type Error = io::Error;

    fn run<C: Driven>(
        &mut self,
        conn: &mut C,
        mut step: impl FnMut(&mut C, Progress) -> Step,
    ) -> io::Result<()> {
        let mut out = Vec::new();
        let mut sent = 0;
        let mut eof = false;
        let mut events = Events::with_capacity(16);
        loop {
            conn.poll_transmit(&mut out);
            if let Err(e) = self.flush(&mut out, &mut sent) {
                if !eof {
                    eof = true;
                    conn.handle_eof(SystemTime::now());
                }
                if conn.is_closed() {
                    let _ = step(conn, Progress { unsent: 0 });
                    return Err(e);
                }
            }
            let unsent = out.len() - sent;
            if step(conn, Progress { unsent }) == Step::Done {
                conn.poll_transmit(&mut out);
                return self.drain(&mut out, &mut sent, Duration::from_secs(5));
            }
            // The step may have queued more: send it before sleeping.
            if conn.poll_transmit(&mut out) > 0 {
                continue;
            }
            if conn.is_closed() && out.len() == sent {
                return Ok(());
            }
            if eof && out.len() == sent {
                // Nothing more can arrive; let the step see the final state once more.
                let _ = step(conn, Progress { unsent: 0 });
                return Ok(());
            }
            let mut interest = Interest::READABLE;
            if out.len() > sent {
                interest |= Interest::WRITABLE;
            }
            self.poll
                .registry()
                .reregister(&mut self.stream, STREAM, interest)?;
            let now = SystemTime::now();
            let timeout = conn
                .poll_timeout()
                .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO));
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = SystemTime::now();
            if events.is_empty() {
                conn.handle_timeout(now);
                continue;
            }
            // Read everything available (mio readiness is edge-triggered).
            loop {
                match self.stream.read(&mut self.buf) {
                    Ok(0) => {
                        eof = true;
                        conn.handle_eof(now);
                        break;
                    }
                    Ok(n) => conn.receive(now, &self.buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        eof = true;
                        conn.handle_eof(now);
                        break;
                    }
                }
            }
            if conn.poll_timeout().is_some_and(|at| at <= now) {
                conn.handle_timeout(now);
            }
        }
    }
}
