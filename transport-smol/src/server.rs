//! The smol server: an accept loop per listening socket (as many sockets as executor threads
//! with `SO_REUSEPORT`, their loops polled together by the server's task) and one task per
//! connection on a shared executor.

use crate::clock;
use event_listener::Event;
use handin_core::driver::{Accept, Driven, Notify, Pump, ServeOptions, Shutdown};
use smol::future::FutureExt;
use smol::lock::Semaphore;
use smol::{Async, Executor};
use std::cell::RefCell;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Serves `listener` until `shutdown` is requested and every connection has finished (or the
/// grace period passed), with `opts.loops` executor threads (one per core when 0).
///
/// When `listener` has `SO_REUSEPORT` set (as the binaries' listeners do), it gets one
/// sibling socket per further executor thread, bound to the same address, each with its own
/// accept loop (the loops are polled by one task; the connections they accept are tasks on
/// every thread), and the kernel spreads new connections over the sockets; otherwise one
/// accept loop serves `listener`. The listeners get `TCP_NODELAY`, which accepted sockets
/// inherit.
///
/// To serve on an executor you already run, use [`serve_async`] instead.
pub fn serve<A: Accept>(
    listener: TcpListener,
    accept: Arc<A>,
    opts: ServeOptions,
    shutdown: Arc<Shutdown>,
) -> io::Result<()> {
    let threads = match opts.loops {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let ex = Arc::new(Executor::new());
    let stopped = Arc::new(Event::new());
    let done = Arc::new(AtomicBool::new(false));
    let mut helpers = Vec::new();
    for i in 1..threads {
        let (ex, stopped, done) = (ex.clone(), stopped.clone(), done.clone());
        helpers.push(
            std::thread::Builder::new()
                .name(format!("handin-smol-{i}"))
                .spawn(move || {
                    smol::block_on(ex.run(async {
                        while !done.load(Ordering::SeqCst) {
                            let l = stopped.listen();
                            if done.load(Ordering::SeqCst) {
                                break;
                            }
                            l.await;
                        }
                    }))
                })?,
        );
    }
    let result = crate::listeners::per_loop(listener, threads)
        .and_then(|ls| {
            ls.into_iter()
                .map(Async::new)
                .collect::<io::Result<Vec<_>>>()
        })
        .and_then(|listeners| {
            smol::block_on(ex.run(serve_all(&ex, listeners, accept, opts, shutdown)))
        });
    done.store(true, Ordering::SeqCst);
    stopped.notify(usize::MAX);
    for h in helpers {
        let _ = h.join();
    }
    result
}

/// Serves `listener` on an executor the caller already runs: each accepted connection becomes
/// a task spawned on `ex`, and the returned future is the accept loop. It resolves once
/// `shutdown` is requested and every connection has finished (or `opts.shutdown_grace`
/// passed). It starts no thread of its own (`opts.loops` is not used): the connections run on
/// whichever threads run `ex`, so poll the future inside `ex.run(...)`, or on a thread that
/// also runs `ex`.
///
/// ```no_run
/// # use std::sync::Arc;
/// # fn demo<A: handin_core::driver::Accept>(accept: Arc<A>) -> std::io::Result<()> {
/// use handin_core::driver::{ServeOptions, Shutdown};
/// use handin_smol::smol::{self, Async, Executor};
///
/// let ex = Executor::new();
/// let listener = Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 3141))?;
/// let shutdown = Shutdown::new();
/// smol::block_on(ex.run(handin_smol::serve_async(
///     &ex,
///     listener,
///     accept,
///     ServeOptions::default(),
///     shutdown,
/// )))
/// # }
/// ```
pub async fn serve_async<A: Accept>(
    ex: &Executor<'_>,
    listener: Async<TcpListener>,
    accept: Arc<A>,
    opts: ServeOptions,
    shutdown: Arc<Shutdown>,
) -> io::Result<()> {
    serve_all(ex, vec![listener], accept, opts, shutdown).await
}

/// [`serve_async`] over several listeners, an accept loop each, with one connection limit,
/// one admission line and one drain.
async fn serve_all<A: Accept>(
    ex: &Executor<'_>,
    listeners: Vec<Async<TcpListener>>,
    accept: Arc<A>,
    opts: ServeOptions,
    shutdown: Arc<Shutdown>,
) -> io::Result<()> {
    // Accepted sockets inherit TCP_NODELAY from their listener (Linux), so none needs its own
    // setsockopt; set here too for a listener an embedder made.
    for l in &listeners {
        socket2::SockRef::from(l.get_ref()).set_tcp_nodelay(true)?;
    }
    let stopping = Arc::new(Event::new());
    {
        let stopping = stopping.clone();
        shutdown.register(Arc::new(move || {
            stopping.notify(usize::MAX);
        }));
    }
    let admission = Arc::new(Semaphore::new(opts.max_handshakes.max(1)));
    let server = Server {
        ex,
        accept,
        opts,
        shutdown,
        stopping,
        open: Arc::new(AtomicUsize::new(0)),
        closed: Arc::new(Event::new()),
        admission,
    };
    let mut loops: Vec<_> = listeners
        .iter()
        .map(|l| Box::pin(server.accept_loop(l)))
        .collect();
    // Polls every accept loop until all have stopped (they stop together, at shutdown).
    std::future::poll_fn(|cx| {
        loops.retain_mut(|l| l.as_mut().poll(cx).is_pending());
        if loops.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    drop(loops);
    drop(listeners);
    server.drain().await;
    Ok(())
}

struct Server<'x, 'e, A: Accept> {
    ex: &'x Executor<'e>,
    accept: Arc<A>,
    opts: ServeOptions,
    shutdown: Arc<Shutdown>,
    stopping: Arc<Event>,
    open: Arc<AtomicUsize>,
    closed: Arc<Event>,
    /// One permit per connection in its handshake (admission control).
    admission: Arc<Semaphore>,
}

enum Woke {
    Readable,
    Stop,
}

impl<A: Accept> Server<'_, '_, A> {
    /// Accepts connections from `listener` until shutdown. It waits for the listener to be
    /// readable before each accept, so that no accept call finds the queue empty.
    async fn accept_loop(&self, listener: &Async<TcpListener>) {
        loop {
            let stop = self.stopping.listen();
            if self.shutdown.is_requested() {
                break;
            }
            let woke = async {
                let _ = listener.readable().await;
                Woke::Readable
            }
            .or(async {
                stop.await;
                Woke::Stop
            })
            .await;
            if let Woke::Stop = woke {
                break;
            }
            let (stream, peer) = match crate::listeners::accept_nonblocking(listener.get_ref()) {
                Ok(s) => s,
                // Another loop took it (a shared listener), or the peer left.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors, say: keep serving who we have.
                    tracing::warn!(error = %e, "accept failed");
                    smol::Timer::after(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let stream = match Async::new_nonblocking(stream) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot register a connection");
                    continue;
                }
            };
            if self.open.load(Ordering::SeqCst) >= self.opts.max_connections {
                tracing::warn!(%peer, limit = self.opts.max_connections, "connection limit reached: closing");
                continue;
            }
            if !crate::listeners::NODELAY_INHERITED {
                let _ = stream.get_ref().set_nodelay(true);
            }
            self.open.fetch_add(1, Ordering::SeqCst);
            let task = Task {
                stream,
                wake: Arc::new(Wake::default()),
                high_water: self.opts.write_high_water,
                read_chunk: self.opts.read_chunk.max(4096),
                hello_timeout: self.opts.hello_timeout,
                shutdown: self.shutdown.clone(),
                stopping: self.stopping.clone(),
                open: self.open.clone(),
                closed: self.closed.clone(),
            };
            let (accept, admission) = (self.accept.clone(), self.admission.clone());
            self.ex.spawn(task.admit(accept, admission, peer)).detach();
        }
    }

    /// Waits for the connections to finish their requests and close, up to the grace period.
    async fn drain(&self) {
        // Draining: connections finish their requests and close; wait for them, up to the grace.
        let give_up = Instant::now() + self.opts.shutdown_grace;
        while self.open.load(Ordering::SeqCst) > 0 && Instant::now() < give_up {
            let l = self.closed.listen();
            if self.open.load(Ordering::SeqCst) == 0 {
                break;
            }
            l.or(async {
                smol::Timer::after(Duration::from_millis(100)).await;
            })
            .await;
        }
        let left = self.open.load(Ordering::SeqCst);
        if left > 0 {
            tracing::warn!(left, "shutdown grace period over: closing connections");
        }
    }
}

#[derive(Default)]
struct Wake {
    flag: AtomicBool,
    event: Event,
}

struct Task {
    stream: Async<TcpStream>,
    wake: Arc<Wake>,
    high_water: usize,
    read_chunk: usize,
    hello_timeout: Duration,
    shutdown: Arc<Shutdown>,
    stopping: Arc<Event>,
    open: Arc<AtomicUsize>,
    closed: Arc<Event>,
}

enum Ready {
    Read,
    Write,
    Other,
}

thread_local! {
    /// The read buffer of the connections running on this executor thread: a read never spans
    /// an await, so one buffer per thread serves them all (idle connections hold none).
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's read buffer, `len` bytes long.
fn with_buf<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    READ_BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0);
            }
            f(&mut buf[..len])
        }
        // Not reachable (reads do not nest), but never panic for it.
        Err(_) => f(&mut vec![0; len]),
    })
}

