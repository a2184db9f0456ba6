//! The mio server: N event loops sharing one listening socket.

use crate::clock;
use handin_core::driver::{Accept, Driven, Notify, Pump, ServeOptions, Shutdown};
use handin_core::Now;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use slab::Slab;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
/// Tokens from here up name sockets waiting for admission (`PENDING + key`).
const PENDING: usize = 1 << (usize::BITS - 2);

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
            loops,
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

/// An accepted socket that has no connection yet: it waits for its first bytes, then for a
/// handshake slot. Silent ones are closed after `ServeOptions::hello_timeout`.
struct Pending {
    stream: TcpStream,
    peer: SocketAddr,
    generation: u64,
    /// Bytes arrived: it is in the ready line.
    ready: bool,
}

struct Entry<C> {
    stream: TcpStream,
    conn: C,
    pump: Pump,
    generation: u64,
    /// Holds one of this loop's handshake slots.
    handshaking: bool,
    interest: Option<Interest>,
    /// When the connection next needs the loop without any socket event (monotonic).
    until: Option<Instant>,
    /// The earliest time this connection has in the timer heap, if any. Later times are not
    /// pushed: when this one fires early, the current time is pushed then. So each connection
    /// holds about one heap entry however often its idle deadline moves.
    scheduled: Option<Instant>,
}

type Woken = Arc<Mutex<Vec<(usize, u64)>>>;

