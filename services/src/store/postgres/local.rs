//! A throwaway PostgreSQL server for tests and the load generator ([`LocalPostgres`]): a new
//! cluster in a fresh directory under the temporary directory, listening only on a Unix socket
//! in that directory, with trust authentication for the user `handin`.
//!
//! Compiled for tests and with the `local-postgres` feature. It needs PostgreSQL's programs
//! (`initdb`, `pg_ctl`): from `HANDIN_PG_BIN`, else `pg_config --bindir`, else the newest
//! `/usr/lib/postgresql/*/bin`. PostgreSQL refuses to run as root: as root, the programs run as
//! the `postgres` system user (through `runuser`), which then owns the directory.
//!
//! The server is stopped and its directory removed when the value is dropped, and also, should
//! the process end without dropping it (a `static`, a crash), by a small watcher process that
//! waits for this process to end.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// A PostgreSQL server of its own, in a temporary directory. See the [module docs](self).
#[derive(Debug)]
pub struct LocalPostgres {
    /// The directory: the cluster in `data/`, the socket, the server's log in `log`.
    dir: PathBuf,
    /// Where `initdb` and `pg_ctl` are.
    bin: PathBuf,
    /// Run the programs as the `postgres` user (this process is root).
    as_postgres: bool,
    /// Serializes database creation.
    creating: Mutex<()>,
}

/// The user the cluster is made for.
const USER: &str = "handin";

impl LocalPostgres {
    /// Makes a new cluster and starts its server; waits until it accepts connections.
    pub fn start() -> io::Result<Self> {
        let bin = bin_dir()?;
        let as_postgres = rustix::process::geteuid().is_root();
        let dir = fresh_dir()?;
        let pg = Self {
            dir,
            bin,
            as_postgres,
            creating: Mutex::new(()),
        };
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(&pg.dir), "chown")?;
        }
        pg.watch_for_exit()?;
        let data = pg.data();
        pg.run_pg(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                USER.as_ref(),
                "--no-sync".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
            ],
        )?;
        pg.start_again()?;
        Ok(pg)
    }

    /// The cluster's directory (the socket's too).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of database `db` on this server, creating the database if it is missing. `db`
    /// is lower-case letters, digits and underscores.
    pub fn url(&self, db: &str) -> io::Result<String> {
        if db.is_empty()
            || !db
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(io::Error::other(format!(
                "{db:?} is not a database name here (a-z, 0-9, _)"
            )));
        }
        let _one_at_a_time = self
            .creating
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut client = postgres::Config::new()
            .user(USER)
            .dbname("postgres")
            .host_path(&self.dir)
            .connect_timeout(super::CONNECT_TIMEOUT)
            .connect(postgres::NoTls)
            .map_err(io::Error::other)?;
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
            .map_err(io::Error::other)?
            .is_some();
        if !exists {
            client
                .batch_execute(&format!("CREATE DATABASE {db}"))
                .map_err(io::Error::other)?;
        }
        Ok(format!(
            "postgres://{USER}@/{db}?host={}",
            self.dir.display()
        ))
    }

    /// Stops the server (fast: open transactions are rolled back, connections closed).
    pub fn stop(&self) -> io::Result<()> {
        let data = self.data();
        self.run_pg(
            "pg_ctl",
            &[
                "stop".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
            ],
        )
    }

    /// Starts the server of the existing cluster again (after [`stop`](Self::stop)); waits
    /// until it accepts connections. It keeps `fsync` on.
    pub fn start_again(&self) -> io::Result<()> {
        let data = self.data();
        let log = self.dir.join("log");
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories={} -c fsync=on",
            self.dir.display()
        );
        self.run_pg(
            "pg_ctl",
            &[
                "start".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
            ],
        )
    }

    /// Stops the server and starts it again.
    pub fn restart(&self) -> io::Result<()> {
        self.stop()?;
        self.start_again()
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Runs one of PostgreSQL's programs (as `postgres` if this process is root).
    fn run_pg(&self, program: &str, args: &[&std::ffi::OsStr]) -> io::Result<()> {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args);
        run(&mut cmd, program)
    }

    /// Starts the watcher that stops the server and removes the directory once this process
    /// has ended, whether or not the value was dropped.
    fn watch_for_exit(&self) -> io::Result<()> {
        let script = r#"
            while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
            if [ -d "$3/data" ]; then
                if [ "$4" = root ]; then
                    runuser -u postgres -- "$2" stop -D "$3/data" -m immediate
                else
                    "$2" stop -D "$3/data" -m immediate
                fi
            fi
            rm -rf "$3"
        "#;
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("watch-postgres")
            .arg(std::process::id().to_string())
            .arg(self.bin.join("pg_ctl"))
            .arg(&self.dir)
            .arg(if self.as_postgres { "root" } else { "user" })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(drop)
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            if let Err(e) = self.stop() {
                tracing::warn!(error = %e, "stopping the local PostgreSQL server");
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(error = %e, dir = %self.dir.display(), "removing the cluster");
        }
    }
}

/// Runs `cmd` to its end; an error holds what it printed.
fn run(cmd: &mut Command, name: &str) -> io::Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("running {name}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{name} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )))
}

/// Where PostgreSQL's server programs are.
fn bin_dir() -> io::Result<PathBuf> {
    let has_programs = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("HANDIN_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if has_programs(&dir) {
            Ok(dir)
        } else {
            Err(io::Error::other(format!(
                "HANDIN_PG_BIN={} holds no initdb and pg_ctl: install PostgreSQL \
                 (apt-get install postgresql) or correct it",
                dir.display()
            )))
        };
    }
    if let Ok(out) = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_programs(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| has_programs(d))
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d).ok_or_else(|| {
        io::Error::other(
            "PostgreSQL's server programs (initdb, pg_ctl) were not found: install PostgreSQL \
             (apt-get install postgresql), or set HANDIN_PG_BIN to their directory",
        )
    })
}

/// A new, empty directory with a short path (the socket's path must fit in 107 bytes):
/// under the temporary directory if its path is short, else under /tmp.
fn fresh_dir() -> io::Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let tmp = std::env::temp_dir();
    let base = if tmp.as_os_str().len() <= 40 {
        tmp
    } else {
        PathBuf::from("/tmp")
    };
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("hpg-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}
