//! A harness for end-to-end tests: builds the role binaries once, lays out a campus in a
//! temporary directory (PKI, Blackboard's certificate, an assignment), starts `cuhk serve` and
//! `blackboard serve` on ephemeral loopback ports, and runs `student` and `staff` commands
//! against them. The records are in SQLite, or in PostgreSQL when the test process asks for
//! it ([`store`]).

pub mod browser;
pub mod cluster;
pub mod held;
pub mod store;

use handin_core::rustls;
use handin_core::submit::{hex, sha256};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// The first student of the tests.
pub const ALICE: &str = "1155000001";
/// The second student of the tests.
pub const BOB: &str = "1155000002";
/// The teacher of the tests (a staff login).
pub const TEACHER: &str = "prof.lee";

/// Blackboard's documented handshake deadline.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// The directory holding the built binaries.
pub fn bin_dir() -> PathBuf {
    static BUILD: Once = Once::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-q",
                "-p",
                "handin-cuhk",
                "-p",
                "handin-blackboard",
                "-p",
                "handin-student",
                "-p",
                "handin-staff",
            ])
            .current_dir(&root)
            .status()
            .expect("cargo build runs");
        assert!(status.success(), "building the handin binaries failed");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("debug")
}

/// A command for one of the binaries.
pub fn cmd(name: &str) -> Command {
    Command::new(bin_dir().join(name))
}

/// A command for a client binary (`student`, `staff`), without the environment variables that
/// name the servers (`HANDIN_CUHK`, `HANDIN_BLACKBOARD`) or the profile (`HANDIN_HOME`), so
/// that only what a test passes counts.
pub fn client_cmd(name: &str) -> Command {
    let mut c = cmd(name);
    c.env_remove("HANDIN_CUHK")
        .env_remove("HANDIN_BLACKBOARD")
        .env_remove("HANDIN_HOME");
    c
}

/// Runs a command, returning its output.
pub fn run(mut c: Command) -> Output {
    c.stdin(Stdio::null());
    c.output().expect("the command starts")
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(c: Command) -> String {
    let desc = format!("{c:?}");
    let out = run(c);
    assert!(
        out.status.success(),
        "{desc} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail; returns its stderr.
pub fn fails(c: Command) -> String {
    let desc = format!("{c:?}");
    let out = run(c);
    assert!(
        !out.status.success(),
        "{desc} succeeded but should have failed:\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A server process whose stderr is collected, stopped with SIGTERM on drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// The address it listens on.
    pub addr: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `c` (a `serve` command with `--listen 127.0.0.1:0`) and waits for its address.
    pub fn start(c: Command, what: &str) -> Self {
        Self::start_or_exit(c, what).unwrap_or_else(|log| panic!("{what} did not start: {log}"))
    }

    /// Starts `c` and waits for its address; if it ends first (or says nothing for 30 s),
    /// returns what it logged.
    pub fn start_or_exit(mut c: Command, what: &str) -> Result<Self, String> {
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("the server starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let addr = addr
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(addr);
                }
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = log.lock().map(|l| l.clone()).unwrap_or_default();
                return Err(format!("{what}: {e}: {log}"));
            }
        };
        Ok(Self { child, addr, log })
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status();
    }

    /// Stops with SIGTERM and waits; returns whether it exited 0.
    pub fn stop(mut self) -> bool {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    return false;
                }
            }
        }
    }

    /// Kills with SIGKILL (a crash) and waits.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A campus laid out in a temporary directory.
#[derive(Debug)]
pub struct Campus {
    dir: tempfile::TempDir,
    /// Transport of the servers (`mio` or `smol`).
    pub server_transport: String,
    /// Transport of the student client.
    pub client_transport: String,
    /// The records in PostgreSQL (`None`: in SQLite files).
    pg: Option<store::PgStores>,
}

impl Campus {
    /// Inits the PKI, issues Blackboard's certificate, adds CSCI3180/hw1 due in a year. The
    /// records are in SQLite, or in PostgreSQL if this test process asks for it
    /// ([`store::postgres_wanted`]).
    pub fn new() -> Self {
        Self::with_transports("mio", "mio")
    }

    /// Same, with the given transports.
    pub fn with_transports(server: &str, client: &str) -> Self {
        let pg = store::postgres_wanted().then(store::shared_postgres);
        Self::build(server, client, pg)
    }

    /// A campus whose records are in databases of their own on `pg`, whatever the process
    /// asks for.
    pub fn on_postgres(pg: Arc<handin_services::store::postgres::local::LocalPostgres>) -> Self {
        Self::build("mio", "mio", Some(pg))
    }

