//! `loadgen storm`: every student submits at the same moment. N pre-enrolled students connect
//! to a real Blackboard all at once and each uploads a distinct file (all of one size, or of
//! sizes spread over a range); the clients are tasks on a two-thread smol executor, each
//! driving a [`SubmitClient`] with [`handin_smol::run_async`], spread over loopback source
//! addresses when there are more than one address's ephemeral ports can safely hold
//! ([`super::sources`]). Reports the total time, the payload throughput, the time from the
//! start to each receipt, failures and connection retries, Blackboard's peak RSS and open
//! files, and the kernel's listen-queue counters; then checks every receipt's signature with
//! Blackboard's certificate and every stored file against what was sent.
//!
//! The files are never held whole: each is a stream of pseudo-random 16 KiB blocks derived
//! from the student's number, made again when sending and when checking the stored copy.

pub use super::cluster::Backend;
use super::cluster::Servers;
use super::sources::{connect_from, Sources};
use super::{peak_rss_kib, percentile, raise_nofile_for, Lab, Result};
use handin_core::config::Timeouts;
use handin_core::driver::Step;
use handin_core::msg::UploadOffer;
use handin_core::pki::from_pem_or_der;
use handin_core::submit::Sha256;
use handin_core::{ClientConfig, Receipt, ReceiptBody, Role, SubmitClient, SubmitClientEvent};
use handin_smol::smol;
use handin_smol::smol::lock::Semaphore;
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Options.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Blackboard's transport.
    pub transport: String,
    /// Students submitting at once.
    pub students: usize,
    /// Bytes each submits (the smallest, if `size_max` is larger).
    pub size: u64,
    /// Bytes the largest submission has: sizes are spread between `size` and this (at most
    /// `size` means every file has `size` bytes).
    pub size_max: u64,
    /// The directory of the `blackboard` binary to run; `None`: next to this executable.
    pub bins: Option<std::path::PathBuf>,
    /// Where the records are.
    pub backend: Backend,
    /// Blackboard nodes (more than one only on PostgreSQL); the clients spread over them.
    pub nodes: usize,
    /// How long each client waits for its handshake and Welcome.
    pub handshake_timeout: Duration,
}

impl Opts {
    /// Options for `students` submitting `size` bytes each, with the binaries next to this
    /// executable.
    pub fn new(transport: &str, students: usize, size: u64) -> Self {
        Self {
            transport: transport.into(),
            students,
            size,
            size_max: size,
            bins: None,
            backend: Backend::Sqlite,
            nodes: 1,
            handshake_timeout: Timeouts::client().handshake,
        }
    }

    /// The size of student `i`'s file: spread over `size..=size_max` by a fixed mix of `i`.
    fn size_of(&self, i: usize) -> u64 {
        if self.size_max <= self.size {
            return self.size;
        }
        let span = self.size_max - self.size + 1;
        let mut z = (i as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.size + (z ^ (z >> 29)) % span
    }
}

/// Open files a process needs beside those per student (libraries, logs, databases, pipes).
const FILES_BESIDE: u64 = 4096;
/// Connections the clients may have open at once: every student, unless the open-file limit
/// (this process's, which Blackboard inherits) cannot hold them. Then as many as Blackboard
/// will hold beside its files ([`handin::net::connection_capacity`]), less a sixteenth, so that
/// a connection still closing on Blackboard's side never makes a newcomer the one too many; the
/// other students wait for a slot (counted, and their wait is in their time to receipt).
fn connection_slots(open_files: u64, students: usize) -> usize {
    let fit = handin::net::connection_capacity(Some(open_files), students);
    if fit >= students {
        students
    } else {
        (fit - fit / 16).max(1)
    }
}

/// Threads of the executor running the clients.
const EXECUTOR_THREADS: usize = 2;
/// Bytes of a payload block (one Data frame).
const BLOCK: usize = handin_core::frame::CHUNK;
/// Most bytes a client queues ahead of its socket.
const SEND_AHEAD: usize = 64 * 1024;
/// How long one connection attempt may take. Longer than the kernel's first two SYN
/// retransmissions (1 s and 3 s), so a SYN dropped by a full listen queue is retried by the
/// kernel before we give up on the attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connection attempts after the first.
const CONNECT_RETRIES: u32 = 4;
/// Wait before retry `n` (1-based): `n` times this.
const RETRY_DELAY: Duration = Duration::from_millis(100);

/// The `i`-th block of the payload with `seed`, into `out` (at most [`BLOCK`] bytes).
fn fill(seed: u64, block: u64, out: &mut [u8]) {
    // splitmix64 of (seed, block) starts an xorshift64* stream.
    let mut z = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(block.wrapping_mul(0xbf58_476d_1ce4_e5b9))
        .wrapping_add(0x94d0_49bb_1331_11eb);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    let mut x = (z ^ (z >> 31)) | 1;
    for word in out.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        word.copy_from_slice(&v[..word.len()]);
    }
}

