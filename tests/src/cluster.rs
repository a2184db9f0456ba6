//! A deployment of several nodes on loopback, for the multi-node tests: one PostgreSQL server
//! (a `LocalPostgres` of the cluster's own, so that it may be stopped and restarted), CUHK
//! nodes each on a copy of the PKI directory, Blackboard nodes sharing one blob directory
//! (each with its own `--node` name and port), and HAProxy in front of the Blackboard nodes.
//!
//! HAProxy (the distribution's `haproxy`; a missing one fails the test with "install
//! haproxy") runs in TCP mode, passing TLS through untouched, round robin, with a TCP health
//! check every 500 ms that takes a dead node out after one failure, and `retries` with
//! `option redispatch` so that a connection to a dead node goes to another. Its configuration
//! is written to the campus's temporary directory.
//!
//! Every process is stopped when the [`Cluster`] is dropped, also when a test panics: the
//! servers by [`Server`]'s and [`HaProxy`]'s `Drop`, PostgreSQL by `LocalPostgres`'s (and by
//! its watcher process should the test process die).

use crate::{poll, Campus, Server};
use handin_services::store::postgres::local::LocalPostgres;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a process may take to start listening.
const START_WITHIN: Duration = Duration::from_secs(30);

/// A Blackboard node: its name, its fixed address, and its process while it runs.
#[derive(Debug)]
pub struct Node {
    /// Its `--node` name (its uploads in progress are in `BLOBS/tmp/<name>/`).
    pub name: String,
    /// The address it listens on (the same after a restart).
    pub addr: String,
    server: Option<Server>,
}

impl Node {
    /// The running server, if it runs.
    pub fn server(&self) -> Option<&Server> {
        self.server.as_ref()
    }
}

/// PostgreSQL, CUHK nodes, Blackboard nodes and HAProxy, all on loopback.
#[derive(Debug)]
pub struct Cluster {
    /// The campus: PKI, Blackboard's certificate, profiles; its records in [`Cluster::pg`].
    pub campus: Campus,
    /// The PostgreSQL server the nodes share.
    pub pg: Arc<LocalPostgres>,
    /// The CUHK nodes (`cuhk serve --db`), the first on the campus's PKI directory, the others
    /// on copies of it.
    pub cuhk: Vec<Server>,
    /// The PKI directory of each CUHK node.
    pub cuhk_dirs: Vec<PathBuf>,
    /// The Blackboard nodes.
    pub nodes: Vec<Node>,
    /// HAProxy in front of the Blackboard nodes.
    pub haproxy: HaProxy,
}

impl Cluster {
    /// Starts PostgreSQL, `cuhk_nodes` CUHK nodes and `bb_nodes` Blackboard nodes (named
    /// `n1`, `n2`, ...) behind HAProxy. The campus has CSCI3180/hw1, as [`Campus::new`] makes.
    pub fn start(cuhk_nodes: usize, bb_nodes: usize) -> Self {
        let haproxy_bin = haproxy_program();
        let pg = Arc::new(LocalPostgres::start().unwrap_or_else(|e| {
            panic!("cannot start PostgreSQL (apt-get install postgresql): {e}")
        }));
        let campus = Campus::on_postgres(pg.clone());
        let mut cuhk_dirs = vec![campus.pki()];
        for i in 2..=cuhk_nodes {
            let copy = campus.path(&format!("pki-{i}"));
            copy_dir(&campus.pki(), &copy);
            cuhk_dirs.push(copy);
        }
        let cuhk = cuhk_dirs
            .iter()
            .map(|dir| Server::start(cuhk_serve(&campus, dir, "127.0.0.1:0"), "cuhk"))
            .collect();
        let mut nodes: Vec<Node> = (1..=bb_nodes)
            .map(|i| Node {
                name: format!("n{i}"),
                addr: "127.0.0.1:0".into(),
                server: None,
            })
            .collect();
        for node in &mut nodes {
            let server = start_node(&campus, &node.name, &node.addr);
            node.addr = server.addr.clone();
            node.server = Some(server);
        }
        let backends: Vec<&str> = nodes.iter().map(|n| n.addr.as_str()).collect();
        let haproxy = HaProxy::start(&haproxy_bin, &campus.path("haproxy.cfg"), &backends);
        Self {
            campus,
            pg,
            cuhk,
            cuhk_dirs,
            nodes,
            haproxy,
        }
    }

