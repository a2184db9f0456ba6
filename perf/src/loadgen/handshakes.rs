//! `loadgen handshakes`: full and resumed mutual-TLS handshakes per second against a real
//! Blackboard, the server's CPU time per connection, and the in-memory server-side cost of the
//! same handshake measured in this process, with the key exchange group they negotiated.

use super::{cpu_time, thread_cpu_time, Lab, Result};
use handin_core::driver::Link;
use handin_core::harness::{t0, Campus};
use handin_core::{ClientConfig, Identity, KeyExchange, Role, SubmitClient, SubmitServer};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use std::time::{Duration, Instant};

/// Options.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Server transport.
    pub transport: String,
    /// Seconds per phase.
    pub seconds: f64,
    /// Client threads.
    pub concurrency: usize,
    /// The key exchange the clients offer first (the server is the real Blackboard's, which
    /// prefers X25519MLKEM768 and also accepts X25519).
    pub kx: KeyExchange,
}

/// One handshake up to the Welcome; returns the key exchange group negotiated, if connected.
fn handshake(config: &ClientConfig, addr: &str) -> Result<Option<String>> {
    let sock = handin::net::resolve(addr).map_err(|e| e.to_string())?;
    let mut link =
        handin_mio::MioLink::connect(sock, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let name = handin_core::config::server_name("127.0.0.1").map_err(|e| e.to_string())?;
    let mut conn = SubmitClient::new(config, name, super::clock()).map_err(|e| e.to_string())?;
    let connected = link
        .run_until(&mut conn, |c, _| {
            while c.poll_event().is_some() {}
            c.is_connected().then_some(())
        })
        .map_err(|e| e.to_string())?;
    Ok(connected.map(|()| conn.handshake_info().key_exchange))
}

/// Runs `per_thread` on `threads` threads for `seconds`; returns connections made, failed, the
/// time, and the key exchange groups the connections negotiated.
fn hammer(
    threads: usize,
    seconds: f64,
    make: impl Fn() -> Result<ClientConfig> + Sync,
    fresh_each_time: bool,
    addr: &str,
) -> Result<(u64, u64, Duration, BTreeSet<String>)> {
    let done = AtomicBool::new(false);
    let groups = Mutex::new(BTreeSet::new());
    let (ok, failed) = (AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut config = make().ok();
                let mut seen = BTreeSet::new();
                while !done.load(Ordering::Relaxed) {
                    if fresh_each_time {
                        config = make().ok();
                    }
                    let r = config.as_ref().map(|c| handshake(c, addr));
                    match r {
                        Some(Ok(Some(group))) => {
                            seen.insert(group);
                            ok.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
                if let Ok(mut g) = groups.lock() {
                    g.extend(seen);
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        done.store(true, Ordering::Relaxed);
    });
    Ok((
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        started.elapsed(),
        groups.into_inner().unwrap_or_default(),
    ))
}

/// The server's share of one handshake, in memory, with a client offering `kx`: only the time
/// spent in the server's calls is counted. Returns it and the group the server negotiated.
fn in_memory_server_cost(
    rounds: u32,
    resumed: bool,
    kx: KeyExchange,
) -> Result<(Duration, String)> {
    let start = handin_core::Now::new(Instant::now(), t0());
    let mut campus = Campus::new(start);
    let identity = campus.new_student("1155000001");
    let config_for =
        |c: &Campus| c.client_config_with_key_exchange(Role::Submit, Some(identity.clone()), kx);
    let shared = config_for(&campus);
    if resumed {
        // Leave a ticket in the shared client cache.
        let mut pair = campus.submit_pair_with(&shared);
        campus.connect_submit(&mut pair)?;
    }
    let mut spent = Duration::ZERO;
    let mut group = String::new();
    for _ in 0..rounds {
        let config = if resumed {
            shared.clone()
        } else {
            config_for(&campus)
        };
        let name = handin_core::config::server_name("localhost").map_err(|e| e.to_string())?;
        let mut client = SubmitClient::new(&config, name, start).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut server =
            SubmitServer::new(campus.blackboard.clone(), start).map_err(|e| e.to_string())?;
        spent += started.elapsed();
        let (mut c2s, mut s2c) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            c2s.clear();
            client.poll_transmit(&mut c2s);
            s2c.clear();
            let started = Instant::now();
            if !c2s.is_empty() {
                let _ = server.receive(start, &c2s);
            }
            while server.poll_event().is_some() {}
            server.poll_transmit(&mut s2c);
            spent += started.elapsed();
            if !s2c.is_empty() {
                let _ = client.receive(start, &s2c);
            }
            if client.is_connected() {
                break;
            }
        }
        if !client.is_connected() {
            return Err("the in-memory handshake did not complete".into());
        }
        let info = server.handshake_info();
        if resumed && !info.resumed {
            return Err("the in-memory handshake did not resume".into());
        }
        group = info.key_exchange;
    }
    Ok((spent / rounds, group))
}

/// The kernel's floor: the server-side CPU time of a bare TCP connection over loopback with
/// the same shape as a handshake's (accept, a request byte, an answer byte, the client's close),
/// served by one blocking thread with no TLS and no event loop. What the real server spends
/// beyond `in_memory + floor` is its own overhead (event loop, buffers, system calls).
fn tcp_floor(threads: usize, seconds: f64) -> Result<(u64, Duration)> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let server = s.spawn(|| -> Result<(u64, Duration)> {
            let before = thread_cpu_time()?;
            let mut served = 0u64;
            let mut byte = [0u8; 1];
            while let Ok((mut c, _)) = listener.accept() {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let _ = c.set_nodelay(true);
                if c.read_exact(&mut byte).is_ok() && c.write_all(&byte).is_ok() {
                    // Wait for the client's close, as a server waits for close_notify.
                    let _ = c.read(&mut byte);
                    served += 1;
                }
            }
            Ok((served, thread_cpu_time()? - before))
        });
        for _ in 0..threads {
            s.spawn(|| {
                let mut byte = [7u8; 1];
                while !done.load(Ordering::Relaxed) {
                    let Ok(mut c) = std::net::TcpStream::connect(addr) else {
                        continue;
                    };
                    let _ = c.set_nodelay(true);
                    // A connection still queued when the server thread stops is never
                    // answered: give up on it rather than wait forever.
                    let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                    let _ = c.write_all(&byte).and_then(|()| c.read_exact(&mut byte));
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        done.store(true, Ordering::Relaxed);
        // Wake the accept call.
        let _ = std::net::TcpStream::connect(addr);
        server
            .join()
            .map_err(|_| "the floor server panicked".to_string())?
    })
}

/// Runs the measurement; returns one JSON object.
pub fn run(o: &Opts) -> Result<serde_json::Value> {
    let lab = Lab::new(1 << 20)?;
    let ca = lab.pki.ca().map_err(|e| e.0)?;
    let identity: Identity = lab.student(&ca, "1155000001")?;
    let server = lab.start_blackboard(&o.transport)?;
    let addr = server.addr.clone();
    let fresh = || {
        ClientConfig::new_with_key_exchange(
            Role::Submit,
            lab.ca.clone(),
            Some(identity.clone()),
            o.kx,
        )
        .map_err(|e| e.to_string())
    };
    // Warm up (page faults, first allocations) before counting anything.
    hammer(1, 0.5, fresh, true, &addr)?;

    let cpu0 = cpu_time(server.pid())?;
    let (full, full_failed, full_time, mut groups) =
        hammer(o.concurrency, o.seconds, fresh, true, &addr)?;
    let cpu1 = cpu_time(server.pid())?;
    let (resumed, resumed_failed, resumed_time, resumed_groups) =
        hammer(o.concurrency, o.seconds, fresh, false, &addr)?;
    groups.extend(resumed_groups);
    let cpu2 = cpu_time(server.pid())?;

    let (floor_conns, floor_cpu) = tcp_floor(o.concurrency, o.seconds.min(3.0))?;
    let (mem_full, mem_group) = in_memory_server_cost(200, false, o.kx)?;
    let (mem_resumed, _) = in_memory_server_cost(200, true, o.kx)?;
    let per = |cpu: Duration, n: u64| {
        if n == 0 {
            0.0
        } else {
            cpu.as_secs_f64() * 1e6 / n as f64
        }
    };
    let full_cpu_us = per(cpu1 - cpu0, full);
    let floor_us = per(floor_cpu, floor_conns);
    let mem_full_us = mem_full.as_secs_f64() * 1e6;
    let resumed_cpu_us = per(cpu2 - cpu1, resumed);
    let full_rate = full as f64 / full_time.as_secs_f64();
    let resumed_rate = resumed as f64 / resumed_time.as_secs_f64();
    Ok(serde_json::json!({
        "measurement": "handshakes",
        "transport": o.transport,
        "concurrency": o.concurrency,
        "kx": o.kx.first_group(),
        "kx_group": groups.into_iter().collect::<Vec<_>>().join(","),
        "in_memory_kx_group": mem_group,
        "full_per_sec": full_rate,
        "resumed_per_sec": resumed_rate,
        "resumed_over_full": resumed_rate / full_rate.max(f64::MIN_POSITIVE),
        "failures": full_failed + resumed_failed,
        "server_cpu_us_per_full": full_cpu_us,
        "server_cpu_us_per_resumed": resumed_cpu_us,
        "in_memory_server_us_per_full": mem_full.as_secs_f64() * 1e6,
        "in_memory_server_us_per_resumed": mem_resumed.as_secs_f64() * 1e6,
        "server_cpu_over_in_memory_full": full_cpu_us / mem_full_us,
        "tcp_floor_server_us_per_connection": floor_us,
        "server_cpu_over_in_memory_plus_floor_full": full_cpu_us / (mem_full_us + floor_us),
    }))
}
