//! `loadgen idle`: what an idle authenticated connection costs Blackboard in memory. N
//! submission connections complete the mutual-TLS handshake and receive the Welcome, then stay
//! open and silent; Blackboard's resident memory is read before and after, and the difference
//! is divided by N.
//!
//! The clients are tasks on a two-thread smol executor: a few openers make the connections,
//! `in_flight` at a time (so that no handshake nears Blackboard's deadline), and hand each one
//! to a holder task that only waits for the socket to become readable. A holder that sees the
//! connection end (Blackboard's idle deadline, say) counts it as dropped.
//!
//! Before the baseline reading, `warmup` connections are opened and closed: they fill the TLS
//! session cache (a fixed cost, 4,096 entries at most, whatever the number of connections) and
//! the allocator's first arenas, so that the difference is what the open connections hold.

use super::{raise_nofile, Lab, Result};
use handin_core::driver::Step;
use handin_core::{ClientConfig, Identity, Role, SubmitClient};
use handin_smol::smol;
use smol::future::FutureExt;
use smol::Async;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Options.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Blackboard's transport.
    pub transport: String,
    /// Connections to open and hold.
    pub connections: usize,
    /// Connections opened and closed before the baseline reading.
    pub warmup: usize,
    /// Handshakes in progress at once.
    pub in_flight: usize,
    /// How long to wait after the last connection before reading the memory.
    pub settle: Duration,
}

/// Threads of the executor running the clients.
const EXECUTOR_THREADS: usize = 2;
/// Distinct students the connections are spread over.
const STUDENTS: usize = 100;
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Open files this process and Blackboard need besides the connections.
const SPARE_FILES: u64 = 256;
/// The target: an idle authenticated connection costs at most this much server memory.
const TARGET_BYTES: f64 = 16.0 * 1024.0;

/// A process's memory, in KiB.
#[derive(Debug, Clone, Copy)]
struct Memory {
    rss: u64,
    pss: Option<u64>,
}

/// A `Name:   123 kB` line of a `/proc` file.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resident memory (VmRSS), and the proportional set size if `smaps_rollup` is readable.
fn memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    let rss = kib_field(&status, "VmRSS").ok_or("no VmRSS in /proc/PID/status")?;
    let pss = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|t| kib_field(&t, "Pss"));
    Ok(Memory { rss, pss })
}

/// The soft limit on open files of a process, from `/proc/PID/limits`.
fn nofile_of(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Open files of a process.
fn open_files(pid: u32) -> Option<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count() as u64)
}

/// What the clients share.
#[derive(Default)]
struct Shared {
    /// Connections that reached the Welcome and are held.
    held: AtomicU64,
    /// Held connections that ended before the measurement did.
    dropped: AtomicU64,
    /// Connections that did not reach the Welcome.
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
    first_drop: Mutex<Option<String>>,
}

impl Shared {
    fn note(slot: &Mutex<Option<String>>, why: String) {
        if let Ok(mut s) = slot.lock() {
            s.get_or_insert(why);
        }
    }

    fn first(slot: &Mutex<Option<String>>) -> Option<String> {
        slot.lock().ok().and_then(|s| s.clone())
    }
}

/// Connects and drives the handshake until Blackboard's Welcome arrives.
async fn open(addr: SocketAddr, config: &ClientConfig) -> Result<(Async<TcpStream>, SubmitClient)> {
    let stream = handin_smol::connect_async(addr, CONNECT_TIMEOUT)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = handin_core::config::server_name("127.0.0.1").map_err(|e| e.to_string())?;
    let mut conn = SubmitClient::new(config, name, super::clock()).map_err(|e| e.to_string())?;
    handin_smol::run_async(&stream, &mut conn, |c, _| {
        while c.poll_event().is_some() {}
        if c.is_connected() || c.is_closed() {
            Step::Done
        } else {
            Step::Continue
        }
    })
    .await
    .map_err(|e| format!("connection: {e}"))?;
    if conn.is_connected() {
        Ok((stream, conn))
    } else {
        Err(conn.error().map_or_else(
            || "closed before the Welcome".to_owned(),
            |e| format!("closed before the Welcome: {e}"),
        ))
    }
}

/// Writes what the connection has to send, without waiting (a close_notify, at most).
fn send_now(stream: &Async<TcpStream>, conn: &mut SubmitClient) {
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    if !out.is_empty() {
        let _ = stream.get_ref().write(&out);
    }
}

