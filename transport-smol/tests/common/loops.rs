// Shared by the mio and smol listener tests (included by both): an echo connection, the
// listeners, and the tests themselves over `serve`.

/// Echoes what it receives, a byte at a time, and ends after the peer's end of stream.
struct Echo {
    out: Vec<u8>,
    eof: bool,
}

impl Driven for Echo {
    fn receive(&mut self, _now: Now, data: &[u8]) {
        self.out.extend_from_slice(data);
    }
    fn handle_eof(&mut self, _now: Now) {
        self.eof = true;
    }
    fn handle_timeout(&mut self, _now: Now) {}
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.out.len();
        out.append(&mut self.out);
        n
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn is_closed(&self) -> bool {
        self.eof && self.out.is_empty()
    }
}

/// Makes echo connections, counting them by the thread that made them.
#[derive(Default)]
struct Echoes {
    by_thread: Mutex<HashMap<String, usize>>,
}

impl Accept for Echoes {
    type Conn = Echo;
    fn accept(&self, _now: Now, _peer: SocketAddr, _notify: Notify) -> Option<Echo> {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        if let Ok(mut m) = self.by_thread.lock() {
            *m.entry(name).or_default() += 1;
        }
        Some(Echo {
            out: Vec::new(),
            eof: false,
        })
    }
}

/// A listener on a free loopback port, with `SO_REUSEPORT` if `reuse_port`.
fn listener(reuse_port: bool) -> TcpListener {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    s.set_reuse_port(reuse_port).expect("SO_REUSEPORT");
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    s.listen(1024).expect("listen");
    s.into()
}

/// Makes `n` connections one after another, each sending a byte and reading it back, then
/// closing. Every connection must be served: with one listener per loop the kernel spreads them
/// over all listeners, so a loop that did not accept would leave about half unanswered.
fn echo_many(addr: SocketAddr, n: usize) {
    for i in 0..n {
        let mut c = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {i}: {e}"));
        c.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        c.write_all(&[i as u8]).expect("write");
        let mut b = [0u8; 1];
        c.read_exact(&mut b)
            .unwrap_or_else(|e| panic!("connection {i} not answered: {e}"));
        assert_eq!(b[0], i as u8);
        c.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut rest = Vec::new();
        c.read_to_end(&mut rest)
            .unwrap_or_else(|e| panic!("connection {i} not closed: {e}"));
        assert!(rest.is_empty());
    }
}

/// The listening sockets on `port` (Linux: from /proc/net/tcp, state 0A).
fn listening_sockets(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(&local) && f[3] == "0A"
        })
        .count()
}

/// Serves with two loops until told to stop; returns the address, the shutdown and the thread.
fn start(
    listener: TcpListener,
    echoes: Arc<Echoes>,
) -> (SocketAddr, Arc<Shutdown>, std::thread::JoinHandle<std::io::Result<()>>) {
    let addr = listener.local_addr().expect("addr");
    let shutdown = Shutdown::new();
    let opts = ServeOptions {
        loops: 2,
        shutdown_grace: Duration::from_secs(5),
        ..ServeOptions::default()
    };
    let s = shutdown.clone();
    let server = std::thread::spawn(move || serve(listener, echoes, opts, s));
    (addr, shutdown, server)
}

#[test]
fn with_reuseport_each_loop_listens_and_all_connections_are_served() {
    let echoes = Arc::new(Echoes::default());
    let (addr, shutdown, server) = start(listener(true), echoes.clone());
    echo_many(addr, 200);
    assert_eq!(listening_sockets(addr.port()), 2, "one listener per loop");
    shutdown.request();
    server.join().expect("joins").expect("serves");
    assert_eq!(listening_sockets(addr.port()), 0, "listeners closed");
    assert!(
        TcpStream::connect(addr).is_err(),
        "connections are refused after shutdown"
    );
    let total: usize = echoes.by_thread.lock().expect("lock").values().sum();
    assert_eq!(total, 200);
    per_loop_check(&echoes);
}

#[test]
fn without_reuseport_the_loops_share_the_one_listener() {
    let echoes = Arc::new(Echoes::default());
    let (addr, shutdown, server) = start(listener(false), echoes.clone());
    echo_many(addr, 50);
    assert_eq!(listening_sockets(addr.port()), 1);
    shutdown.request();
    server.join().expect("joins").expect("serves");
    let total: usize = echoes.by_thread.lock().expect("lock").values().sum();
    assert_eq!(total, 50);
}