impl Task {
    /// Waits for a handshake slot (in arrival order), makes the connection, and runs it.
    async fn admit<A: Accept>(
        self,
        accept: Arc<A>,
        admission: Arc<Semaphore>,
        peer: std::net::SocketAddr,
    ) {
        let stop = self.stopping.listen();
        // First the ClientHello (a silent socket never holds a slot and is closed after the
        // hello timeout), then a handshake slot, in arrival order.
        let hello_timeout = self.hello_timeout;
        let permit = if self.shutdown.is_requested() {
            None
        } else {
            async {
                let spoke = async {
                    let _ = self.stream.readable().await;
                    true
                }
                .or(async {
                    smol::Timer::after(hello_timeout).await;
                    false
                })
                .await;
                if spoke {
                    Some(admission.acquire_arc().await)
                } else {
                    None
                }
            }
            .or(async {
                stop.await;
                None
            })
            .await
        };
        let conn = permit.as_ref().and_then(|_| {
            let wake = self.wake.clone();
            let notify: Notify = Arc::new(move || {
                wake.flag.store(true, Ordering::SeqCst);
                wake.event.notify(1);
            });
            accept.accept(clock(), peer, notify)
        });
        match conn {
            Some(conn) => self.run(conn, permit).await,
            None => {
                self.open.fetch_sub(1, Ordering::SeqCst);
                self.closed.notify(usize::MAX);
            }
        }
    }