struct EventLoop<A: Accept> {
    poll: Poll,
    listener: TcpListener,
    listening: bool,
    accept: Arc<A>,
    conns: Slab<Entry<A::Conn>>,
    pending: Slab<Pending>,
    /// Hello deadlines of pending sockets, oldest first (all have the same length).
    hello_deadlines: VecDeque<(Instant, usize, u64)>,
    /// Pending sockets whose first bytes arrived, in arrival order.
    ready: VecDeque<(usize, u64)>,
    /// This loop's connections in their handshake, and its share of `max_handshakes`.
    in_handshake: usize,
    handshake_cap: usize,
    /// Deadlines on the monotonic clock: a step of the wall clock moves none of them.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
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
        loops: usize,
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
            pending: Slab::new(),
            hello_deadlines: VecDeque::new(),
            ready: VecDeque::new(),
            in_handshake: 0,
            handshake_cap: opts.max_handshakes.div_ceil(loops.max(1)).max(1),
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
            let now = clock();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => self.wake_all(now),
                    Token(t) if t >= PENDING => self.first_bytes(t - PENDING, now),
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
            let now = clock();
            self.fire_timers(now);
            self.close_silent(now.mono);
            self.admit(now);
            if self.shutdown.is_requested() && self.listening {
                self.begin_drain(now);
            }
            if let Some(since) = self.draining_since {
                if self.conns.is_empty() || since.elapsed() >= self.opts.shutdown_grace {
                    let left = self.conns.len();
                    if left > 0 {
                        tracing::warn!(left, "shutdown grace period over: closing connections");
                    }
                    self.in_handshake = 0;
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
        let now = Instant::now();
        let mut timeout = self
            .timers
            .peek()
            .map(|Reverse((at, _, _))| at.saturating_duration_since(now));
        if let Some((at, _, _)) = self.hello_deadlines.front() {
            let wait = at.saturating_duration_since(now);
            timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
        }
        if self.draining_since.is_some() {
            let tick = Duration::from_millis(100);
            timeout = Some(timeout.map_or(tick, |t| t.min(tick)));
        }
        timeout
    }

    fn accept_all(&mut self) {
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
            let entry = self.pending.vacant_entry();
            let key = entry.key();
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut stream, Token(PENDING + key), Interest::READABLE)
            {
                tracing::warn!(error = %e, "cannot register a connection");
                continue;
            }
            self.next_generation += 1;
            let generation = self.next_generation;
            entry.insert(Pending {
                stream,
                peer,
                generation,
                ready: false,
            });
            self.hello_deadlines.push_back((
                Instant::now() + self.opts.hello_timeout,
                key,
                generation,
            ));
            self.open.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A pending socket became readable (its ClientHello, or its end): start it now if a
    /// handshake slot is free, else it waits its turn.
    fn first_bytes(&mut self, key: usize, now: Now) {
        let Some(p) = self.pending.get_mut(key) else {
            return;
        };
        if p.ready {
            return;
        }
        p.ready = true;
        self.ready.push_back((key, p.generation));
        self.admit(now);
    }

    /// Starts ready sockets, oldest first, while handshake slots are free.
    fn admit(&mut self, now: Now) {
        while self.in_handshake < self.handshake_cap && self.listening {
            let Some((key, generation)) = self.ready.pop_front() else {
                return;
            };
            if self
                .pending
                .get(key)
                .is_some_and(|p| p.generation == generation)
            {
                let p = self.pending.remove(key);
                self.start(p, now);
            }
        }
    }

    /// Closes pending sockets that sent nothing within the hello timeout.
    fn close_silent(&mut self, now: Instant) {
        while let Some(&(at, key, generation)) = self.hello_deadlines.front() {
            if at > now {
                return;
            }
            self.hello_deadlines.pop_front();
            let silent = self
                .pending
                .get(key)
                .is_some_and(|p| p.generation == generation && !p.ready);
            if silent {
                let mut p = self.pending.remove(key);
                let _ = self.poll.registry().deregister(&mut p.stream);
                self.open.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Makes the connection for a pending socket (counted in `open`), taking a handshake slot.
    fn start(&mut self, pending: Pending, now: Now) {
        let Pending {
            mut stream,
            peer,
            generation,
            ..
        } = pending;
        let entry = self.conns.vacant_entry();
        let key = entry.key();
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
        let registered =
            self.poll
                .registry()
                .reregister(&mut stream, Token(key), Interest::READABLE);
        if let Err(e) = registered {
            tracing::warn!(error = %e, "cannot register a connection");
            self.open.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let Some(conn) = self.accept.accept(now, peer, notify) else {
            let _ = self.poll.registry().deregister(&mut stream);
            self.open.fetch_sub(1, Ordering::SeqCst);
            return;
        };
        entry.insert(Entry {
            stream,
            conn,
            pump: Pump::new(self.opts.write_high_water),
            generation,
            handshaking: true,
            interest: Some(Interest::READABLE),
            until: None,
            scheduled: None,
        });
        self.in_handshake += 1;
        self.service(key, now);
    }

    fn wake_all(&mut self, now: Now) {
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

    fn fire_timers(&mut self, now: Now) {
        while let Some(Reverse((at, key, generation))) = self.timers.peek().copied() {
            if at > now.mono {
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
                Some(until) if until <= now.mono => self.service(key, now),
                Some(later) => {
                    e.scheduled = Some(later);
                    self.timers.push(Reverse((later, key, generation)));
                }
                None => {}
            }
        }
    }

    fn begin_drain(&mut self, now: Now) {
        self.listening = false;
        // Sockets that never got a connection have no request in flight.
        for mut p in self.pending.drain() {
            let _ = self.poll.registry().deregister(&mut p.stream);
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
        self.ready.clear();
        self.hello_deadlines.clear();
        let _ = self.poll.registry().deregister(&mut self.listener);
        self.draining_since = Some(now.mono);
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
    fn service(&mut self, key: usize, now: Now) {
        let registry = self.poll.registry();
        let Some(e) = self.conns.get_mut(key) else {
            return;
        };
        let wait = e
            .pump
            .service(&mut e.conn, &mut e.stream, &mut self.buf, now);
        if wait.done {
            let mut e = self.conns.remove(key);
            if let Some(error) = e.conn.error() {
                tracing::debug!(%error, "connection ended");
            }
            let _ = registry.deregister(&mut e.stream);
            self.open.fetch_sub(1, Ordering::SeqCst);
            if e.handshaking {
                // The loop admits the next one (not from here: no recursion through `start`).
                self.in_handshake -= 1;
            }
            return;
        }
        let released = e.handshaking && !e.conn.is_handshaking();
        if released {
            e.handshaking = false;
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
        if released {
            // Handshake over: the loop lets the next one in.
            self.in_handshake -= 1;
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
