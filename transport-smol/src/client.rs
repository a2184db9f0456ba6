//! The smol client link: one connection, driven until the caller's step function is done.
//!
//! [`SmolLink`] blocks the calling thread; [`connect_async`] and [`run_async`] are the same
//! client as futures, so that many connections can run as tasks on one executor.

use crate::{clock, timer_at};
use handin_core::driver::{Driven, Link, Progress, Pump, Round, Step, LINGER};
use smol::future::FutureExt;
use smol::Async;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Bytes read from the socket per read call.
const READ_CHUNK: usize = 64 * 1024;

/// A client connection over smol.
#[derive(Debug)]
pub struct SmolLink {
    stream: Async<TcpStream>,
}

enum Ready {
    Read,
    Write,
    Timer,
}

impl SmolLink {
    /// Connects to `addr`, giving up after `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let stream = smol::block_on(connect_async(addr, timeout))?;
        Ok(Self { stream })
    }
}

/// Connects to `addr` without blocking the executor, giving up after `timeout`. The stream has
/// `TCP_NODELAY` set, as [`SmolLink::connect`]'s does.
pub async fn connect_async(addr: SocketAddr, timeout: Duration) -> io::Result<Async<TcpStream>> {
    let stream = Async::<TcpStream>::connect(addr)
        .or(async {
            smol::Timer::after(timeout).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection timed out",
            ))
        })
        .await?;
    let _ = stream.get_ref().set_nodelay(true);
    Ok(stream)
}

/// Waits until the stream is readable (if `read`), writable (if `write`), or `until` passes.
async fn wait(stream: &Async<TcpStream>, read: bool, write: bool, until: Option<Instant>) -> Ready {
    let readable = async {
        if read {
            let _ = stream.readable().await;
            Ready::Read
        } else {
            std::future::pending().await
        }
    };
    let writable = async {
        if write {
            let _ = stream.writable().await;
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

/// Drives `conn` over `stream`, calling `step` after every round of input and output, until
/// `step` returns [`Step::Done`] or the connection closes; then sends what is left (briefly).
///
/// This is [`SmolLink`]'s [`Link::run`] as a future: it only waits on the stream's readiness
/// and timers, so thousands of connections can run as tasks on a small executor. `step` may
/// queue more output each round; keep [`Progress::unsent`] small to bound memory.
pub async fn run_async<C: Driven>(
    stream: &Async<TcpStream>,
    conn: &mut C,
    mut step: impl FnMut(&mut C, Progress) -> Step,
) -> io::Result<()> {
    let mut buf = vec![0; READ_CHUNK];
    let mut pump = Pump::new(usize::MAX);
    loop {
        let now = clock();
        let mut io = stream.get_ref();
        match pump.client_round(conn, &mut io, &mut buf, now, &mut step) {
            Round::Again => continue,
            Round::Finished => break,
            Round::Wait(w) => {
                let ready = wait(stream, w.read, w.write, w.until).await;
                let now = clock();
                let mut io = stream.get_ref();
                match ready {
                    Ready::Read => pump.read(conn, &mut io, &mut buf, now),
                    Ready::Write => pump.flush(conn, &mut io, now),
                    Ready::Timer => {}
                }
            }
        }
    }
    // Send what is left (a close_notify, say), briefly.
    let give_up = Instant::now() + LINGER;
    while pump.unsent() > 0 && !pump.eof() && Instant::now() < give_up {
        wait(stream, false, true, Some(give_up)).await;
        let mut io = stream.get_ref();
        pump.flush(conn, &mut io, clock());
    }
    Ok(())
}

impl Link for SmolLink {
    type Error = io::Error;

    fn run<C: Driven>(
        &mut self,
        conn: &mut C,
        step: impl FnMut(&mut C, Progress) -> Step,
    ) -> io::Result<()> {
        smol::block_on(run_async(&self.stream, conn, step))
    }
}