    fn build(
        server: &str,
        client: &str,
        pg: Option<Arc<handin_services::store::postgres::local::LocalPostgres>>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let c = Self {
            dir,
            server_transport: server.into(),
            client_transport: client.into(),
            pg: pg.map(store::PgStores::new),
        };
        ok(c.cuhk(&["init"]));
        let mut issue = c.cuhk(&["issue-server"]);
        issue
            .args([
                "--name",
                "Blackboard",
                "--san",
                "localhost",
                "--san",
                "127.0.0.1",
                "--out-cert",
            ])
            .arg(c.path("bb.crt"))
            .arg("--out-key")
            .arg(c.path("bb.key"));
        ok(issue);
        c.init_data(&c.data());
        c.add_assignment("CSCI3180", "hw1", "2099-01-01T00:00:00Z", "2GiB");
        c
    }

    /// A path inside the campus directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The PKI directory.
    pub fn pki(&self) -> PathBuf {
        self.path("pki")
    }

    /// Blackboard's data directory (with PostgreSQL: its blob directory).
    pub fn data(&self) -> PathBuf {
        self.path("data")
    }

    /// The records in PostgreSQL, if they are there.
    pub fn postgres(&self) -> Option<&store::PgStores> {
        self.pg.as_ref()
    }

    /// Whether the records are in PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// The flags that name the Blackboard store of `data`: `--data DATA`, or with PostgreSQL
    /// `--db URL --blobs DATA`.
    pub fn store_args(&self, data: &Path) -> Vec<OsString> {
        match &self.pg {
            Some(pg) => pg.board_args(data),
            None => vec!["--data".into(), data.into()],
        }
    }

    /// Opens the Blackboard store of `data` as a server would (its lock taken, its uploads in
    /// progress removed), to look at it after the server stopped.
    pub fn reopen_board(
        &self,
        data: &Path,
    ) -> Result<handin_services::board::Board, handin_services::board::BoardError> {
        use handin_services::board::{default_node_name, Board, StoreLocation};
        match &self.pg {
            None => Board::open(data),
            Some(pg) => Board::open_at(
                &StoreLocation::Postgres {
                    url: pg.board_url(data),
                    blobs: data.to_path_buf(),
                },
                &default_node_name(),
            ),
        }
    }

    /// Where a server on `data` keeps its uploads in progress: `DATA/tmp/`, with PostgreSQL
    /// `DATA/tmp/<node>/` (the default node name, which the campus's servers use).
    pub fn uploads_dir(&self, data: &Path) -> PathBuf {
        match &self.pg {
            None => data.join("tmp"),
            Some(_) => data
                .join("tmp")
                .join(handin_services::board::default_node_name()),
        }
    }

    /// `blackboard A B <the store of data()> REST...` for `args = [A, B, REST...]` (an
    /// operator's command such as `course add`).
    pub fn blackboard_admin(&self, args: &[&str]) -> Command {
        let mut c = cmd("blackboard");
        let (head, rest) = args.split_at(args.len().min(2));
        c.args(head).args(self.store_args(&self.data())).args(rest);
        c
    }

    /// The flags that name CUHK's PKI directory and records: `--dir PKI`, with PostgreSQL
    /// also `--db URL`.
    pub fn cuhk_args(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec!["--dir".into(), self.pki().into()];
        if let Some(pg) = &self.pg {
            v.extend(["--db".into(), pg.cuhk_url().into()]);
        }
        v
    }

    /// `cuhk SUB... --dir PKI [--db URL]` (the caller adds the rest).
    pub fn cuhk(&self, sub: &[&str]) -> Command {
        let mut c = cmd("cuhk");
        c.args(sub).args(self.cuhk_args());
        c
    }

    /// Makes a Blackboard store on `data` (`blackboard init`).
    pub fn init_data(&self, data: &Path) {
        let mut c = cmd("blackboard");
        c.arg("init").args(self.store_args(data));
        ok(c);
    }

    /// Adds an assignment.
    pub fn add_assignment(&self, course: &str, assignment: &str, due: &str, max: &str) {
        ok(self.blackboard_admin(&[
            "assignment",
            "add",
            course,
            assignment,
            "--due",
            due,
            "--max-size",
            max,
        ]));
    }

    /// Puts a student on the roster; returns the code.
    pub fn roster_add(&self, id: &str) -> String {
        let mut c = self.cuhk(&["roster", "add"]);
        c.arg(id);
        ok(c).trim().to_owned()
    }

