//! The load generator's common parts: a throw-away campus on disk, the real server processes
//! started from the binaries next to this one (or from a given directory), and readings from
//! `/proc`.

pub mod cluster;
pub mod collect;
pub mod enroll;
pub mod enroll_cost;
pub mod goals;
pub mod handshakes;
pub mod idle;
pub mod openssl;
pub mod references;
pub mod sources;
pub mod storm;
pub mod summarize;
pub mod upload;
pub mod web;

use handin_core::pki::{from_pem_or_der, new_student_key, StudentId};
use handin_core::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use handin_core::{Identity, Now};
use handin_services::cuhk::PkiDir;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A failure of the load generator, as one line.
pub type Result<T> = std::result::Result<T, String>;

/// Reads both clocks for a core connection: its timers run on the monotonic one, certificates
/// on the wall one.
pub fn clock() -> Now {
    Now::new(Instant::now(), SystemTime::now())
}

/// A campus in a temporary directory, removed on drop.
#[derive(Debug)]
pub struct Lab {
    /// The directory.
    pub dir: PathBuf,
    /// The PKI.
    pub pki: PkiDir,
    /// The CUHK root.
    pub ca: CertificateDer<'static>,
    /// The directory holding the `cuhk`, `blackboard` and `student` binaries.
    pub bins: PathBuf,
    /// The assignment's size limit.
    pub max_size: u64,
}

impl Lab {
    /// Creates the PKI, Blackboard's certificate and an assignment accepting `max_size` bytes;
    /// the servers will be started from the binaries next to this executable.
    pub fn new(max_size: u64) -> Result<Self> {
        Self::with_bins(max_size, None)
    }

    /// The same, with the servers started from the binaries in `bins` if given (a test runs
    /// the debug build this way), else from those next to this executable.
    pub fn with_bins(max_size: u64, bins: Option<&Path>) -> Result<Self> {
        let bins = match bins {
            Some(b) => b.to_path_buf(),
            None => own_dir()?,
        };
        // Several labs may exist in one process at once (tests), hence the counter.
        static LABS: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "handin-loadgen-{}-{}-{}",
            std::process::id(),
            handin_core::pki::unix_secs(SystemTime::now()),
            LABS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let pki = PkiDir::new(&dir.join("pki"));
        let now = SystemTime::now();
        pki.init(&["localhost".into(), "127.0.0.1".into()], now)
            .map_err(|e| e.0)?;
        pki.issue_server(
            "Blackboard",
            &["127.0.0.1".into()],
            &dir.join("bb.crt"),
            &dir.join("bb.key"),
            now,
        )
        .map_err(|e| e.0)?;
        let data = dir.join("data");
        handin_services::board::Board::init(&data).map_err(|e| e.to_string())?;
        let board =
            handin_services::board::Board::open_records(&data).map_err(|e| e.to_string())?;
        board
            .add_assignment(
                "LOAD",
                "hw1",
                now + Duration::from_secs(86_400),
                max_size.max(1),
            )
            .map_err(|e| e.to_string())?;
        let pem = std::fs::read(pki.ca_cert()).map_err(|e| e.to_string())?;
        let ca = CertificateDer::from(from_pem_or_der(&pem, "CERTIFICATE")?.remove(0));
        Ok(Self {
            dir,
            pki,
            ca,
            bins,
            max_size: max_size.max(1),
        })
    }

    /// The path of one of the binaries, checked to exist.
    pub fn bin(&self, name: &str) -> Result<PathBuf> {
        let path = self.bins.join(name);
        if path.exists() {
            Ok(path)
        } else if self.bins == own_dir()? {
            Err(format!(
                "{} not found: build it with `cargo build --release -p handin-cuhk -p handin-blackboard -p handin-student -p handin-staff`",
                path.display()
            ))
        } else {
            Err(format!("{} not found", path.display()))
        }
    }

    /// A student certificate and key issued directly by the CA (a pre-enrolled student).
    pub fn student(&self, ca: &handin_core::pki::Ca, id: &str) -> Result<Identity> {
        let id = StudentId::parse(id).map_err(|e| e.to_string())?;
        let key = new_student_key(&id).map_err(|e| e.to_string())?;
        let csr =
            handin_core::pki::check_csr(&key.csr_der, Some(&id)).map_err(|e| e.to_string())?;
        let cert = ca
            .issue_student(&csr, SystemTime::now(), Duration::from_secs(86_400))
            .map_err(|e| e.to_string())?;
        Ok(Identity {
            chain: vec![cert, self.ca.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.key_der)),
        })
    }

    /// Starts `blackboard serve` on a free loopback port.
    pub fn start_blackboard(&self, transport: &str) -> Result<Server> {
        let mut c = Command::new(self.bin("blackboard")?);
        c.args(["serve", "--data"]).arg(self.dir.join("data"));
        self.start_serving(c, transport)
    }

    /// Starts `blackboard serve` as the node `node` on the PostgreSQL database at `url`, the
    /// lab's data directory as the shared blob directory, on a free loopback port.
    pub fn start_blackboard_node(&self, transport: &str, url: &str, node: &str) -> Result<Server> {
        let mut c = Command::new(self.bin("blackboard")?);
        c.args(["serve", "--db", url, "--node", node, "--blobs"])
            .arg(self.dir.join("data"));
        self.start_serving(c, transport)
    }

    fn start_serving(&self, mut c: Command, transport: &str) -> Result<Server> {
        c.arg("--ca")
            .arg(self.pki.ca_cert())
            .arg("--cert")
            .arg(self.dir.join("bb.crt"))
            .arg("--key")
            .arg(self.dir.join("bb.key"))
            .arg("--crl")
            .arg(self.pki.crl())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--transport",
                transport,
                "--max-connections",
                "100000",
                // The idle measurement spreads its connections over 100 students: the limit
                // per student (4 by default) would turn most of them away.
                "--max-connections-per-student",
                "100000",
            ]);
        Server::start(c, "blackboard")
    }

    /// Starts `cuhk serve` on a free loopback port.
    pub fn start_cuhk(&self, transport: &str) -> Result<Server> {
        let mut c = Command::new(self.bin("cuhk")?);
        c.args(["serve", "--dir"]).arg(self.dir.join("pki")).args([
            "--listen",
            "127.0.0.1:0",
            "--transport",
            transport,
        ]);
        Server::start(c, "cuhk")
    }

    /// Blackboard's stored file for a submission id.
    pub fn stored(&self, id: &str) -> PathBuf {
        self.dir.join("data").join("files").join(id)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A server process, killed on drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: String,
}

