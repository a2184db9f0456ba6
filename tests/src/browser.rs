//! A real headless Chromium for the web tests, holding a CUHK client certificate.
//!
//! How a browser is set up ([`Browser::launch`]):
//!
//! 1. A temporary HOME with an NSS database at `$HOME/.pki/nssdb` (`certutil -N
//!    --empty-password`), where Chromium on Linux keeps its certificates and keys: the CUHK root
//!    is trusted for TLS servers (`certutil -A -t "C,,"`), then the person's PKCS#12 file (from
//!    `student export-p12`) is imported (`pk12util -i`).
//! 2. A Chromium managed policy, `/etc/chromium/policies/managed/handin-test-<unique>.json`
//!    (removed when the [`Browser`] is dropped), with `AutoSelectCertificateForUrls` choosing,
//!    for the site under test, the certificate issued by the CUHK root (`CN=CUHK Root CA`, what
//!    `cuhk init` puts in the root's subject): the handshake then completes without the dialog a
//!    person would click through.
//! 3. `chromedriver` on a free loopback port, with that HOME in its environment (Chromium inherits
//!    it), and one headless session (`--headless=new --no-sandbox ...`, a fresh
//!    `--user-data-dir`, downloads into the given directory without asking).
//!
//! The tests drive it through a small WebDriver (W3C) client over HTTP and JSON ([`Browser`],
//! [`Element`]). Dropping the [`Browser`] ends the session, kills chromedriver and whatever it
//! started (its own process group), and removes the policy file and the temporary HOME.
//!
//! It needs `chromium`, `chromedriver`, `certutil` and `pk12util` (Debian: `apt-get install
//! chromium chromium-driver libnss3-tools`, as `.ci/run` does) and a writable policy directory
//! (root). A test calls [`available_or_skip`] first: without them it says SKIPPED on stderr and
//! returns, except under `CI=true`, where it fails.

use serde_json::{json, Value};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where Chromium reads machine-wide managed policies on Linux.
pub const POLICY_DIR: &str = "/etc/chromium/policies/managed";

/// The common name of the CUHK root, which `cuhk init` makes: the issuer the policy selects
/// client certificates by.
pub const ROOT_CN: &str = "CUHK Root CA";

/// The key W3C WebDriver gives an element reference under.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long one WebDriver command may take (a page load included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether a browser can be launched here: chromium, chromedriver, certutil and pk12util on
/// PATH, and the policy directory writable (it is created if missing). The error says what is
/// missing.
pub fn available() -> Result<(), String> {
    let missing: Vec<&str> = ["chromedriver", "certutil", "pk12util"]
        .into_iter()
        .filter(|t| on_path(t).is_none())
        .collect();
    let mut problems = Vec::new();
    if chromium_binary().is_none() {
        problems.push("chromium is not on PATH".to_owned());
    }
    if !missing.is_empty() {
        problems.push(format!("{} not on PATH", missing.join(", ")));
    }
    if let Err(e) = policy_dir_writable() {
        problems.push(e);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} (Debian: apt-get install chromium chromium-driver libnss3-tools, as root)",
            problems.join("; ")
        ))
    }
}

/// What a browser test calls first: `true` if a browser can run. If not, under `CI=true` the
/// test fails (CI installs the browser); elsewhere it prints a loud SKIPPED line on stderr and
/// the test should return.
pub fn available_or_skip(test: &str) -> bool {
    match available() {
        Ok(()) => true,
        Err(why) => {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "{test}: no browser under CI: {why}"
            );
            eprintln!("\n!!!!! SKIPPED: {test}: no browser here: {why} !!!!!\n");
            false
        }
    }
}