    /// Puts a teacher's staff login on the roster (`cuhk roster add --staff`); returns the code.
    pub fn roster_add_staff(&self, login: &str) -> String {
        let mut c = self.cuhk(&["roster", "add"]);
        c.args(["--staff", login]);
        ok(c).trim().to_owned()
    }

    /// Starts `cuhk serve`.
    pub fn start_cuhk(&self) -> Server {
        let mut c = self.cuhk(&["serve", "-v"]);
        c.args([
            "--listen",
            "127.0.0.1:0",
            "--transport",
            &self.server_transport,
        ]);
        Server::start(c, "cuhk")
    }

    /// `blackboard serve -v` on `data` with the campus's CA, certificate, key and CRL; the
    /// caller adds the rest (address, transport, limits).
    pub fn blackboard_serve(&self, data: &Path) -> Command {
        let mut c = cmd("blackboard");
        c.args(["serve", "-v"])
            .args(self.store_args(data))
            .arg("--ca")
            .arg(self.pki().join("ca.crt"))
            .arg("--cert")
            .arg(self.path("bb.crt"))
            .arg("--key")
            .arg(self.path("bb.key"))
            .arg("--crl")
            .arg(self.pki().join("crl.pem"));
        c
    }

    /// Starts `blackboard serve` with the CRL.
    pub fn start_blackboard(&self) -> Server {
        let mut c = self.blackboard_serve(&self.data());
        c.args([
            "--listen",
            "127.0.0.1:0",
            "--transport",
            &self.server_transport,
        ]);
        Server::start(c, "blackboard")
    }

    /// The profile directory of a student.
    pub fn profile(&self, id: &str) -> PathBuf {
        self.path(&format!("profile-{id}"))
    }

    /// A `student` command for `id`'s profile, with the client transport set (and none of the
    /// environment variables that name servers: the tests name them).
    pub fn student(&self, id: &str, args: &[&str]) -> Command {
        let mut c = client_cmd("student");
        c.arg("--profile").arg(self.profile(id));
        if let Some((sub, rest)) = args.split_first() {
            c.arg(sub)
                .args(["--transport", &self.client_transport])
                .args(rest);
        }
        c
    }

    /// A `staff` command for `id`'s profile (the same profile as `student`'s for that ID), with
    /// the client transport set.
    pub fn staff(&self, id: &str, args: &[&str]) -> Command {
        let mut c = client_cmd("staff");
        c.arg("--profile").arg(self.profile(id));
        if let Some((sub, rest)) = args.split_first() {
            c.arg(sub)
                .args(["--transport", &self.client_transport])
                .args(rest);
        }
        c
    }

    /// `staff enroll --id ID --code CODE --cuhk ADDR --ca CA` for `id`'s profile, without
    /// asserting the outcome.
    pub fn staff_enroll_cmd(&self, cuhk: &Server, id: &str, code: &str) -> Command {
        let mut c = self.staff(
            id,
            &[
                "enroll", "--id", id, "--code", code, "--cuhk", &cuhk.addr, "--ca",
            ],
        );
        c.arg(self.pki().join("ca.crt"));
        c
    }

    /// Rosters the staff login `login` and enrolls it at `cuhk` with `staff enroll`.
    pub fn enroll_staff(&self, cuhk: &Server, login: &str) {
        let code = self.roster_add_staff(login);
        ok(self.staff_enroll_cmd(cuhk, login, &code));
    }

    /// Rosters and enrolls `id` at `cuhk`.
    pub fn enroll(&self, cuhk: &Server, id: &str) {
        let code = self.roster_add(id);
        let ca = self.pki().join("ca.crt");
        let mut c = self.student(
            id,
            &[
                "enroll", "--id", id, "--code", &code, "--cuhk", &cuhk.addr, "--ca",
            ],
        );
        c.arg(ca);
        ok(c);
    }

    /// Submits `file` as `id`; returns the parsed `--json` output.
    pub fn submit(
        &self,
        bb: &Server,
        id: &str,
        file: &Path,
        assignment: &str,
    ) -> serde_json::Value {
        let mut c = self.student(id, &["submit"]);
        c.arg(file).args([
            "--course",
            "CSCI3180",
            "--assignment",
            assignment,
            "--blackboard",
            &bb.addr,
            "--json",
        ]);
        serde_json::from_str(&ok(c)).expect("submit --json prints JSON")
    }

    /// Lists as `id`; returns the parsed `--json` array.
    pub fn list(&self, bb: &Server, id: &str) -> Vec<serde_json::Value> {
        let c = self.student(id, &["list", "--blackboard", &bb.addr, "--json"]);
        match serde_json::from_str(&ok(c)).expect("list --json prints JSON") {
            serde_json::Value::Array(v) => v,
            other => panic!("list printed {other}"),
        }
    }

