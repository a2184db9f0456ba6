//! The mio server: N event loops sharing one listening socket.

use handin_core::driver::{Accept, Driven, Notify, Pump, ServeOptions, Shutdown};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use slab::Slab;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);

/// Serves `listener` until `shutdown` is requested and every connection has finished (or the
/// grace period passed). Runs `opts.loops` event loops (one per core when 0) on their own
/// threads and returns when all have stopped.
pub fn serve<A: Accept>(
    listener: std::net::TcpListener,
    accept: Arc<A>,
    opts: ServeOptions,
    shutdown: Arc<Shutdown>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let loops = match opts.loops {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let open = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::with_capacity(loops);
    for i in 0..loops {
        let event_loop = EventLoop::new(
            listener.try_clone()?,
            accept.clone(),
            opts.clone(),
            shutdown.clone(),
            open.clone(),
        )?;
        threads.push(
            std::thread::Builder::new()
                .name(format!("handin-loop-{i}"))
                .spawn(move || event_loop.run())?,
        );
    }
    let mut result = Ok(());
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err(io::Error::other("an event loop panicked")),
        }
    }
    result
}

struct Entry<C> {
    stream: TcpStream,
    conn: C,
    pump: Pump,
    generation: u64,
    interest: Option<Interest>,
    /// When the connection next needs the loop without any socket event.
    until: Option<SystemTime>,
    /// The earliest time this connection has in the timer heap, if any. Later times are not
    /// pushed: when this one fires early, the current time is pushed then. So each connection
    /// holds about one heap entry however often its idle deadline moves.
    scheduled: Option<SystemTime>,
}

type Woken = Arc<Mutex<Vec<(usize, u64)>>>;

struct EventLoop<A: Accept> {
    poll: Poll,
    listener: TcpListener,
    listening: bool,
    accept: Arc<A>,
    conns: Slab<Entry<A::Conn>>,
    timers: BinaryHeap<Reverse<(SystemTime, usize, u64)>>,
    woken: Woken,
    waker: Arc<Waker>,
    opts: ServeOptions,
    shutdown: Arc<Shutdown>,
    open: Arc<AtomicUsize>,
    next_generation: u64,
    buf: Vec<u8>,
    draining_since: Option<Instant>,
}

impl<A: Accept> EventLoop<A> {
    fn new(
        listener: std::net::TcpListener,
        accept: Arc<A>,
        opts: ServeOptions,
        shutdown: Arc<Shutdown>,
        open: Arc<AtomicUsize>,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let w = waker.clone();
        shutdown.register(Arc::new(move || {
            let _ = w.wake();
        }));
        Ok(Self {
            poll,
            listener,
            listening: true,
            accept,
            conns: Slab::new(),
            timers: BinaryHeap::new(),
            woken: Arc::new(Mutex::new(Vec::new())),
            waker,
            buf: vec![0; opts.read_chunk.max(4096)],
            opts,
            shutdown,
            open,
            next_generation: 0,
            draining_since: None,
        })
    }

    fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = SystemTime::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(now),
                    WAKER => self.wake_all(now),
                    Token(key) => {
                        if let Some(e) = self.conns.get_mut(key) {
                            if event.is_readable() || event.is_read_closed() || event.is_error() {
                                e.pump.read(&mut e.conn, &mut e.stream, &mut self.buf, now);
                            }
                            if event.is_writable() {
                                e.pump.flush(&mut e.conn, &mut e.stream, now);
                            }
                        }
                        self.service(key, now);
                    }
                }
            }
            self.fire_timers(SystemTime::now());
            if self.shutdown.is_requested() && self.listening {
                self.begin_drain(SystemTime::now());
            }
            if let Some(since) = self.draining_since {
                if self.conns.is_empty() || since.elapsed() >= self.opts.shutdown_grace {
                    let left = self.conns.len();
                    if left > 0 {
                        tracing::warn!(left, "shutdown grace period over: closing connections");
                    }
                    for e in self.conns.drain() {
                        drop(e);
                        self.open.fetch_sub(1, Ordering::SeqCst);
                    }
                    return Ok(());
                }
            }
        }
    }

    fn poll_timeout(&mut self) -> Option<Duration> {
        let now = SystemTime::now();
        let mut timeout = self
            .timers
            .peek()
            .map(|Reverse((at, _, _))| at.duration_since(now).unwrap_or(Duration::ZERO));
        if self.draining_since.is_some() {
            let tick = Duration::from_millis(100);
            timeout = Some(timeout.map_or(tick, |t| t.min(tick)));
        }
        timeout
    }

    fn accept_all(&mut self, now: SystemTime) {
        loop {
            let (mut stream, peer) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors, say: keep serving who we have.
                    tracing::warn!(error = %e, "accept failed");
                    return;
                }
            };
            if !self.listening {
                continue;
            }
            if self.open.load(Ordering::SeqCst) >= self.opts.max_connections {
                tracing::warn!(%peer, limit = self.opts.max_connections, "connection limit reached: closing");
                continue;
            }
            let _ = stream.set_nodelay(true);
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            self.next_generation += 1;
            let generation = self.next_generation;
            let notify: Notify = {
                let woken = self.woken.clone();
                let waker = self.waker.clone();
                Arc::new(move || {
                    if let Ok(mut w) = woken.lock() {
                        w.push((key, generation));
                    }
                    let _ = waker.wake();
                })
            };
            let Some(conn) = self.accept.accept(now, peer, notify) else {
                continue;
            };
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut stream, Token(key), Interest::READABLE)
            {
                tracing::warn!(error = %e, "cannot register a connection");
                continue;
            }
            entry.insert(Entry {
                stream,
                conn,
                pump: Pump::new(self.opts.write_high_water),
                generation,
                interest: Some(Interest::READABLE),
                until: None,
                scheduled: None,
            });
            self.open.fetch_add(1, Ordering::SeqCst);
            self.service(key, now);
        }
    }

    fn wake_all(&mut self, now: SystemTime) {
        let woken = match self.woken.lock() {
            Ok(mut w) => std::mem::take(&mut *w),
            Err(_) => return,
        };
        for (key, generation) in woken {
            match self.conns.get_mut(key) {
                Some(e) if e.generation == generation => e.conn.wake(now),
                _ => continue,
            }
            self.service(key, now);
        }
    }

    fn fire_timers(&mut self, now: SystemTime) {
        while let Some(Reverse((at, key, generation))) = self.timers.peek().copied() {
            if at > now {
                return;
            }
            self.timers.pop();
            let Some(e) = self.conns.get_mut(key) else {
                continue;
            };
            if e.generation != generation || e.scheduled != Some(at) {
                continue;
            }
            e.scheduled = None;
            match e.until {
                Some(until) if until <= now => self.service(key, now),
                Some(later) => {
                    e.scheduled = Some(later);
                    self.timers.push(Reverse((later, key, generation)));
                }
                None => {}
            }
        }
    }

    fn begin_drain(&mut self, now: SystemTime) {
        self.listening = false;
        let _ = self.poll.registry().deregister(&mut self.listener);
        self.draining_since = Some(Instant::now());
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(e) = self.conns.get_mut(key) {
                e.conn.shutdown(now);
            }
            self.service(key, now);
        }
    }

    /// After any input: let the pump move bytes, then close the connection or bring its
    /// interest and timer up to date.
    fn service(&mut self, key: usize, now: SystemTime) {
        let registry = self.poll.registry();
        let Some(e) = self.conns.get_mut(key) else {
            return;
        };
        let wait = e
            .pump
            .service(&mut e.conn, &mut e.stream, &mut self.buf, now);
        if wait.done {
            let mut e = self.conns.remove(key);
            let _ = registry.deregister(&mut e.stream);
            self.open.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let interest = match (wait.read, wait.write) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        };
        if interest != e.interest {
            set_interest(registry, &mut e.stream, key, e.interest, interest);
            e.interest = interest;
        }
        e.until = wait.until;
        if let Some(at) = wait.until {
            if e.scheduled.is_none_or(|s| at < s) {
                e.scheduled = Some(at);
                self.timers.push(Reverse((at, key, e.generation)));
            }
        }
    }
}

fn set_interest(
    registry: &Registry,
    stream: &mut TcpStream,
    key: usize,
    old: Option<Interest>,
    new: Option<Interest>,
) {
    let r = match (old, new) {
        (None, Some(i)) => registry.register(stream, Token(key), i),
        (Some(_), Some(i)) => registry.reregister(stream, Token(key), i),
        (Some(_), None) => registry.deregister(stream),
        (None, None) => Ok(()),
    };
    if let Err(e) = r {
        tracing::warn!(error = %e, "cannot update socket interest");
    }
}