/// Holds an idle connection until `stop` closes: only waits for the socket to become readable,
/// and takes what arrives (a session ticket, or Blackboard closing it).
async fn hold(
    stream: Async<TcpStream>,
    mut conn: SubmitClient,
    stop: smol::channel::Receiver<()>,
    shared: &Shared,
) {
    loop {
        let readable = async { stream.readable().await.map(|()| true) };
        let stopped = async {
            let _ = stop.recv().await;
            Ok(false)
        };
        match readable.or(stopped).await {
            Ok(true) => {}
            Ok(false) => {
                conn.close();
                send_now(&stream, &mut conn);
                return;
            }
            Err(e) => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                Shared::note(&shared.first_drop, format!("waiting to read: {e}"));
                return;
            }
        }
        let mut buf = vec![0u8; 16 * 1024];
        let now = super::clock();
        let ended = loop {
            match stream.get_ref().read(&mut buf) {
                Ok(0) => break Some(conn.handle_eof(now).err()),
                Ok(n) => {
                    if let Err(e) = conn.receive(now, &buf[..n]) {
                        break Some(Some(e));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break None,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = conn.handle_eof(now);
                    Shared::note(&shared.first_drop, format!("read: {e}"));
                    break Some(None);
                }
            }
        };
        while conn.poll_event().is_some() {}
        send_now(&stream, &mut conn);
        if ended.is_some() || conn.is_closed() {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            let why = conn.error().map_or_else(
                || "Blackboard closed the connection".to_owned(),
                |e| format!("Blackboard closed the connection: {e}"),
            );
            Shared::note(&shared.first_drop, why);
            return;
        }
    }
}

/// Everything the openers need.
#[derive(Clone)]
struct Opening<'a> {
    addr: SocketAddr,
    ca: &'a handin_core::rustls::pki_types::CertificateDer<'static>,
    students: &'a [Identity],
    shared: &'a Shared,
    stop: smol::channel::Receiver<()>,
}

/// Opens `n` connections on `ex`, `in_flight` at a time; holds them (`keep`) or closes each at
/// once. Returns when every one has reached the Welcome or failed.
async fn open_many<'a>(
    ex: &smol::Executor<'a>,
    o: &Opening<'a>,
    n: usize,
    in_flight: usize,
    keep: bool,
) {
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    let (opened, arrivals) = smol::channel::unbounded();
    let openers: Vec<_> = (0..in_flight.clamp(1, n.max(1)))
        .map(|_| {
            let (o, next, opened) = (o.clone(), next.clone(), opened.clone());
            ex.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let identity = o.students[i % o.students.len()].clone();
                    let result = match ClientConfig::new(Role::Submit, o.ca.clone(), Some(identity))
                    {
                        Ok(config) => open(o.addr, &config).await,
                        Err(e) => Err(e.to_string()),
                    };
                    match result {
                        Ok(pair) if keep => {
                            let _ = opened.send(pair).await;
                        }
                        Ok((stream, mut conn)) => {
                            conn.close();
                            send_now(&stream, &mut conn);
                        }
                        Err(why) => {
                            o.shared.failed.fetch_add(1, Ordering::Relaxed);
                            Shared::note(&o.shared.first_failure, why);
                        }
                    }
                }
            })
        })
        .collect();
    drop(opened);
    // Each connection that reached the Welcome gets a holder task of its own.
    while let Ok((stream, conn)) = arrivals.recv().await {
        o.shared.held.fetch_add(1, Ordering::Relaxed);
        ex.spawn(hold(stream, conn, o.stop.clone(), o.shared))
            .detach();
    }
    for t in openers {
        t.await;
    }
}

