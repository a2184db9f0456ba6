//! What one enrollment necessarily costs CUHK, measured in this process for `loadgen enroll`:
//!
//! - [`in_memory`]: the server side of the enrollment protocol with no socket and no event
//!   loop: CUHK's own TLS configuration and [`EnrollServer`] (the handshake, the request, the
//!   CSR check the core does on it), its CA signing the certificate ([`Ca::issue_person`]), and
//!   sending it. Only the server's calls are counted, as `loadgen handshakes` does for a
//!   handshake, and in CPU time of this thread (the machine may be shared: wall time would count
//!   others' work too).
//! - [`durable_record`]: the registrar's durable record of one enrollment ([`Registrar::decide`]
//!   on CUHK's SQLite records, one application per transaction, the certificate signed
//!   beforehand), which the in-memory figure leaves out: its CPU time and its wall time (the
//!   fsync waits).

use super::{clock, Lab, Result};
use handin_core::pki::{Ca, StudentId};
use handin_core::{ClientConfig, EnrollClient, EnrollServer, EnrollServerEvent, Role};
use handin_services::registrar::{Application, Request};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Exchanges of flights before an in-memory enrollment is given up as stuck.
const MAX_STEPS: usize = 20;

/// CPU time the calling thread has used, at nanosecond resolution.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// The server's time per enrollment, in memory, over `rounds` enrollments of the students
/// with `csrs` (cycled; the core checks each CSR, nothing records it). `lifetime`: of the
/// certificates signed, as CUHK's `--lifetime`.
pub fn in_memory(
    lab: &Lab,
    csrs: &[(StudentId, Vec<u8>)],
    rounds: usize,
    lifetime: Duration,
) -> Result<Duration> {
    if csrs.is_empty() || rounds == 0 {
        return Err("no CSR to enroll in memory".into());
    }
    let server_config = Arc::new(lab.pki.server_config().map_err(|e| e.0)?);
    let ca: Ca = lab.pki.ca().map_err(|e| e.0)?;
    let chain_tail = ca.cert().clone();
    let mut spent = Duration::ZERO;
    for round in 0..rounds {
        let (id, csr) = &csrs[round % csrs.len()];
        let now = clock();
        // A fresh client configuration each time: no session to resume, as in the real run.
        let config =
            ClientConfig::new(Role::Enroll, lab.ca.clone(), None).map_err(|e| e.to_string())?;
        let name = handin_core::config::server_name("127.0.0.1").map_err(|e| e.to_string())?;
        let mut client = EnrollClient::new(&config, name, now).map_err(|e| e.to_string())?;
        let started = thread_cpu();
        let mut server =
            EnrollServer::new(server_config.clone(), now).map_err(|e| e.to_string())?;
        spent += thread_cpu().saturating_sub(started);
        let (mut c2s, mut s2c) = (Vec::new(), Vec::new());
        let (mut asked, mut issued) = (false, false);
        for _ in 0..MAX_STEPS {
            c2s.clear();
            client.poll_transmit(&mut c2s);
            s2c.clear();
            let started = thread_cpu();
            if !c2s.is_empty() {
                let _ = server.receive(now, &c2s);
            }
            while let Some(ev) = server.poll_event() {
                if let EnrollServerEvent::EnrollRequested { csr, .. } = ev {
                    let cert = ca
                        .issue_person(&csr, SystemTime::now(), lifetime)
                        .map_err(|e| e.to_string())?;
                    server
                        .issue(&[cert, chain_tail.clone()])
                        .map_err(|e| e.to_string())?;
                }
            }
            server.poll_transmit(&mut s2c);
            spent += thread_cpu().saturating_sub(started);
            if !s2c.is_empty() {
                let _ = client.receive(now, &s2c);
            }
            while let Some(ev) = client.poll_event() {
                match ev {
                    handin_core::EnrollClientEvent::Issued { .. } => issued = true,
                    handin_core::EnrollClientEvent::Refused(r) => {
                        return Err(format!(
                            "the in-memory enrollment was refused: {:?}",
                            r.code
                        ))
                    }
                    _ => {}
                }
            }
            if client.is_connected() && !asked {
                client
                    .enroll(id, "any code: the registrar is not asked", csr)
                    .map_err(|e| e.to_string())?;
                asked = true;
            }
            if issued {
                break;
            }
        }
        if !issued {
            return Err("the in-memory enrollment did not complete".into());
        }
    }
    Ok(spent / u32::try_from(rounds).unwrap_or(u32::MAX))
}

/// The registrar's durable record of one enrollment, one per transaction: (CPU, wall) time per
/// enrollment, over `students` students added to the lab's roster for it, their certificates
/// signed beforehand (not counted).
pub fn durable_record(
    lab: &Lab,
    students: &[(StudentId, Vec<u8>)],
) -> Result<(Duration, Duration)> {
    if students.is_empty() {
        return Err("no student to record".into());
    }
    let ca = lab.pki.ca().map_err(|e| e.0)?;
    let mut registrar = lab.pki.registrar().map_err(|e| e.0)?;
    let now = SystemTime::now();
    let mut applications = Vec::with_capacity(students.len());
    for (id, csr) in students {
        let code = registrar.add_student(id, now).map_err(|e| e.to_string())?;
        let checked = handin_core::pki::check_csr(csr, Some(id)).map_err(|e| e.to_string())?;
        let signed = ca
            .issue_person(&checked, now, handin_core::pki::DEFAULT_STUDENT_LIFETIME)
            .map_err(|e| e.to_string())?;
        applications.push(Application {
            person: id.clone().into(),
            request: Request::Enroll { code },
            now,
            signed: Some(signed),
        });
    }
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    for application in &applications {
        let decided = registrar
            .decide(std::slice::from_ref(application), |_| {
                Err(handin_core::pki::PkiError("signed beforehand".into()))
            })
            .map_err(|e| e.to_string())?;
        match decided.first() {
            Some(Ok(_)) => {}
            Some(Err(r)) => return Err(format!("recording an enrollment: {}", r.reason)),
            None => return Err("recording an enrollment: no outcome".into()),
        }
    }
    let n = u32::try_from(applications.len()).unwrap_or(u32::MAX);
    Ok(((thread_cpu() - cpu0) / n, wall0.elapsed() / n))
}