    /// The shared blob directory.
    pub fn blobs(&self) -> PathBuf {
        self.campus.data()
    }

    /// The directory of node `i`'s uploads in progress (`BLOBS/tmp/<name>/`).
    pub fn node_tmp(&self, i: usize) -> PathBuf {
        self.blobs().join("tmp").join(&self.nodes[i].name)
    }

    /// The Blackboard database's URL.
    pub fn board_url(&self) -> String {
        self.postgres().board_url(&self.campus.data())
    }

    /// CUHK's database's URL.
    pub fn cuhk_url(&self) -> String {
        self.postgres().cuhk_url().to_owned()
    }

    fn postgres(&self) -> &crate::store::PgStores {
        self.campus
            .postgres()
            .expect("a cluster's campus keeps its records in PostgreSQL")
    }

    /// The addresses of every Blackboard node, in order.
    pub fn node_addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    /// The running server of node `i`.
    pub fn node(&self, i: usize) -> &Server {
        self.nodes[i]
            .server
            .as_ref()
            .unwrap_or_else(|| panic!("node {} is not running", self.nodes[i].name))
    }

    /// Kills node `i` with SIGKILL (a crash) and waits for it to end.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(server) = self.nodes[i].server.take() {
            server.kill();
        }
    }

    /// Starts node `i` again with the same `--node` name and address.
    pub fn restart_node(&mut self, i: usize) {
        assert!(
            self.nodes[i].server.is_none(),
            "node {} still runs",
            self.nodes[i].name
        );
        let server = start_node(&self.campus, &self.nodes[i].name, &self.nodes[i].addr);
        self.nodes[i].server = Some(server);
    }

    /// `cuhk SUB... --dir <CUHK node i's PKI directory> --db URL` (the caller adds the rest).
    pub fn cuhk_cmd(&self, i: usize, sub: &[&str]) -> Command {
        let mut c = crate::cmd("cuhk");
        c.args(sub)
            .arg("--dir")
            .arg(&self.cuhk_dirs[i])
            .arg("--db")
            .arg(self.cuhk_url());
        c
    }
}

/// `cuhk serve -v --dir DIR --db URL --listen ADDR`.
fn cuhk_serve(campus: &Campus, dir: &Path, listen: &str) -> Command {
    let url = campus
        .postgres()
        .expect("records in PostgreSQL")
        .cuhk_url()
        .to_owned();
    let mut c = crate::cmd("cuhk");
    c.args(["serve", "-v", "--dir"]).arg(dir).args([
        "--db",
        &url,
        "--listen",
        listen,
        "--transport",
        "mio",
    ]);
    c
}

/// Starts the Blackboard node `name` on `addr`; waits until it listens.
fn start_node(campus: &Campus, name: &str, addr: &str) -> Server {
    let mut c = campus.blackboard_serve(&campus.data());
    c.args(["--node", name, "--listen", addr, "--transport", "mio"]);
    // A restarted node takes its old port back; the kernel may hold it a moment longer.
    let mut tries = 0;
    loop {
        let server = Server::start_or_exit(clone_command(&c), "blackboard");
        match server {
            Ok(s) => return s,
            Err(log) if tries < 20 && log.contains("cannot listen") => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(log) => panic!("blackboard node {name} did not start: {log}"),
        }
    }
}