    async fn run<C: Driven, P>(self, mut conn: C, mut permit: Option<P>) {
        let mut pump = Pump::new(self.high_water);
        let mut shutting = false;
        // One timer for the connection's deadlines, moved only when a deadline comes earlier
        // than the one it is set for (each setting wakes the reactor); a later deadline waits
        // for it to fire, and the next turn sets it again.
        let mut timer = smol::Timer::never();
        let mut armed: Option<Instant> = None;
        loop {
            // Listen before looking, so no wake-up falls between the look and the wait.
            let woken = self.wake.event.listen();
            let stop = self.stopping.listen();
            let now = clock();
            if !shutting && self.shutdown.is_requested() {
                shutting = true;
                conn.shutdown(now);
            }
            if self.wake.flag.swap(false, Ordering::SeqCst) {
                conn.wake(now);
            }
            let mut io = self.stream.get_ref();
            let wait = with_buf(self.read_chunk, |buf| {
                pump.service(&mut conn, &mut io, buf, now)
            });
            if wait.done {
                if let Some(error) = conn.error() {
                    tracing::debug!(%error, "connection ended");
                }
                break;
            }
            if permit.is_some() && !conn.is_handshaking() {
                // Handshake over: let the next connection in.
                permit = None;
            }
            if let Some(at) = wait.until {
                if armed.is_none_or(|a| at < a) {
                    timer.set_at(at);
                    armed = Some(at);
                }
            }
            let readable = async {
                if wait.read {
                    let _ = self.stream.readable().await;
                    Ready::Read
                } else {
                    std::future::pending().await
                }
            };
            let writable = async {
                if wait.write {
                    let _ = self.stream.writable().await;
                    Ready::Write
                } else {
                    std::future::pending().await
                }
            };
            let other = async {
                woken
                    .or(async {
                        if shutting {
                            std::future::pending::<()>().await
                        } else {
                            stop.await
                        }
                    })
                    .or(async {
                        if armed.is_some() {
                            (&mut timer).await;
                            armed = None;
                        } else {
                            std::future::pending::<()>().await
                        }
                    })
                    .await;
                Ready::Other
            };
            let ready = readable.or(writable).or(other).await;
            let now = clock();
            let mut io = self.stream.get_ref();
            match ready {
                Ready::Read => with_buf(self.read_chunk, |buf| {
                    pump.read(&mut conn, &mut io, buf, now)
                }),
                Ready::Write => pump.flush(&mut conn, &mut io, now),
                Ready::Other => {}
            }
        }
        drop(permit);
        self.open.fetch_sub(1, Ordering::SeqCst);
        self.closed.notify(usize::MAX);
    }
}
