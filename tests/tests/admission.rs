//! Admission control in both server transports: no more than `max_handshakes` connections are
//! in their handshake at once, the others wait in line (no protocol state is made for them and
//! their deadline has not started), and every one of them is served in the end.
//!
//! The connection type here is a stand-in whose "handshake" ends when the peer sends `H`: the
//! transports only see the `Driven` contract, so this exercises exactly their admission logic.

use handin::net::{self, Transport};
use handin_core::driver::{Accept, Driven, Notify, ServeOptions, Shutdown};
use handin_core::Now;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Counts {
    made: AtomicUsize,
    in_handshake: AtomicUsize,
    most_in_handshake: AtomicUsize,
}

struct Gate(Arc<Counts>);

impl Accept for Gate {
    type Conn = Conn;
    fn accept(&self, _now: Now, _peer: SocketAddr, _notify: Notify) -> Option<Conn> {
        self.0.made.fetch_add(1, Ordering::SeqCst);
        let n = self.0.in_handshake.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.most_in_handshake.fetch_max(n, Ordering::SeqCst);
        Some(Conn {
            counts: self.0.clone(),
            handshaking: true,
            out: Vec::new(),
            closed: false,
        })
    }
}

struct Conn {
    counts: Arc<Counts>,
    handshaking: bool,
    out: Vec<u8>,
    closed: bool,
}

