//! The smol client link: one connection, driven until the caller's step function is done.

use crate::timer_at;
use handin_core::driver::{Driven, Link, Progress, Pump, Round, Step, LINGER};
use smol::future::FutureExt;
use smol::Async;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

/// A client connection over smol.
#[derive(Debug)]
pub struct SmolLink {
    stream: Async<TcpStream>,
    buf: Vec<u8>,
}

enum Ready {
    Read,
    Write,
    Timer,
}

impl SmolLink {
    /// Connects to `addr`, giving up after `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let stream = smol::block_on(Async::<TcpStream>::connect(addr).or(async {
            smol::Timer::after(timeout).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection timed out",
            ))
        }))?;
        let _ = stream.get_ref().set_nodelay(true);
        Ok(Self {
            stream,
            buf: vec![0; 64 * 1024],
        })
    }

    async fn wait(&self, read: bool, write: bool, until: Option<SystemTime>) -> Ready {
        let readable = async {
            if read {
                let _ = self.stream.readable().await;
                Ready::Read
            } else {
                std::future::pending().await
            }
        };
        let writable = async {
            if write {
                let _ = self.stream.writable().await;
                Ready::Write
            } else {
                std::future::pending().await
            }
        };
        let timer = async {
            timer_at(until).await;
            Ready::Timer
        };
        readable.or(writable).or(timer).await
    }
}

impl Link for SmolLink {
    type Error = io::Error;

    fn run<C: Driven>(
        &mut self,
        conn: &mut C,
        mut step: impl FnMut(&mut C, Progress) -> Step,
    ) -> io::Result<()> {
        smol::block_on(async {
            let mut pump = Pump::new(usize::MAX);
            loop {
                let now = SystemTime::now();
                let mut io = self.stream.get_ref();
                match pump.client_round(conn, &mut io, &mut self.buf, now, &mut step) {
                    Round::Again => continue,
                    Round::Finished => break,
                    Round::Wait(w) => {
                        let ready = self.wait(w.read, w.write, w.until).await;
                        let now = SystemTime::now();
                        let mut io = self.stream.get_ref();
                        match ready {
                            Ready::Read => pump.read(conn, &mut io, &mut self.buf, now),
                            Ready::Write => pump.flush(conn, &mut io, now),
                            Ready::Timer => {}
                        }
                    }
                }
            }
            // Send what is left (a close_notify, say), briefly.
            let give_up = Instant::now() + LINGER;
            while pump.unsent() > 0 && !pump.eof() && Instant::now() < give_up {
                self.wait(false, true, Some(SystemTime::now() + LINGER))
                    .await;
                let mut io = self.stream.get_ref();
                pump.flush(conn, &mut io, SystemTime::now());
            }
            Ok(())
        })
    }
}