/// Runs the measurement; returns one JSON object.
pub fn run(o: &Opts) -> Result<serde_json::Value> {
    if o.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    // Raised before Blackboard starts, so that it inherits the limit too.
    let nofile = raise_nofile();
    let needed = o.connections as u64 + SPARE_FILES;
    if nofile < needed {
        return Err(format!(
            "{} connections need about {needed} open files, and the hard limit is {nofile}: \
             raise it (ulimit -Hn, or LimitNOFILE for a service) or ask for fewer connections",
            o.connections
        ));
    }
    let lab = Lab::new(1)?;
    let ca = lab.pki.ca().map_err(|e| e.0)?;
    let students = (0..STUDENTS.min(o.connections))
        .map(|i| lab.student(&ca, &format!("1157{i:06}")))
        .collect::<Result<Vec<_>>>()?;

    let server = lab.start_blackboard(&o.transport)?;
    let pid = server.pid();
    let addr = handin::net::resolve(&server.addr).map_err(|e| e.to_string())?;
    let bb_nofile = nofile_of(pid);
    if let Some(limit) = bb_nofile {
        if limit < needed {
            return Err(format!(
                "Blackboard may open only {limit} files, too few for {} connections",
                o.connections
            ));
        }
    }
    std::thread::sleep(o.settle);
    let at_start = memory(pid)?;

    let shared = Shared::default();
    let ex = smol::Executor::new();
    let (stop, stopped) = smol::channel::unbounded::<()>();
    let (exit, exited) = smol::channel::unbounded::<()>();
    let opening = Opening {
        addr,
        ca: &lab.ca,
        students: &students,
        shared: &shared,
        stop: stopped,
    };
    let reading = std::thread::scope(|s| {
        for _ in 0..EXECUTOR_THREADS {
            s.spawn(|| smol::block_on(ex.run(exited.recv())));
        }
        let r = measure(o, &ex, &opening, pid, &shared);
        // The holders close their connections and end; then the executor threads end.
        drop(stop);
        let give_up = Instant::now() + Duration::from_secs(10);
        while !ex.is_empty() && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(exit);
        r
    })?;
    drop(server);

    let established = shared.held.load(Ordering::Relaxed);
    let dropped = reading.dropped;
    let per = |before: u64, after: u64| {
        if established == 0 {
            0.0
        } else {
            (after as f64 - before as f64) * 1024.0 / established as f64
        }
    };
    let before = reading.before;
    let after = reading.after;
    let bytes_per_connection = per(before.rss, after.rss);
    let pss_per_connection = match (before.pss, after.pss) {
        (Some(b), Some(a)) => Some(per(b, a)),
        _ => None,
    };
    let failures = shared.failed.load(Ordering::Relaxed);
    let idle_deadline = handin_core::Timeouts::default().idle;
    Ok(serde_json::json!({
        "measurement": "idle",
        "transport": o.transport,
        "connections": o.connections,
        "established": established,
        "failures": failures,
        "first_failure": Shared::first(&shared.first_failure),
        "dropped_by_server": dropped,
        "first_drop": Shared::first(&shared.first_drop),
        "warmup_connections": o.warmup,
        "warmup_failures": reading.warmup_failures,
        "in_flight": o.in_flight,
        "connect_seconds": reading.connect.as_secs_f64(),
        "connections_per_sec": established as f64 / reading.connect.as_secs_f64().max(1e-9),
        "settle_seconds": o.settle.as_secs_f64(),
        "oldest_idle_seconds": reading.oldest_idle.as_secs_f64(),
        "server_idle_deadline_seconds": idle_deadline.as_secs_f64(),
        "blackboard_rss_kib_at_start": at_start.rss,
        "blackboard_rss_kib_before": before.rss,
        "blackboard_rss_kib_after": after.rss,
        "blackboard_pss_kib_before": before.pss,
        "blackboard_pss_kib_after": after.pss,
        "bytes_per_connection": bytes_per_connection,
        "pss_bytes_per_connection": pss_per_connection,
        "bytes_per_connection_from_start": per(at_start.rss, after.rss),
        "target_bytes_per_connection": TARGET_BYTES,
        "meets_target": failures == 0 && dropped == 0 && bytes_per_connection <= TARGET_BYTES,
        "blackboard_open_files": reading.open_files,
        "blackboard_nofile_limit": bb_nofile,
        "nofile_limit": nofile,
    }))
}

/// What [`measure`] read.
struct Reading {
    before: Memory,
    after: Memory,
    warmup_failures: u64,
    connect: Duration,
    oldest_idle: Duration,
    open_files: Option<u64>,
    dropped: u64,
}

/// Warm-up, baseline, the connections, the settling time, the reading.
fn measure<'a>(
    o: &Opts,
    ex: &smol::Executor<'a>,
    opening: &Opening<'a>,
    pid: u32,
    shared: &Shared,
) -> Result<Reading> {
    if o.warmup > 0 {
        smol::block_on(open_many(ex, opening, o.warmup, o.in_flight, false));
        std::thread::sleep(o.settle);
    }
    let warmup_failures = shared.failed.swap(0, Ordering::Relaxed);
    if let Ok(mut first) = shared.first_failure.lock() {
        first.take();
    }
    let before = memory(pid)?;
    let started = Instant::now();
    smol::block_on(open_many(ex, opening, o.connections, o.in_flight, true));
    let connect = started.elapsed();
    std::thread::sleep(o.settle);
    let after = memory(pid)?;
    let open_files = open_files(pid);
    // Blackboard's idle clock for the first connection started at its Welcome, after
    // `started`: this is an upper bound.
    let oldest_idle = started.elapsed();
    // A connection Blackboard closed just before the reading is noticed within moments.
    std::thread::sleep(Duration::from_millis(200));
    let dropped = shared.dropped.load(Ordering::Relaxed);
    Ok(Reading {
        before,
        after,
        warmup_failures,
        connect,
        oldest_idle,
        open_files,
        dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields_are_read() {
        let status = "Name:\tblackboard\nVmHWM:\t   24112 kB\nVmRSS:\t   24000 kB\n";
        assert_eq!(kib_field(status, "VmRSS"), Some(24000));
        assert_eq!(kib_field(status, "VmHWM"), Some(24112));
        assert_eq!(kib_field(status, "Pss"), None);
        let rollup = "55d0-7ffe ---p 00000000 00:00 0 [rollup]\nRss:  9892 kB\nPss:  8197 kB\n\
                      Pss_Anon:  7000 kB\n";
        assert_eq!(kib_field(rollup, "Pss"), Some(8197));
    }
}