impl Conn {
    fn leave_handshake(&mut self) {
        if self.handshaking {
            self.handshaking = false;
            self.counts.in_handshake.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Driven for Conn {
    fn receive(&mut self, _now: Now, data: &[u8]) {
        for &b in data {
            match b {
                b'H' if self.handshaking => {
                    self.leave_handshake();
                    self.out.extend_from_slice(b"welcome\n");
                }
                b'Q' => {
                    self.out.extend_from_slice(b"bye\n");
                    self.closed = true;
                }
                _ => {}
            }
        }
    }
    fn handle_eof(&mut self, _now: Now) {
        self.leave_handshake();
        self.closed = true;
    }
    fn handle_timeout(&mut self, _now: Now) {}
    fn shutdown(&mut self, _now: Now) {
        // Like the real servers: a connection with no request in flight closes at once.
        if self.handshaking {
            self.closed = true;
        }
    }
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.out.len();
        out.append(&mut self.out);
        n
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn is_handshaking(&self) -> bool {
        self.handshaking
    }
    fn is_closed(&self) -> bool {
        self.closed
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.leave_handshake();
    }
}

/// Whether the server closed `s` (end of stream or a reset; a read timeout is not a close).
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

fn read_line(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while s.read(&mut b).expect("reads") == 1 {
        got.push(b[0]);
        if b[0] == b'\n' {
            break;
        }
    }
    String::from_utf8(got).expect("text")
}

/// A server of `Gate` connections on `transport`, on an ephemeral loopback port.
struct Server {
    addr: SocketAddr,
    counts: Arc<Counts>,
    shutdown: Arc<Shutdown>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl Server {
    fn start(transport: Transport, opts: ServeOptions) -> Self {
        let counts = Arc::new(Counts::default());
        let listener = net::listen("127.0.0.1:0").expect("listens");
        let addr = listener.local_addr().expect("bound");
        let shutdown = Shutdown::new();
        let (gate, s) = (Arc::new(Gate(counts.clone())), shutdown.clone());
        let thread = std::thread::spawn(move || net::serve(transport, listener, gate, opts, s));
        Self {
            addr,
            counts,
            shutdown,
            thread,
        }
    }

    fn made(&self) -> usize {
        self.counts.made.load(Ordering::SeqCst)
    }

    /// Waits for the server to stop (after `shutdown.request()`).
    fn join(self) {
        self.thread
            .join()
            .expect("server thread")
            .expect("server exits cleanly");
    }
}

fn admits_a_few_at_a_time(transport: Transport) {
    const CAP: usize = 4;
    const CLIENTS: usize = 40;
    let server = Server::start(
        transport,
        ServeOptions {
            loops: 2,
            max_handshakes: CAP,
            ..ServeOptions::default()
        },
    );
    let (addr, counts) = (server.addr, server.counts.clone());

    // Everyone connects and starts talking, then nobody finishes for a while: without
    // admission control every connection would be made (and be "in its handshake") during
    // the pause. (The mio loops split the cap, so fewer may be made if one loop took most.)
    let mut clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| {
            let mut c = TcpStream::connect(addr).expect("connects");
            c.write_all(b".").expect("writes");
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let made = server.made();
    assert!(
        (1..=CAP).contains(&made),
        "{made} connections made while nobody finished a handshake (cap {CAP})"
    );
    for c in &mut clients {
        c.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        c.write_all(b"H").expect("writes");
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(read_line(c), "welcome\n", "client {i} was served");
        c.write_all(b"Q").expect("writes");
        assert_eq!(read_line(c), "bye\n");
    }
    assert_eq!(server.made(), CLIENTS);
    let most = counts.most_in_handshake.load(Ordering::SeqCst);
    assert!(most <= CAP, "{most} handshakes at once, cap {CAP}");
    assert_eq!(counts.in_handshake.load(Ordering::SeqCst), 0);
    server.shutdown.request();
    server.join();
}

#[test]
fn mio_admits_a_few_handshakes_at_a_time() {
    admits_a_few_at_a_time(Transport::Mio);
}

#[test]
fn smol_admits_a_few_handshakes_at_a_time() {
    admits_a_few_at_a_time(Transport::Smol);
}

/// Connections still waiting for a slot when the server stops are closed, and the server does
/// not wait for them.
fn waiting_connections_do_not_hold_up_shutdown(transport: Transport) {
    let server = Server::start(
        transport,
        ServeOptions {
            loops: 1,
            max_handshakes: 1,
            shutdown_grace: Duration::from_secs(20),
            ..ServeOptions::default()
        },
    );
    let addr = server.addr;
    let mut first = TcpStream::connect(addr).expect("connects");
    first.write_all(b".").expect("writes");
    std::thread::sleep(Duration::from_millis(100));
    let mut waiting: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut c = TcpStream::connect(addr).expect("connects");
            c.write_all(b".").expect("writes");
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.made(), 1);
    // The admitted one is past its handshake when the server is asked to stop: it finishes
    // its request; the waiting ones are never made.
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    first.write_all(b"H").expect("writes");
    assert_eq!(read_line(&mut first), "welcome\n");
    let asked = std::time::Instant::now();
    server.shutdown.request();
    first.write_all(b"Q").expect("writes");
    assert_eq!(read_line(&mut first), "bye\n");
    server.join();
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "the server waited out its grace period for connections that were never admitted"
    );
    for c in &mut waiting {
        assert!(
            closed_by_server(c),
            "a waiting socket is closed at shutdown"
        );
    }
}

#[test]
fn mio_drops_waiting_connections_at_shutdown() {
    waiting_connections_do_not_hold_up_shutdown(Transport::Mio);
}

#[test]
fn smol_drops_waiting_connections_at_shutdown() {
    waiting_connections_do_not_hold_up_shutdown(Transport::Smol);
}

/// Sockets that never say anything hold no handshake slot (a student behind them is served at
/// once) and are closed after the hello timeout.
fn silent_sockets_wait_outside(transport: Transport) {
    let server = Server::start(
        transport,
        ServeOptions {
            loops: 1,
            max_handshakes: 1,
            hello_timeout: Duration::from_secs(1),
            ..ServeOptions::default()
        },
    );
    let addr = server.addr;
    let mut silent: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(addr).expect("connects"))
        .collect();
    let mut student = TcpStream::connect(addr).expect("connects");
    student
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    student.write_all(b"H").expect("writes");
    assert_eq!(read_line(&mut student), "welcome\n");
    assert_eq!(server.made(), 1, "only the student was made");
    for c in &mut silent {
        assert!(
            closed_by_server(c),
            "a silent socket is closed after the hello timeout"
        );
    }
    assert_eq!(server.made(), 1);
    student.write_all(b"Q").expect("writes");
    assert_eq!(read_line(&mut student), "bye\n");
    server.shutdown.request();
    server.join();
}

#[test]
fn mio_keeps_silent_sockets_out_of_the_handshake_slots() {
    silent_sockets_wait_outside(Transport::Mio);
}

#[test]
fn smol_keeps_silent_sockets_out_of_the_handshake_slots() {
    silent_sockets_wait_outside(Transport::Smol);
}