/// SHA-256 of the whole payload with `seed`.
fn payload_sha256(seed: u64, size: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; BLOCK];
    let (mut block, mut left) = (0u64, size);
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        fill(seed, block, &mut buf[..n]);
        h.update(&buf[..n]);
        left -= n as u64;
        block += 1;
    }
    h.finish()
}

/// One student of the storm, ready to connect.
struct Client {
    id: String,
    seed: u64,
    config: ClientConfig,
    offer: UploadOffer,
}

/// What one client achieved.
struct Success {
    receipt: Receipt,
    body: ReceiptBody,
    /// From the storm's start to the Welcome.
    welcomed: Duration,
    /// From the storm's start to the receipt.
    done: Duration,
}

/// Counters the clients share.
#[derive(Default)]
struct Counters {
    retries: AtomicU64,
    clients_retried: AtomicU64,
    /// Clients that waited for a free connection slot (a descriptor of this process).
    waited_for_slot: AtomicU64,
}

/// Connects, retrying a few times with a short delay (a full listen queue, a timeout).
async fn connect(
    addr: SocketAddr,
    source: Option<SocketAddr>,
    counters: &Counters,
) -> Result<smol::Async<std::net::TcpStream>> {
    let mut attempt = 0;
    loop {
        match connect_from(source, addr, CONNECT_TIMEOUT).await {
            Ok(s) => return Ok(s),
            Err(e) if attempt < CONNECT_RETRIES => {
                attempt += 1;
                counters.retries.fetch_add(1, Ordering::Relaxed);
                if attempt == 1 {
                    counters.clients_retried.fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(error = %e, attempt, "connect failed: retrying");
                smol::Timer::after(RETRY_DELAY * attempt).await;
            }
            Err(e) => return Err(format!("connect: {e} (after {attempt} retries)")),
        }
    }
}

/// One student: connect, submit, stream the payload, wait for the receipt.
async fn submit(
    client: &Client,
    (addr, source): (SocketAddr, Option<SocketAddr>),
    start: Instant,
    counters: &Counters,
    slots: &Semaphore,
) -> Result<Success> {
    // Held until the connection is closed: at most as many connections as the descriptors of
    // this process (and Blackboard's, with the same limit) can hold.
    let _slot = match slots.try_acquire() {
        Some(slot) => slot,
        None => {
            counters.waited_for_slot.fetch_add(1, Ordering::Relaxed);
            slots.acquire().await
        }
    };
    let stream = connect(addr, source, counters).await?;
    let name = handin_core::config::server_name("127.0.0.1").map_err(|e| e.to_string())?;
    let mut conn =
        SubmitClient::new(&client.config, name, super::clock()).map_err(|e| e.to_string())?;
    let size = client.offer.size;
    let mut buf = vec![0u8; BLOCK];
    let (mut sent, mut block) = (0u64, 0u64);
    let mut welcomed = None;
    let mut outcome: Option<Result<(Receipt, ReceiptBody)>> = None;
    let r = handin_smol::run_async(&stream, &mut conn, |c, progress| {
        while let Some(ev) = c.poll_event() {
            match ev {
                SubmitClientEvent::Connected { .. } => {
                    welcomed = Some(start.elapsed());
                    if let Err(e) = c.submit(client.offer.clone()) {
                        outcome.get_or_insert(Err(format!("submit: {e}")));
                    }
                }
                SubmitClientEvent::Receipt { receipt, body } => {
                    outcome.get_or_insert(Ok((receipt, body)));
                }
                SubmitClientEvent::Refused(r) => {
                    outcome.get_or_insert(Err(format!("refused: {:?}: {}", r.code, r.reason)));
                }
                _ => {}
            }
        }
        // Stream the payload while the socket keeps up.
        let mut budget = SEND_AHEAD.saturating_sub(progress.unsent);
        while outcome.is_none() && c.is_uploading() && budget > 0 {
            if sent == size {
                if let Err(e) = c.finish_upload() {
                    outcome = Some(Err(format!("finish: {e}")));
                }
                break;
            }
            let n = (size - sent).min(BLOCK as u64) as usize;
            fill(client.seed, block, &mut buf[..n]);
            if let Err(e) = c.send_data(&buf[..n]) {
                outcome = Some(Err(format!("send: {e}")));
                break;
            }
            sent += n as u64;
            block += 1;
            budget = budget.saturating_sub(n);
        }
        if outcome.is_none() && c.is_closed() {
            let why = c.error().map_or_else(
                || "closed before the receipt".to_owned(),
                |e| format!("closed: {e}"),
            );
            let when = if welcomed.is_some() {
                "after the Welcome"
            } else {
                "before the Welcome"
            };
            outcome = Some(Err(format!("{why} ({when})")));
        }
        if outcome.is_some() {
            c.close();
            Step::Done
        } else {
            Step::Continue
        }
    })
    .await;
    let done = start.elapsed();
    match (outcome, r) {
        (Some(Ok((receipt, body))), _) => Ok(Success {
            receipt,
            body,
            welcomed: welcomed.unwrap_or(done),
            done,
        }),
        (Some(Err(e)), _) => Err(e),
        (None, Err(e)) => Err(format!("connection: {e}")),
        (None, Ok(())) => Err("the connection ended without a receipt".into()),
    }
}

/// The kind of a failure, for counting: its text up to the first detail in parentheses, with
/// digits dropped (`connect: Connection timed out (os error 110)` → `connect: Connection timed
/// out`).
fn kind(why: &str) -> String {
    let head = why.split(" (").next().unwrap_or(why);
    head.chars().filter(|c| !c.is_ascii_digit()).collect()
}

/// Certificates and configurations for `n` students, made on every core.
fn make_clients(lab: &Lab, o: &Opts) -> Result<Vec<Client>> {
    let n = o.students;
    let ca = lab.pki.ca().map_err(|e| e.0)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = n.div_ceil(threads).max(1);
    let indexes: Vec<usize> = (0..n).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = indexes
            .chunks(per)
            .map(|chunk| {
                let ca = &ca;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|&i| {
                            let id = format!("1156{i:06}");
                            let identity = lab.student(ca, &id)?;
                            let config =
                                ClientConfig::new(Role::Submit, lab.ca.clone(), Some(identity))
                                    .map_err(|e| e.to_string())?
                                    .with_timeouts(Timeouts {
                                        handshake: o.handshake_timeout,
                                        ..Timeouts::client()
                                    });
                            let seed = i as u64 + 1;
                            let size = o.size_of(i);
                            let offer = UploadOffer {
                                course: "LOAD".into(),
                                assignment: "hw1".into(),
                                file_name: format!("storm-{id}.bin"),
                                size,
                                sha256: payload_sha256(seed, size),
                            };
                            Ok(Client {
                                id,
                                seed,
                                config,
                                offer,
                            })
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(n);
        for h in handles {
            all.extend(h.join().map_err(|_| "a certificate thread panicked")??);
        }
        Ok(all)
    })
}

/// Whether the stored file is exactly the payload with `seed` and `size`.
fn stored_matches(path: &std::path::Path, seed: u64, size: u64) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len != size {
        return Err(format!("{}: {len} bytes, sent {size}", path.display()));
    }
    let mut file = std::io::BufReader::new(file);
    let (mut want, mut got) = (vec![0u8; BLOCK], vec![0u8; BLOCK]);
    let (mut block, mut left) = (0u64, size);
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        fill(seed, block, &mut want[..n]);
        file.read_exact(&mut got[..n])
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if want[..n] != got[..n] {
            return Err(format!(
                "{}: block {block} differs from what was sent",
                path.display()
            ));
        }
        left -= n as u64;
        block += 1;
    }
    Ok(())
}

