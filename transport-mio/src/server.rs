//! The mio server: N event loops, each with its own listening socket (`SO_REUSEPORT`) when the
//! caller's listener allows it, so that a new connection wakes one loop.

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

/// Serves `listener` until `shutdown` is requested and every connection has finished (or the
/// grace period passed). Runs `opts.loops` event loops (one per core when 0) on their own
/// threads and returns when all have stopped.
///
/// When `listener` has `SO_REUSEPORT` set (as the binaries' listeners do), every loop but the
/// first listens on a socket of its own bound to the same address, so the kernel gives each new
/// connection to one loop and only that loop wakes; otherwise the loops share `listener`. The
/// listeners get `TCP_NODELAY`, which accepted sockets inherit. A loop closes its listener when
/// shutdown begins.
pub fn serve<A: Accept>(
    listener: std::net::TcpListener,
    accept: Arc<A>,
    opts: ServeOptions,
    shutdown: Arc<Shutdown>,
) -> io::Result<()> {
    let loops = match opts.loops {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let listeners = crate::listeners::per_loop(listener, loops)?;
    let open = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::with_capacity(loops);
    for (i, listener) in listeners.into_iter().enumerate() {
        let event_loop = EventLoop::new(
            listener,
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

/// What a token names: a socket waiting for admission, or a connection. A socket is registered
/// once, under the key it keeps from accept to close.
enum Slot<C> {
    Pending(Pending),
    /// Being made into a connection (only inside [`EventLoop::start`]).
    Starting,
    Live(Entry<C>),
}

/// The connection under `key`, if it is one.
fn live<C>(slots: &mut Slab<Slot<C>>, key: usize) -> Option<&mut Entry<C>> {
    match slots.get_mut(key) {
        Some(Slot::Live(e)) => Some(e),
        _ => None,
    }
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
    /// Closed (dropped) when shutdown begins.
    listener: Option<TcpListener>,
    listening: bool,
    /// An accept failed (out of file descriptors, say) with connections possibly still queued:
    /// the edge-triggered listener will not report them again, so retry at this instant.
    accept_retry: Option<Instant>,
    accept: Arc<A>,
    /// Pending sockets and connections, by token.
    slots: Slab<Slot<A::Conn>>,
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
            listener: Some(listener),
            listening: true,
            accept_retry: None,
            accept,
            slots: Slab::new(),
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
                    Token(key) => match self.slots.get_mut(key) {
                        Some(Slot::Pending(_)) => self.first_bytes(key, now),
                        Some(Slot::Live(e)) => {
                            if event.is_readable() || event.is_read_closed() || event.is_error() {
                                e.pump.read(&mut e.conn, &mut e.stream, &mut self.buf, now);
                            }
                            if event.is_writable() {
                                e.pump.flush(&mut e.conn, &mut e.stream, now);
                            }
                            self.service(key, now);
                        }
                        Some(Slot::Starting) | None => {}
                    },
                }
            }
            let now = clock();
            if self.accept_retry.is_some_and(|at| at <= now.mono) {
                self.accept_retry = None;
                self.accept_all();
            }
            self.fire_timers(now);
            self.close_silent(now.mono);
            self.admit(now);
            if self.shutdown.is_requested() && self.listening {
                self.begin_drain(now);
            }
            if let Some(since) = self.draining_since {
                if self.slots.is_empty() || since.elapsed() >= self.opts.shutdown_grace {
                    let left = self.slots.len();
                    if left > 0 {
                        tracing::warn!(left, "shutdown grace period over: closing connections");
                    }
                    self.in_handshake = 0;
                    for e in self.slots.drain() {
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
        if let Some(at) = self.accept_retry {
            let wait = at.saturating_duration_since(now);
            timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
        }
        timeout
    }

    /// Accepts until the queue is empty (the listener is edge-triggered).
    fn accept_all(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            let (mut stream, peer) = match listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors, say: keep serving who we have, and try the
                    // queue again shortly (no new readiness event comes for it).
                    tracing::warn!(error = %e, "accept failed");
                    self.accept_retry = Some(Instant::now() + Duration::from_millis(10));
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
            if !crate::listeners::NODELAY_INHERITED {
                let _ = stream.set_nodelay(true);
            }
            let entry = self.slots.vacant_entry();
            let key = entry.key();
            // Registered once: the connection keeps this token and interest when admitted.
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut stream, Token(key), Interest::READABLE)
            {
                tracing::warn!(error = %e, "cannot register a connection");
                continue;
            }
            self.next_generation += 1;
            let generation = self.next_generation;
            entry.insert(Slot::Pending(Pending {
                stream,
                peer,
                generation,
                ready: false,
            }));
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
        let Some(Slot::Pending(p)) = self.slots.get_mut(key) else {
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
            let Some(slot) = self.slots.get_mut(key) else {
                continue;
            };
            if matches!(slot, Slot::Pending(p) if p.generation == generation) {
                if let Slot::Pending(p) = std::mem::replace(slot, Slot::Starting) {
                    self.start(key, p, now);
                }
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
            let silent = matches!(
                self.slots.get(key),
                Some(Slot::Pending(p)) if p.generation == generation && !p.ready
            );
            if silent {
                // Closing the socket takes it out of the poll set: no deregister call.
                drop(self.slots.remove(key));
                self.open.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Makes the connection for the pending socket taken from slot `key` (now
    /// [`Slot::Starting`]; counted in `open`), taking a handshake slot. The socket stays
    /// registered as it was: same token, readable.
    fn start(&mut self, key: usize, pending: Pending, now: Now) {
        let Pending {
            stream,
            peer,
            generation,
            ..
        } = pending;
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
            drop(self.slots.remove(key));
            self.open.fetch_sub(1, Ordering::SeqCst);
            return;
        };
        self.slots[key] = Slot::Live(Entry {
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
            match live(&mut self.slots, key) {
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
            let Some(e) = live(&mut self.slots, key) else {
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
        let pending: Vec<usize> = self
            .slots
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Pending(_)))
            .map(|(k, _)| k)
            .collect();
        for key in pending {
            drop(self.slots.remove(key));
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
        self.ready.clear();
        self.hello_deadlines.clear();
        // New connections go to the loops still listening, or are refused once none is.
        self.listener = None;
        self.draining_since = Some(now.mono);
        let keys: Vec<usize> = self.slots.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(e) = live(&mut self.slots, key) {
                e.conn.shutdown(now);
            }
            self.service(key, now);
        }
    }

    /// After any input: let the pump move bytes, then close the connection or bring its
    /// interest and timer up to date.
    fn service(&mut self, key: usize, now: Now) {
        let registry = self.poll.registry();
        let Some(e) = live(&mut self.slots, key) else {
            return;
        };
        let wait = e
            .pump
            .service(&mut e.conn, &mut e.stream, &mut self.buf, now);
        if wait.done {
            let Slot::Live(e) = self.slots.remove(key) else {
                return;
            };
            if let Some(error) = e.conn.error() {
                tracing::debug!(%error, "connection ended");
            }
            let handshaking = e.handshaking;
            // Closing the socket takes it out of the poll set: no deregister call.
            drop(e);
            self.open.fetch_sub(1, Ordering::SeqCst);
            if handshaking {
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