    /// `student verify-receipt RECEIPT --blackboard-cert CERT` with `id`'s profile (its CUHK
    /// root and pinned Blackboard certificate).
    pub fn verify_receipt(&self, id: &str, receipt: &Path, cert: &Path) -> Command {
        let mut c = cmd("student");
        c.arg("--profile")
            .arg(self.profile(id))
            .arg("verify-receipt")
            .arg(receipt)
            .arg("--blackboard-cert")
            .arg(cert);
        c
    }

    /// Fetches `sub` as `id` into `out`.
    pub fn fetch(&self, bb: &Server, id: &str, sub: &str, out: &Path) -> Output {
        let mut c = self.student(id, &["fetch", sub, "--blackboard", &bb.addr, "--out"]);
        c.arg(out);
        run(c)
    }
}

impl Default for Campus {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes `size` bytes of a deterministic pattern to `path`.
pub fn write_pattern(path: &Path, size: usize, seed: u8) {
    let data: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    std::fs::write(path, data).expect("writing a test file");
}

/// Whether the `openssl` command line is available.
pub fn have_openssl() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `student submit FILE --json` as `id` to CSCI3180/hw1, without asserting the outcome.
pub fn submit_cmd(campus: &Campus, bb: &Server, id: &str, file: &Path) -> Command {
    let mut c = campus.student(id, &["submit"]);
    c.arg(file).args([
        "--course",
        "CSCI3180",
        "--assignment",
        "hw1",
        "--blackboard",
        &bb.addr,
        "--json",
    ]);
    c
}

/// What a process wrote to stderr, as text.
pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What a process wrote to stdout, as text.
pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha256(bytes))
}

/// Calls `attempt` every `every` until it returns `Some`, or `within` has passed.
pub fn poll<T>(
    within: Duration,
    every: Duration,
    mut attempt: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = attempt() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// The names in a directory (empty if it does not exist).
pub fn names_in(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The uploads in progress in a `tmp/` directory: its entries but the server's lock file (a
/// node of several keeps its lock in its own `tmp/<node>/`).
pub fn uploads_in(dir: &Path) -> Vec<String> {
    let mut names = names_in(dir);
    names.retain(|n| n != "server.lock");
    names
}

/// A whole, genuine TLS 1.3 ClientHello, as a real client would send it.
pub fn client_hello() -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3 is supported")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a server name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("a TLS client");
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).expect("the ClientHello");
    }
    assert_eq!(hello[0], 0x16, "a handshake record");
    assert!(hello.len() > 100, "a whole ClientHello");
    hello
}

/// What a receipt promised.
#[derive(Debug)]
pub struct Receipted {
    /// The submission id.
    pub id: String,
    /// The SHA-256 of the submitted bytes, in hex.
    pub sha256: String,
    /// The number of submitted bytes.
    pub size: u64,
    /// Where the student stored the receipt.
    pub receipt: PathBuf,
    /// The file that was submitted.
    pub original: PathBuf,
}

impl Receipted {
    /// From the JSON that `student submit --json` printed for `original`.
    pub fn from_json(v: &serde_json::Value, original: &Path) -> Self {
        Self {
            id: v["id"].as_str().expect("id").to_owned(),
            sha256: v["sha256"].as_str().expect("sha256").to_owned(),
            size: v["size"].as_u64().expect("size"),
            receipt: PathBuf::from(v["receipt"].as_str().expect("receipt path")),
            original: original.to_owned(),
        }
    }

    /// From the output of a successful `student submit --json` of `original`.
    pub fn from_output(out: &Output, original: &Path) -> Self {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("submit --json printed {:?}: {e}", stdout_of(out)));
        Self::from_json(&v, original)
    }
}

/// The original still has the receipt's hash, and the submission fetches back byte-identical.
pub fn assert_fetches_back(campus: &Campus, bb: &Server, id: &str, r: &Receipted) {
    let original = std::fs::read(&r.original).expect("original");
    assert_eq!(r.sha256, sha256_hex(&original), "the receipt's hash");
    let back = campus.path(&format!("back-{}", r.id));
    let out = campus.fetch(bb, id, &r.id, &back);
    assert!(out.status.success(), "fetch {}: {}", r.id, stderr_of(&out));
    let fetched = std::fs::read(&back).expect("fetched file");
    assert!(
        fetched == original,
        "{} came back different ({} bytes, expected {})",
        r.id,
        fetched.len(),
        original.len()
    );
    let _ = std::fs::remove_file(back);
}