/// The kernel's TCP counters that tell of a full listen queue (for the whole host).
fn listen_counters() -> BTreeMap<String, u64> {
    const WANTED: [&str; 5] = [
        "ListenOverflows",
        "ListenDrops",
        "SyncookiesSent",
        "TCPReqQFullDrop",
        "TCPReqQFullDoCookies",
    ];
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let mut out = BTreeMap::new();
    if let [names, values, ..] = lines[..] {
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
            if WANTED.contains(&name) {
                if let Ok(v) = value.parse() {
                    out.insert(name.to_owned(), v);
                }
            }
        }
    }
    out
}

/// The backlog of the socket listening on `port`, as `ss` shows it (Send-Q of a listener).
fn listen_backlog(port: u16) -> Option<u64> {
    let out = std::process::Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.split_whitespace().nth(2)?.parse().ok()
}

/// Open files of a process.
fn open_files(pid: u32) -> Option<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count() as u64)
}

/// Runs the measurement; returns one JSON object.
pub fn run(o: &Opts) -> Result<serde_json::Value> {
    if o.students == 0 {
        return Err("--students must be at least 1".into());
    }
    // Raised before Blackboard starts, so that it inherits the limit too: here a socket per
    // student; in Blackboard a socket and, while it uploads, a file per student.
    let nofile = raise_nofile_for(2 * o.students as u64 + FILES_BESIDE);
    let lab = Lab::with_bins(o.size.max(o.size_max), o.bins.as_deref())?;
    let clients = make_clients(&lab, o)?;
    let bb_pem = std::fs::read(lab.dir.join("bb.crt")).map_err(|e| e.to_string())?;
    let bb_cert = from_pem_or_der(&bb_pem, "CERTIFICATE")?
        .into_iter()
        .next()
        .ok_or("bb.crt holds no certificate")?;

    let servers = Servers::start(&lab, &o.transport, o.backend, o.nodes)?;
    let addrs = servers.addrs()?;
    let sources = Sources::for_clients(o.students, addrs[0]);
    let slot_count = connection_slots(nofile, o.students);
    let slots = Semaphore::new(slot_count);
    let backlog = listen_backlog(addrs[0].port());
    let pids: Vec<u32> = servers.nodes.iter().map(|n| n.pid()).collect();
    let counters = Counters::default();
    let kernel0 = listen_counters();
    let cpu0 = servers.cpu()?;

    let ex = smol::Executor::new();
    let (stop, stopped) = smol::channel::unbounded::<()>();
    let done = AtomicBool::new(false);
    let (peak_during, files_during) = (AtomicU64::new(0), AtomicU64::new(0));
    let (results, elapsed) = std::thread::scope(|s| {
        for _ in 0..EXECUTOR_THREADS {
            s.spawn(|| smol::block_on(ex.run(stopped.recv())));
        }
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                for &pid in &pids {
                    if let Ok(kib) = peak_rss_kib(pid) {
                        peak_during.fetch_max(kib, Ordering::Relaxed);
                    }
                    if let Some(n) = open_files(pid) {
                        files_during.fetch_max(n, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let start = Instant::now();
        let tasks: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let to = (addrs[i % addrs.len()], sources.source_of(i));
                ex.spawn(submit(c, to, start, &counters, &slots))
            })
            .collect();
        let results = smol::block_on(async {
            let mut results = Vec::with_capacity(tasks.len());
            for t in tasks {
                results.push(t.await);
            }
            results
        });
        let elapsed = start.elapsed();
        done.store(true, Ordering::Relaxed);
        drop(stop);
        (results, elapsed)
    });
    let kernel1 = listen_counters();
    let cpu1 = servers.cpu()?;
    let mut peak_after = 0;
    for &pid in &pids {
        peak_after = peak_after.max(peak_rss_kib(pid)?);
    }
    drop(servers);
    let (bb_cpu, db_cpu) = (cpu1.0.saturating_sub(cpu0.0), cpu1.1.saturating_sub(cpu0.1));

    // Tally, then check every receipt and every stored file.
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_failure = None;
    let (mut times, mut welcomes) = (Vec::new(), Vec::new());
    let (mut receipts_ok, mut files_ok) = (0u64, 0u64);
    let mut payload = 0u64;
    let mut bad: Vec<String> = Vec::new();
    let mut ids = HashSet::new();
    for (client, result) in clients.iter().zip(results) {
        let s = match result {
            Ok(s) => s,
            Err(why) => {
                *failures.entry(kind(&why)).or_default() += 1;
                first_failure.get_or_insert(format!("{}: {why}", client.id));
                continue;
            }
        };
        times.push(s.done);
        welcomes.push(s.welcomed);
        let o = &client.offer;
        payload += o.size;
        let receipt = s.receipt.verify(&bb_cert).map_err(|e| e.0).and_then(|b| {
            let ours = b == s.body
                && b.student_id == client.id
                && b.course == o.course
                && b.assignment == o.assignment
                && b.file_name == o.file_name
                && b.size == o.size
                && b.sha256 == o.sha256;
            if ours {
                Ok(b)
            } else {
                Err("it does not describe what was sent".into())
            }
        });
        match receipt {
            Ok(body) => {
                receipts_ok += 1;
                if !ids.insert(body.id.clone()) {
                    bad.push(format!(
                        "{}: submission id {} given twice",
                        client.id, body.id
                    ));
                }
                match stored_matches(&lab.stored(&body.id), client.seed, o.size) {
                    Ok(()) => files_ok += 1,
                    Err(e) => bad.push(format!("{}: {e}", client.id)),
                }
            }
            Err(e) => bad.push(format!("{}: receipt: {e}", client.id)),
        }
    }
    times.sort();
    welcomes.sort();
    let succeeded = times.len() as u64;
    let failed: u64 = failures.values().sum();
    let kernel: BTreeMap<String, u64> = kernel1
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.saturating_sub(kernel0.get(k).copied().unwrap_or(0)),
            )
        })
        .collect();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Ok(serde_json::json!({
        "measurement": "storm",
        "transport": o.transport,
        "db": o.backend.name(),
        "nodes": addrs.len(),
        "students": o.students,
        "size": o.size,
        "size_max": o.size.max(o.size_max),
        "client_executor_threads": EXECUTOR_THREADS,
        "client_source_addresses": sources.addresses(),
        "client_handshake_timeout_s": o.handshake_timeout.as_secs_f64(),
        "seconds": elapsed.as_secs_f64(),
        "submissions_per_sec": succeeded as f64 / elapsed.as_secs_f64(),
        "payload_mib_per_sec": payload as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64(),
        "succeeded": succeeded,
        "failures": failed,
        "failure_kinds": failures,
        "first_failure": first_failure,
        "connect_retries": counters.retries.load(Ordering::Relaxed),
        "clients_that_retried": counters.clients_retried.load(Ordering::Relaxed),
        "connection_slots": slot_count,
        "clients_that_waited_for_a_slot": counters.waited_for_slot.load(Ordering::Relaxed),
        "blackboard_cpu_ms": ms(bb_cpu),
        "database_cpu_ms": ms(db_cpu),
        "server_cpu_ms_per_submission": ms(bb_cpu + db_cpu) / succeeded.max(1) as f64,
        "receipt_ms_p50": ms(percentile(&times, 0.50)),
        "receipt_ms_p95": ms(percentile(&times, 0.95)),
        "receipt_ms_p99": ms(percentile(&times, 0.99)),
        "receipt_ms_max": ms(times.last().copied().unwrap_or_default()),
        "welcome_ms_p50": ms(percentile(&welcomes, 0.50)),
        "welcome_ms_p99": ms(percentile(&welcomes, 0.99)),
        // Of the node that peaked highest.
        "blackboard_peak_rss_kib": peak_after.max(peak_during.load(Ordering::Relaxed)),
        "blackboard_peak_rss_kib_during": peak_during.load(Ordering::Relaxed),
        "blackboard_peak_rss_kib_after": peak_after,
        "blackboard_peak_open_files": files_during.load(Ordering::Relaxed),
        "nofile_limit": nofile,
        "listen_backlog": backlog,
        "kernel_listen_counters_delta": kernel,
        "receipts_verified": receipts_ok,
        "files_matched": files_ok,
        "verification_errors": bad.len(),
        "first_verification_error": bad.first(),
        "verified": failed == 0 && bad.is_empty() && files_ok == o.students as u64,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_spread_over_the_range() {
        let mut o = Opts::new("mio", 500, 16 * 1024);
        assert!((0..500).all(|i| o.size_of(i) == 16 * 1024));
        o.size_max = 100 * 1024;
        let sizes: Vec<u64> = (0..500).map(|i| o.size_of(i)).collect();
        assert!(sizes.iter().all(|s| (16 * 1024..=100 * 1024).contains(s)));
        let distinct: HashSet<u64> = sizes.iter().copied().collect();
        assert!(distinct.len() > 400, "{} distinct sizes", distinct.len());
        assert!(sizes.iter().any(|&s| s < 30 * 1024) && sizes.iter().any(|&s| s > 90 * 1024));
    }

    #[test]
    fn every_student_connects_at_once_unless_the_file_limit_binds() {
        assert_eq!(connection_slots(1 << 20, 20_000), 20_000);
        assert_eq!(connection_slots(65_536, 20_000), 20_000);
        // 20,000 descriptors: Blackboard holds 17,500 beside its files; the clients stay a
        // sixteenth below.
        assert_eq!(connection_slots(20_000, 20_000), 17_500 - 17_500 / 16);
        assert_eq!(connection_slots(20_000, 500), 500);
        // This process's own limit binds before Blackboard's would.
        assert_eq!(connection_slots(20_000, 17_400), 17_400);
        assert_eq!(connection_slots(20_000, 17_600), 17_500 - 17_500 / 16);
    }
}
