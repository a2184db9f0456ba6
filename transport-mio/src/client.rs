//! The mio client link: one connection, driven until the caller's step function is done.

use crate::clock;
use handin_core::driver::{Driven, Link, Progress, Pump, Round, Step, LINGER};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

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

    fn wait(
        &mut self,
        read: bool,
        write: bool,
        until: Option<Instant>,
    ) -> io::Result<(bool, bool)> {
        let interest = match (read, write) {
            (_, false) => Interest::READABLE,
            (false, true) => Interest::WRITABLE,
            (true, true) => Interest::READABLE | Interest::WRITABLE,
        };
        self.poll
            .registry()
            .reregister(&mut self.stream, STREAM, interest)?;
        let timeout = until.map(|at| at.saturating_duration_since(Instant::now()));
        let mut events = Events::with_capacity(4);
        match self.poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok((false, false)),
            Err(e) => return Err(e),
        }
        let readable = events
            .iter()
            .any(|e| e.is_readable() || e.is_read_closed() || e.is_error());
        let writable = events.iter().any(|e| e.is_writable());
        Ok((readable, writable))
    }
}

impl Link for MioLink {
    type Error = io::Error;

    fn run<C: Driven>(
        &mut self,
        conn: &mut C,
        mut step: impl FnMut(&mut C, Progress) -> Step,
    ) -> io::Result<()> {
        let mut pump = Pump::new(usize::MAX);
        loop {
            let now = clock();
            match pump.client_round(conn, &mut self.stream, &mut self.buf, now, &mut step) {
                Round::Again => continue,
                Round::Finished => break,
                Round::Wait(w) => {
                    let (readable, writable) = self.wait(w.read, w.write, w.until)?;
                    let now = clock();
                    if readable {
                        pump.read(conn, &mut self.stream, &mut self.buf, now);
                    }
                    if writable {
                        pump.flush(conn, &mut self.stream, now);
                    }
                }
            }
        }
        // Send what is left (a close_notify, say), briefly.
        let give_up = Instant::now() + LINGER;
        while pump.unsent() > 0 && !pump.eof() && Instant::now() < give_up {
            self.wait(false, true, Some(give_up))?;
            pump.flush(conn, &mut self.stream, clock());
        }
        Ok(())
    }
}