fn policy_dir_writable() -> Result<(), String> {
    let dir = Path::new(POLICY_DIR);
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the policy directory {POLICY_DIR}: {e}"))?;
    let probe = dir.join(format!(".handin-probe-{}", std::process::id()));
    std::fs::write(&probe, b"{}")
        .map_err(|e| format!("the policy directory {POLICY_DIR} is not writable: {e}"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The first executable called `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn chromium_binary() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(on_path)
}

/// Runs a setup command; its failure, with its output, as the error.
fn setup(mut c: Command, what: &str) -> Result<(), String> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", c.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A free TCP port on loopback (free when asked: chromedriver binds it right after).
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// The managed policy file of one browser, removed on drop.
#[derive(Debug)]
struct Policy(PathBuf);

impl Policy {
    fn write(origin: &str) -> Result<Self, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        policy_dir_writable()?;
        let path = Path::new(POLICY_DIR).join(format!(
            "handin-test-{}-{}.json",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let rule = json!({"pattern": origin, "filter": {"ISSUER": {"CN": ROOT_CN}}});
        let policy = json!({
            "AutoSelectCertificateForUrls": [rule.to_string()],
            // Several tests' files may name this policy at once: merge their lists.
            "PolicyListMultipleSourceMergeList": ["AutoSelectCertificateForUrls"],
        });
        std::fs::write(&path, policy.to_string())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for Policy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// chromedriver, in its own process group with the browser it starts; killed on drop.
#[derive(Debug)]
struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group is chromedriver's pid (process_group(0)): Chromium and its helpers too.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session driven through chromedriver.
#[derive(Debug)]
pub struct Browser {
    agent: ureq::Agent,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    // Held for their drops, in this order: the driver (and the browser), the policy, then
    // the HOME.
    _driver: Driver,
    _policy: Policy,
    home: tempfile::TempDir,
}

impl Browser {
    /// Launches a browser holding the certificate and key of `p12` (opened with `password`),
    /// trusting the root `ca_cert` for servers, choosing that certificate by itself for
    /// `origin` (`https://127.0.0.1:PORT`), and saving downloads into `download_dir`.
    pub fn launch(
        p12: &Path,
        password: &str,
        ca_cert: &Path,
        origin: &str,
        download_dir: &Path,
    ) -> Result<Browser, String> {
        Self::start(Some((p12, password)), ca_cert, origin, download_dir)
    }

    /// The same browser without any client certificate: for checking that a site refuses it.
    pub fn launch_without_certificate(
        ca_cert: &Path,
        origin: &str,
        download_dir: &Path,
    ) -> Result<Browser, String> {
        Self::start(None, ca_cert, origin, download_dir)
    }

    fn start(
        identity: Option<(&Path, &str)>,
        ca_cert: &Path,
        origin: &str,
        download_dir: &Path,
    ) -> Result<Browser, String> {
        available()?;
        let home = tempfile::tempdir().map_err(|e| format!("temporary HOME: {e}"))?;
        let db = home.path().join(".pki/nssdb");
        std::fs::create_dir_all(&db).map_err(|e| format!("{}: {e}", db.display()))?;
        let sql = format!("sql:{}", db.display());
        let mut c = Command::new("certutil");
        c.args(["-N", "--empty-password", "-d", &sql]);
        setup(c, "creating the NSS database")?;
        let mut c = Command::new("certutil");
        c.args(["-A", "-t", "C,,", "-n", ROOT_CN, "-d", &sql, "-i"])
            .arg(ca_cert);
        setup(c, "trusting the CUHK root")?;
        if let Some((p12, password)) = identity {
            let pw = home.path().join("p12-password");
            std::fs::write(&pw, password).map_err(|e| format!("{}: {e}", pw.display()))?;
            let mut c = Command::new("pk12util");
            c.arg("-i").arg(p12).args(["-d", &sql, "-w"]).arg(&pw);
            setup(c, "importing the PKCS#12 file")?;
        }
        let policy = Policy::write(origin)?;

        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(COMMAND_TIMEOUT))
            .build()
            .into();
        let port = free_port()?;
        let log = home.path().join("chromedriver.log");
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .env("HOME", home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start chromedriver: {e}"))?;
        let driver = Driver { child };
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&agent, &base)?;

        let binary = chromium_binary().ok_or("chromium is not on PATH")?;
        let profile = home.path().join("chromium-profile");
        let capabilities = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                // A page that never loads (a certificate dialog nobody answers) fails in time.
                "timeouts": {"pageLoad": 30_000, "script": 30_000, "implicit": 0},
                "goog:chromeOptions": {
                    "binary": binary.display().to_string(),
                    "args": [
                        "--headless=new",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-quic",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--disable-dev-shm-usage",
                        // A laptop's window: what the screenshots show.
                        "--window-size=1100,900",
                        format!("--user-data-dir={}", profile.display()),
                    ],
                    "prefs": {
                        "download.default_directory": download_dir.display().to_string(),
                        "download.prompt_for_download": false,
                    },
                },
            }},
        });
        let created = command(
            &agent,
            "POST",
            &format!("{base}/session"),
            Some(&capabilities),
        )
        .map_err(|e| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            format!("starting a Chromium session: {e}\nthe end of chromedriver's log:\n{tail}")
        })?;
        let id = created["sessionId"]
            .as_str()
            .ok_or_else(|| format!("chromedriver answered no session id: {created}"))?;
        Ok(Browser {
            agent,
            session: format!("{base}/session/{id}"),
            _driver: driver,
            _policy: policy,
            home,
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        command(
            &self.agent,
            method,
            &format!("{}{path}", self.session),
            body,
        )
    }

    /// Opens `url` and waits for the page to load. A page that fails to load (a refused TLS
    /// handshake, say) may be an error here or an error page, as Chromium decides.
    pub fn goto(&self, url: &str) -> Result<(), String> {
        self.call("POST", "/url", Some(&json!({ "url": url })))
            .map(|_| ())
    }

    /// The URL of the page shown.
    pub fn current_url(&self) -> Result<String, String> {
        let v = self.call("GET", "/url", None)?;
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the current URL is not a string: {v}"))
    }

    /// The page's HTML as the browser holds it now.
    pub fn page_source(&self) -> Result<String, String> {
        let v = self.call("GET", "/source", None)?;
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the page source is not a string: {v}"))
    }

    /// The first element matching the CSS selector `css`.
    pub fn find(&self, css: &str) -> Result<Element<'_>, String> {
        let v = self.call(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        self.element(&v)
            .map_err(|e| format!("finding {css:?}: {e}"))
    }

    /// Every element matching `css`, in document order (none is not an error).
    pub fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>, String> {
        let v = self.call(
            "POST",
            "/elements",
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        v.as_array()
            .ok_or_else(|| format!("finding {css:?}: not a list: {v}"))?
            .iter()
            .map(|e| self.element(e))
            .collect()
    }

    /// Waits up to `timeout` for an element matching `css` to appear.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element<'_>, String> {
        let start = Instant::now();
        loop {
            match self.find(css) {
                Ok(e) => return Ok(e),
                Err(e) if start.elapsed() >= timeout => {
                    return Err(format!("no {css:?} after {timeout:?}: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Waits up to `timeout` for an element matching `css` whose text contains `wanted`, and
    /// returns its text. An element of the page being left (stale) is looked for again, so
    /// that a message on the page before a form was sent is never taken for the answer to it.
    pub fn wait_for_text(
        &self,
        css: &str,
        wanted: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        let start = Instant::now();
        loop {
            let seen = self.find(css).and_then(|e| e.text());
            match seen {
                Ok(text) if text.contains(wanted) => return Ok(text),
                seen if start.elapsed() >= timeout => {
                    return Err(format!(
                        "no {css:?} saying {wanted:?} after {timeout:?}: last {seen:?}"
                    ))
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page and returns what
    /// it returns. For reading the page's state: the tests act through elements, as people do.
    pub fn execute(&self, script: &str, args: &[Value]) -> Result<Value, String> {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": args})),
        )
    }

    /// Saves a screenshot of the page as a PNG file at `path`.
    pub fn screenshot_png(&self, path: &Path) -> Result<(), String> {
        let v = self.call("GET", "/screenshot", None)?;
        let b64 = v
            .as_str()
            .ok_or_else(|| format!("the screenshot is not a string: {v}"))?;
        let png = data_encoding::BASE64
            .decode(b64.as_bytes())
            .map_err(|e| format!("the screenshot is not base64: {e}"))?;
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The temporary HOME the browser runs with (its NSS database is in `.pki/nssdb`).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    fn element(&self, v: &Value) -> Result<Element<'_>, String> {
        let id = v[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| format!("not an element reference: {v}"))?;
        Ok(Element {
            browser: self,
            id: id.to_owned(),
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (Chromium quits); the driver's drop kills what is left.
        let _ = self.call("DELETE", "", None);
    }
}

/// An element of the page a [`Browser`] shows.
#[derive(Debug)]
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    fn call(&self, method: &str, what: &str, body: Option<&Value>) -> Result<Value, String> {
        self.browser
            .call(method, &format!("/element/{}{what}", self.id), body)
    }

    /// Clicks it (a link, a button, a checkbox).
    pub fn click(&self) -> Result<(), String> {
        self.call("POST", "/click", Some(&json!({}))).map(|_| ())
    }

    /// Types `text` into it; for a file input, `text` is the path of the file to choose.
    pub fn send_keys(&self, text: &str) -> Result<(), String> {
        self.call("POST", "/value", Some(&json!({ "text": text })))
            .map(|_| ())
    }

    /// Its rendered text.
    pub fn text(&self) -> Result<String, String> {
        let v = self.call("GET", "/text", None)?;
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the text is not a string: {v}"))
    }

    /// The value of its attribute `name`, if it has one.
    pub fn attribute(&self, name: &str) -> Result<Option<String>, String> {
        let v = self.call("GET", &format!("/attribute/{name}"), None)?;
        Ok(v.as_str().map(str::to_owned))
    }
}

/// One WebDriver command: its `value`, or the WebDriver error as text.
fn command(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let response = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        (_, body) => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.unwrap_or(&json!({})).to_string()),
    };
    let mut response = response.map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status();
    let text = response
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .map_err(|e| format!("{method} {url}: reading the answer: {e}"))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{method} {url}: the answer is not JSON ({e}): {text:.200}"))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        Err(format!(
            "{method} {url}: {} ({status}): {}",
            value["error"].as_str().unwrap_or("error"),
            value["message"].as_str().unwrap_or_default()
        ))
    }
}

/// Waits until chromedriver answers `/status` as ready.
fn wait_ready(agent: &ureq::Agent, base: &str) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match command(agent, "GET", &format!("{base}/status"), None) {
            Ok(v) if v["ready"] == true => return Ok(()),
            other if start.elapsed() > Duration::from_secs(20) => {
                return Err(format!("chromedriver did not become ready: {other:?}"))
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