impl Server {
    fn start(mut c: Command, what: &str) -> Result<Self> {
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|e| format!("starting {what}: {e}"))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        break rest
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned();
                    }
                }
                _ => return Err(format!("{what} did not start")),
            }
        };
        // Keep draining its stderr so it never blocks on a full pipe; pass on what says the
        // server is in trouble (warnings, errors, a panic or an abort), so a run that loses its
        // server says why.
        let name = what.to_owned();
        std::thread::spawn(move || {
            for line in lines.map_while(std::result::Result::ok) {
                let trouble = ["WARN", "ERROR", "panicked", "fatal", "overflow"];
                if trouble.iter().any(|t| line.contains(t)) {
                    eprintln!("{name}: {line}");
                }
            }
        });
        Ok(Self { child, addr })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The directory of this executable, where the release binaries sit next to `loadgen`.
fn own_dir() -> Result<PathBuf> {
    let me = std::env::current_exe().map_err(|e| format!("finding this executable: {e}"))?;
    me.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("{} has no directory", me.display()))
}

/// User plus system CPU time a process has used.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    stat_cpu(&format!("/proc/{pid}/stat"))
}

/// User plus system CPU time the calling thread has used.
pub fn thread_cpu_time() -> Result<Duration> {
    stat_cpu("/proc/thread-self/stat")
}

/// User plus system CPU time from a `/proc/.../stat` file.
fn stat_cpu(path: &str) -> Result<Duration> {
    let stat = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("bad /proc stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or("bad /proc stat")
    };
    let total = ticks(11)? + ticks(12)?;
    // The kernel reports in USER_HZ, 100 per second on Linux.
    Ok(Duration::from_millis(total * 10))
}

/// Peak resident memory of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM".into())
}

/// Raises this process's open-file limit as far as the hard limit allows (the servers started
/// afterwards inherit it); returns the limit now in force.
pub fn raise_nofile() -> u64 {
    // None: no limit at all.
    handin::net::raise_open_files().unwrap_or(u64::MAX)
}

/// Raises this process's open-file limit to at least `wanted` if it can (the servers started
/// afterwards inherit it): the soft limit up to the hard one, and, when the hard limit itself is
/// lower than `wanted`, the hard limit too where the process may (CAP_SYS_RESOURCE), never above
/// the kernel's `fs.nr_open`. Returns the soft limit now in force.
pub fn raise_nofile_for(wanted: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let now = getrlimit(Resource::Nofile);
    if let Some(hard) = higher_hard_limit(now.maximum, wanted, nr_open) {
        let raised = rustix::process::Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return hard;
        }
    }
    raise_nofile()
}

/// The hard open-file limit to ask for so that `wanted` files fit, if the present one
/// (`None`: unlimited) is too low: `wanted`, capped at the kernel's `nr_open` if known.
fn higher_hard_limit(hard: Option<u64>, wanted: u64, nr_open: Option<u64>) -> Option<u64> {
    let hard = hard?;
    let target = nr_open.map_or(wanted, |cap| wanted.min(cap));
    (target > hard).then_some(target)
}

/// Percentile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Writes a file of `size` pseudo-random bytes.
pub fn make_file(path: &Path, size: u64) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hard_file_limit_is_raised_only_when_too_low_and_never_past_nr_open() {
        // Unlimited, or already enough: nothing to ask for.
        assert_eq!(higher_hard_limit(None, 50_000, Some(1 << 20)), None);
        assert_eq!(higher_hard_limit(Some(65_536), 50_000, Some(1 << 20)), None);
        assert_eq!(higher_hard_limit(Some(50_000), 50_000, None), None);
        // Too low: what is wanted, capped by the kernel's ceiling.
        assert_eq!(
            higher_hard_limit(Some(20_000), 44_096, Some(1 << 20)),
            Some(44_096)
        );
        assert_eq!(higher_hard_limit(Some(20_000), 44_096, None), Some(44_096));
        assert_eq!(
            higher_hard_limit(Some(20_000), 2_000_000, Some(1 << 20)),
            Some(1 << 20)
        );
        // A ceiling below the present limit asks for nothing.
        assert_eq!(higher_hard_limit(Some(20_000), 44_096, Some(10_000)), None);
    }
}
