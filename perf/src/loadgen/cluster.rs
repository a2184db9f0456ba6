//! The servers a storm runs against: one Blackboard on its embedded SQLite database (the
//! default), or several Blackboard nodes sharing one PostgreSQL database, started for the run
//! from the distribution's PostgreSQL (fsync and synchronous commit on, as in production), and
//! the lab's data directory as their shared blob directory. The clients spread over the nodes
//! in turn, as a list of addresses or round-robin DNS would spread them.
//!
//! Server CPU is what every server process used: the Blackboard nodes, and for PostgreSQL the
//! postmaster and every backend (those still running and those that ended), read from
//! `/proc`, so that the two set-ups are charged for all of their work.

use super::{cpu_time, Lab, Result, Server};
use handin_services::board::{Board, StoreLocation};
use handin_services::store::postgres::local::LocalPostgres;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// Where the records are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite database (one node).
    Sqlite,
    /// A PostgreSQL server shared by the nodes.
    Postgres,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(format!("--db {s:?}: give sqlite or postgres")),
        }
    }
}

impl Backend {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The running servers.
#[derive(Debug)]
pub struct Servers {
    /// The Blackboard nodes.
    pub nodes: Vec<Server>,
    /// The database server, for PostgreSQL. Declared after the nodes: they stop first.
    pg: Option<LocalPostgres>,
}

impl Servers {
    /// Starts `nodes` Blackboard nodes over `backend` (SQLite: exactly one).
    pub fn start(lab: &Lab, transport: &str, backend: Backend, nodes: usize) -> Result<Self> {
        match backend {
            Backend::Sqlite => {
                if nodes != 1 {
                    return Err("--nodes above 1 needs --db postgres".into());
                }
                Ok(Self {
                    nodes: vec![lab.start_blackboard(transport)?],
                    pg: None,
                })
            }
            Backend::Postgres => {
                let pg = LocalPostgres::start().map_err(|e| format!("PostgreSQL: {e}"))?;
                let url = pg
                    .url("blackboard")
                    .map_err(|e| format!("PostgreSQL: {e}"))?;
                let location = StoreLocation::Postgres {
                    url: url.clone(),
                    blobs: lab.dir.join("data"),
                };
                Board::init_at(&location).map_err(|e| e.to_string())?;
                Board::open_records_at(&location)
                    .and_then(|b| {
                        b.add_assignment(
                            "LOAD",
                            "hw1",
                            SystemTime::now() + Duration::from_secs(86_400),
                            lab.max_size,
                        )
                    })
                    .map_err(|e| e.to_string())?;
                let nodes = (0..nodes.max(1))
                    .map(|i| lab.start_blackboard_node(transport, &url, &format!("node{i}")))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Self {
                    nodes,
                    pg: Some(pg),
                })
            }
        }
    }

    /// Where the nodes listen.
    pub fn addrs(&self) -> Result<Vec<SocketAddr>> {
        self.nodes
            .iter()
            .map(|n| handin::net::resolve(&n.addr).map_err(|e| e.to_string()))
            .collect()
    }

    /// CPU time used so far by the nodes, and by the database server (zero for SQLite, which
    /// works inside the nodes).
    pub fn cpu(&self) -> Result<(Duration, Duration)> {
        let mut nodes = Duration::ZERO;
        for n in &self.nodes {
            nodes += cpu_time(n.pid())?;
        }
        let db = match &self.pg {
            Some(pg) => tree_cpu(postmaster_pid(pg)?)?,
            None => Duration::ZERO,
        };
        Ok((nodes, db))
    }
}

/// The postmaster's process id, from the first line of `postmaster.pid` in the cluster's
/// data directory.
fn postmaster_pid(pg: &LocalPostgres) -> Result<u32> {
    let path = pg.dir().join("data").join("postmaster.pid");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("{} names no process", path.display()))
}

/// CPU time of `root` and its children, those that ended included (the kernel adds a waited-for
/// child's time to its parent's).
fn tree_cpu(root: u32) -> Result<Duration> {
    let mut total = stat_fields(root)?.iter().sum::<u64>();
    let dirs = std::fs::read_dir("/proc").map_err(|e| e.to_string())?;
    for entry in dirs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if parent_of(pid) == Some(root) {
            // A child may end while it is read: it is then counted in its parent's.
            if let Ok(f) = stat_fields(pid) {
                total += f.iter().sum::<u64>();
            }
        }
    }
    Ok(Duration::from_millis(total * 10))
}

/// utime, stime, cutime and cstime of a process, in ticks (100 a second).
fn stat_fields(pid: u32) -> Result<[u64; 4]> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("bad /proc stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok([tick(11), tick(12), tick(13), tick(14)])
}

/// A process's parent.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(1)?.parse().ok()
}
