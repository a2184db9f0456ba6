//! `loadgen enroll`: enrollments per second against a real CUHK. Every student is put on the
//! roster and given a key and CSR beforehand, so only the enrollment itself is timed: the TLS
//! handshake, the code check, the signing, and the registrar's durable record (one SQLite
//! transaction with `synchronous=FULL` per enrollment). Afterwards the registrar is opened
//! again to check that it recorded every certificate. In the same run, the in-memory cost of
//! the same enrollment's necessary work and the cost of its durable record are measured in
//! this process ([`super::enroll_cost`]), to compare CUHK's CPU per enrollment with.

use super::{cpu_time, enroll_cost, peak_rss_kib, percentile, Lab, Result};
use handin_core::driver::Link;
use handin_core::pki::{new_student_key, StudentId};
use handin_core::{ClientConfig, EnrollClient, EnrollClientEvent, Role};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Options.
#[derive(Debug, Clone)]
pub struct Opts {
    /// CUHK's transport.
    pub transport: String,
    /// Students to enroll.
    pub students: usize,
    /// Client threads.
    pub concurrency: usize,
}

/// Enrollments timed in memory.
const IN_MEMORY_ROUNDS: usize = 300;
/// Enrollments recorded one per transaction for the durable-record figure.
const RECORD_ROUNDS: usize = 200;

/// One student, ready to enroll.
struct Student {
    id: StudentId,
    code: String,
    csr: Vec<u8>,
    /// A fresh client configuration, as a student's own process would have (no session to
    /// resume).
    config: ClientConfig,
}

/// Makes keys and CSRs for `ids` on every core.
fn make_csrs(ids: &[StudentId]) -> Result<Vec<Vec<u8>>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = ids.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(per)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|id| {
                            new_student_key(id)
                                .map(|k| k.csr_der)
                                .map_err(|e| e.to_string())
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(ids.len());
        for h in handles {
            all.extend(h.join().map_err(|_| "a key thread panicked")??);
        }
        Ok(all)
    })
}

/// Enrolls one student over a fresh connection; returns an error naming what went wrong.
fn enroll_one(student: &Student, addr: std::net::SocketAddr) -> Result<()> {
    let mut link = handin_mio::MioLink::connect(addr, Duration::from_secs(10))
        .map_err(|e| format!("connect: {e}"))?;
    let name = handin_core::config::server_name("127.0.0.1").map_err(|e| e.to_string())?;
    let mut conn =
        EnrollClient::new(&student.config, name, super::clock()).map_err(|e| e.to_string())?;
    let mut asked = false;
    let r = link.run_until(&mut conn, |c, _| {
        let mut outcome: Option<Result<()>> = None;
        while let Some(ev) = c.poll_event() {
            match ev {
                EnrollClientEvent::Connected { .. } => {
                    if let Err(e) = c.enroll(&student.id, &student.code, &student.csr) {
                        outcome.get_or_insert(Err(format!("enroll: {e}")));
                    }
                    asked = true;
                }
                EnrollClientEvent::Issued { .. } => {
                    outcome.get_or_insert(Ok(()));
                }
                EnrollClientEvent::Refused(r) => {
                    outcome.get_or_insert(Err(format!("refused: {:?}", r.code)));
                }
                _ => {}
            }
        }
        outcome
    });
    match r {
        Ok(Some(o)) => o,
        Ok(None) | Err(_) if conn.is_closed() => {
            let why = conn.error().map_or_else(
                || "closed before an answer".to_owned(),
                |e| format!("closed: {e}"),
            );
            Err(if asked {
                why
            } else {
                format!("{why} (before the Welcome)")
            })
        }
        Ok(None) => Err("the connection ended without an answer".into()),
        Err(e) => Err(format!("connection: {e}")),
    }
}

/// The one-word kind of a failure, for counting (`connect: Connection refused` → `connect`).
fn kind(why: &str) -> String {
    why.split(':').next().unwrap_or(why).trim().to_owned()
}