/// A copy of `c` (program, arguments and environment changes).
fn clone_command(c: &Command) -> Command {
    let mut copy = Command::new(c.get_program());
    copy.args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => copy.env(k, v),
            None => copy.env_remove(k),
        };
    }
    copy
}

/// Copies the files of `from` (and its subdirectories) into a new directory `to`, keeping
/// their permissions.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
    let mode = std::fs::metadata(from)
        .unwrap_or_else(|e| panic!("reading {}: {e}", from.display()))
        .permissions();
    std::fs::set_permissions(to, mode).expect("setting a directory's mode");
    for entry in std::fs::read_dir(from).expect("reading a directory") {
        let entry = entry.expect("a directory entry");
        let kind = entry.file_type().expect("an entry's type");
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copying {}: {e}", entry.path().display()));
        }
    }
}

/// A free loopback address (a port nobody listens on at this moment).
pub fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    let addr = l.local_addr().expect("its address").to_string();
    drop(l);
    addr
}

/// Waits until something accepts connections at `addr`; whether it did within `within`.
pub fn wait_for_port(addr: &str, within: Duration) -> bool {
    poll(within, Duration::from_millis(50), || {
        TcpStream::connect(addr).ok().map(drop)
    })
    .is_some()
}

/// The `haproxy` program, or a failure saying to install it.
fn haproxy_program() -> PathBuf {
    let bin = std::env::var_os("HANDIN_HAPROXY").map_or_else(|| "haproxy".into(), PathBuf::from);
    match Command::new(&bin).arg("-v").output() {
        Ok(out) if out.status.success() => bin,
        Ok(out) => panic!(
            "{} -v failed ({}): install haproxy (apt-get install haproxy)",
            bin.display(),
            out.status
        ),
        Err(e) => panic!(
            "cannot run {}: {e}; install haproxy (apt-get install haproxy)",
            bin.display()
        ),
    }
}

/// HAProxy in TCP mode in front of some backends; killed on drop.
#[derive(Debug)]
pub struct HaProxy {
    child: Child,
    /// The address it listens on.
    pub addr: String,
    log: Arc<Mutex<String>>,
}

impl HaProxy {
    /// Writes the configuration to `config` and starts `haproxy -f CONFIG -db` balancing over
    /// `backends`; waits until it accepts connections.
    pub fn start(program: &Path, config: &Path, backends: &[&str]) -> Self {
        let addr = free_addr();
        std::fs::write(config, haproxy_config(&addr, backends))
            .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
        let mut child = Command::new(program)
            .arg("-f")
            .arg(config)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting haproxy: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let sink = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut l) = sink.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        let mut proxy = Self { child, addr, log };
        if !wait_for_port(&proxy.addr, START_WITHIN) {
            let _ = proxy.child.kill();
            panic!("haproxy did not start listening: {}", proxy.log());
        }
        if let Ok(Some(status)) = proxy.child.try_wait() {
            panic!("haproxy ended ({status}): {}", proxy.log());
        }
        proxy
    }

    /// What HAProxy printed so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HAProxy's configuration: TLS passed through in TCP mode, round robin, a dead backend
/// taken out after one failed check (every 500 ms) and connections to it redispatched.
fn haproxy_config(listen: &str, backends: &[&str]) -> String {
    let mut cfg = format!(
        "global\n\
         \x20   maxconn 4096\n\
         defaults\n\
         \x20   mode tcp\n\
         \x20   timeout connect 1s\n\
         \x20   timeout client 120s\n\
         \x20   timeout server 120s\n\
         \x20   retries 3\n\
         \x20   option redispatch\n\
         listen blackboard\n\
         \x20   bind {listen}\n\
         \x20   balance roundrobin\n\
         \x20   option tcp-check\n"
    );
    for (i, b) in backends.iter().enumerate() {
        cfg.push_str(&format!(
            "    server n{} {b} check inter 500ms fall 1 rise 2\n",
            i + 1
        ));
    }
    cfg
}