/// Runs the measurement; returns one JSON object.
pub fn run(o: &Opts) -> Result<serde_json::Value> {
    if o.students == 0 {
        return Err("--students must be at least 1".into());
    }
    let lab = Lab::new(1)?;
    let ids = (0..o.students)
        .map(|i| StudentId::parse(&format!("1157{i:06}")).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>>>()?;
    let codes = {
        let mut registrar = lab.pki.registrar().map_err(|e| e.0)?;
        ids.iter()
            .map(|id| {
                registrar
                    .add_student(id, SystemTime::now())
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>>>()?
    };
    let csrs = make_csrs(&ids)?;
    let students = ids
        .into_iter()
        .zip(codes)
        .zip(csrs)
        .map(|((id, code), csr)| {
            let config =
                ClientConfig::new(Role::Enroll, lab.ca.clone(), None).map_err(|e| e.to_string())?;
            Ok(Student {
                id,
                code,
                csr,
                config,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let server = lab.start_cuhk(&o.transport)?;
    let addr = handin::net::resolve(&server.addr).map_err(|e| e.to_string())?;
    let cpu0 = cpu_time(server.pid())?;
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(students.len()));
    let failures: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let mut first_failure: Option<String> = None;
    let started = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..o.concurrency.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    let mut first = None;
                    while let Some(student) = students.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let t = Instant::now();
                        match enroll_one(student, addr) {
                            Ok(()) => mine.push(t.elapsed()),
                            Err(why) => {
                                if let Ok(mut f) = failures.lock() {
                                    *f.entry(kind(&why)).or_default() += 1;
                                }
                                first.get_or_insert(why);
                            }
                        }
                    }
                    if let Ok(mut l) = latencies.lock() {
                        l.extend(mine);
                    }
                    first
                })
            })
            .collect();
        for h in handles {
            if let Ok(Some(why)) = h.join() {
                first_failure.get_or_insert(why);
            }
        }
    });
    let elapsed = started.elapsed();
    let cpu = cpu_time(server.pid())?.saturating_sub(cpu0);
    let server_rss = peak_rss_kib(server.pid())?;
    drop(server);

    // The same necessary work in memory, then the durable record alone, with students that are
    // not on the roster of the run above (the record's students are added to it now).
    let extra = (0..IN_MEMORY_ROUNDS.max(RECORD_ROUNDS))
        .map(|i| StudentId::parse(&format!("1158{i:06}")).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>>>()?;
    let extra_csrs: Vec<(StudentId, Vec<u8>)> =
        extra.iter().cloned().zip(make_csrs(&extra)?).collect();
    let in_memory = enroll_cost::in_memory(
        &lab,
        &extra_csrs,
        IN_MEMORY_ROUNDS,
        handin_core::pki::DEFAULT_STUDENT_LIFETIME,
    )?;
    let (record_cpu, record_wall) =
        enroll_cost::durable_record(&lab, &extra_csrs[..RECORD_ROUNDS])?;

    let mut latencies = latencies.into_inner().map_err(|_| "poisoned")?;
    latencies.sort();
    let failures = failures.into_inner().map_err(|_| "poisoned")?;
    let failed: u64 = failures.values().sum();
    let enrolled = latencies.len() as u64;

    // The server is stopped: read what the registrar recorded.
    let registrar = lab.pki.registrar().map_err(|e| e.0)?;
    let (mut recorded, mut missing, mut duplicated) = (0u64, 0u64, 0u64);
    for s in &students {
        match registrar.issued(&s.id).map_err(|e| e.to_string())?.len() {
            0 => missing += 1,
            1 => recorded += 1,
            _ => {
                recorded += 1;
                duplicated += 1;
            }
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let cuhk_us = if enrolled == 0 {
        0.0
    } else {
        us(cpu) / enrolled as f64
    };
    let in_memory_us = us(in_memory);
    Ok(serde_json::json!({
        "measurement": "enroll",
        "transport": o.transport,
        "students": o.students,
        "concurrency": o.concurrency,
        "seconds": elapsed.as_secs_f64(),
        "enrollments_per_sec": enrolled as f64 / elapsed.as_secs_f64(),
        "enrolled": enrolled,
        "failures": failed,
        "failure_kinds": failures,
        "first_failure": first_failure,
        "latency_ms_p50": ms(percentile(&latencies, 0.50)),
        "latency_ms_p99": ms(percentile(&latencies, 0.99)),
        "latency_ms_max": ms(latencies.last().copied().unwrap_or_default()),
        "server_cpu_us_per_enrollment": cuhk_us,
        "cuhk_cpu_us_per_enrollment": cuhk_us,
        "in_memory_us_per_enrollment": in_memory_us,
        "cpu_over_in_memory": cuhk_us / in_memory_us.max(f64::MIN_POSITIVE),
        "record_cpu_us_per_enrollment": us(record_cpu),
        "record_wall_us_per_enrollment": us(record_wall),
        "cpu_over_in_memory_plus_record":
            cuhk_us / (in_memory_us + us(record_cpu)).max(f64::MIN_POSITIVE),
        "server_peak_rss_kib": server_rss,
        "registrar_recorded": recorded,
        "registrar_missing": missing,
        "registrar_more_than_one": duplicated,
        "verified": failed == 0 && recorded == o.students as u64 && duplicated == 0,
    }))
}
