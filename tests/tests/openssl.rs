//! The OpenSSL command line as an independent peer: `openssl s_client` against both servers,
//! with and without a client certificate and ALPN; CSRs made by `openssl req` enrolled through
//! `student enroll --csr`; and `openssl verify` / `openssl x509` on what CUHK issues.
//!
//! Every `openssl` process runs under a hard deadline and is killed when it passes, so no test
//! can hang on a peer that never closes.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use handin_tests::*;

const CAROL: &str = "1155000003";
const DAVE: &str = "1155000004";
const UNIVERSITY: &str = "The Chinese University of Hong Kong";

/// The longest any `openssl` process may live.
const OPENSSL_DEADLINE: Duration = Duration::from_secs(10);
/// How long to poll a server log for an expected line.
const LOG_DEADLINE: Duration = Duration::from_secs(5);

const TAG_WELCOME: u8 = 0x01;
const TAG_ERROR: u8 = 0x03;
const CODE_BAD_REQUEST: u16 = 1;

// ---------------------------------------------------------------------------------------------
// Running openssl
// ---------------------------------------------------------------------------------------------

/// Fails the test at once, with a clear message, if the `openssl` command line is missing:
/// skipping silently would let these tests pass without testing anything.
fn require_openssl() {
    assert!(
        have_openssl(),
        "these tests need the OpenSSL 3 command line (`openssl`) on PATH"
    );
}

/// Collects everything `r` produces into a shared buffer, on its own thread.
fn collect(mut r: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    let handle = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .expect("output buffer lock")
                    .extend_from_slice(&chunk[..n]),
            }
        }
    });
    (buf, handle)
}

/// A running `openssl` process: stdin held open (a pipe we close when we are done), stdout and
/// stderr collected as they arrive, killed at its deadline or when dropped.
struct Openssl {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    deadline: Instant,
    desc: String,
}

/// What an `openssl` process wrote, and how it ended.
#[derive(Debug)]
struct Transcript {
    desc: String,
    stdout: Vec<u8>,
    stderr: String,
    /// `None` if it had to be killed at its deadline.
    status: Option<ExitStatus>,
}

impl Transcript {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Both streams as text, for assertion messages.
    fn show(&self) -> String {
        format!(
            "{}\nstatus: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.desc,
            self.status,
            self.stdout_text(),
            self.stderr
        )
    }

    /// Asserts that openssl exited by itself with status 0.
    fn assert_success(&self) {
        assert!(
            self.status.is_some_and(|s| s.success()),
            "openssl failed: {}",
            self.show()
        );
    }
}

impl Openssl {
    fn spawn<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new("openssl");
        c.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let desc = format!("{c:?}");
        let mut child = c.spawn().expect("openssl starts");
        let stdin = child.stdin.take();
        let (stdout, out_reader) = collect(child.stdout.take().expect("piped stdout"));
        let (stderr, err_reader) = collect(child.stderr.take().expect("piped stderr"));
        Self {
            child,
            stdin,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
            deadline: Instant::now() + OPENSSL_DEADLINE,
            desc,
        }
    }

    /// Keeps the process running (stdin open) until `done(stdout, stderr)` holds, the process
    /// exits on its own, or its deadline passes, whichever comes first.
    fn wait_until(&mut self, done: impl Fn(&[u8], &str) -> bool) {
        loop {
            {
                let out = self.stdout.lock().expect("stdout lock");
                let err = self.stderr.lock().expect("stderr lock");
                if done(&out, &String::from_utf8_lossy(&err)) {
                    return;
                }
            }
            if matches!(self.child.try_wait(), Ok(Some(_))) || Instant::now() >= self.deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Closes stdin (s_client then sends close_notify and exits, unless it ignores EOF), waits
    /// for the exit until the deadline, kills the process if it is still running, and returns
    /// everything it wrote.
    fn finish(mut self) -> Transcript {
        drop(self.stdin.take());
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < self.deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        for reader in std::mem::take(&mut self.readers) {
            reader.join().expect("output reader thread");
        }
        let stdout = std::mem::take(&mut *self.stdout.lock().expect("stdout lock"));
        let stderr = std::mem::take(&mut *self.stderr.lock().expect("stderr lock"));
        Transcript {
            desc: std::mem::take(&mut self.desc),
            stdout,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            status,
        }
    }
}

impl Drop for Openssl {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a one-shot `openssl` command (stdin closed at once) under the deadline.
fn openssl(args: &[&dyn AsRef<OsStr>]) -> Transcript {
    let mut p = Openssl::spawn(args.iter().map(|a| a.as_ref()));
    drop(p.stdin.take());
    p.wait_until(|_, _| false);
    p.finish()
}

/// How to run `openssl s_client` against a campus server.
struct SClient<'a> {
    addr: &'a str,
    ca: PathBuf,
    alpn: Option<&'a str>,
    cert_and_key: Option<(PathBuf, PathBuf)>,
    /// `-quiet`: stdout carries only the application data received.
    quiet: bool,
}

impl<'a> SClient<'a> {
    fn new(campus: &Campus, server: &'a Server) -> Self {
        Self {
            addr: &server.addr,
            ca: campus.pki().join("ca.crt"),
            alpn: None,
            cert_and_key: None,
            quiet: false,
        }
    }

    fn alpn(mut self, protocol: &'a str) -> Self {
        self.alpn = Some(protocol);
        self
    }

    /// Presents the certificate and key of a student profile.
    fn profile(mut self, dir: &Path) -> Self {
        self.cert_and_key = Some((dir.join("cert.pem"), dir.join("key.pem")));
        self
    }

    fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Starts s_client. The server's chain must verify against the CUHK root and name
    /// `localhost`, or s_client aborts the handshake itself.
    fn spawn(&self) -> Openssl {
        let mut args: Vec<std::ffi::OsString> = vec![
            "s_client".into(),
            "-connect".into(),
            self.addr.into(),
            "-servername".into(),
            "localhost".into(),
            "-verify_hostname".into(),
            "localhost".into(),
            "-verify_return_error".into(),
            "-CAfile".into(),
            self.ca.clone().into(),
        ];
        if let Some(alpn) = self.alpn {
            args.extend(["-alpn".into(), alpn.into()]);
        }
        if let Some((cert, key)) = &self.cert_and_key {
            args.extend([
                "-cert".into(),
                cert.clone().into(),
                "-key".into(),
                key.clone().into(),
            ]);
        }
        if self.quiet {
            // -quiet implies -ign_eof; undo that so closing stdin ends the connection at once.
            args.extend(["-quiet".into(), "-no_ign_eof".into()]);
        }
        Openssl::spawn(args)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading frames (an independent decoder, from docs/PROTOCOL.md section 2)
// ---------------------------------------------------------------------------------------------

/// Splits `bytes` into complete frames `(type, payload)`; a trailing partial frame is left out.
fn frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        if rest.len() < 5 + len {
            break;
        }
        out.push((rest[0], rest[5..5 + len].to_vec()));
        rest = &rest[5 + len..];
    }
    out
}

/// Whether `bytes` start with at least one complete frame.
fn has_a_frame(bytes: &[u8]) -> bool {
    !frames(bytes).is_empty()
}

/// A decoded `Welcome` payload (section 5.1).
#[derive(Debug, PartialEq)]
struct Welcome {
    student_id: Option<String>,
    server_time: u64,
}

fn decode_welcome(payload: &[u8]) -> Welcome {
    let (student_id, rest) = match payload.first() {
        Some(0) => (None, &payload[1..]),
        Some(1) => {
            let n = u16::from_be_bytes([payload[1], payload[2]]) as usize;
            let id = std::str::from_utf8(&payload[3..3 + n]).expect("UTF-8 student ID");
            (Some(id.to_owned()), &payload[3 + n..])
        }
        other => panic!("bad opt<str> tag {other:?} in Welcome {payload:02x?}"),
    };
    assert_eq!(rest.len(), 8, "Welcome ends with a u64: {payload:02x?}");
    let server_time = u64::from_be_bytes(rest.try_into().expect("8 bytes"));
    Welcome {
        student_id,
        server_time,
    }
}

/// A decoded `Error` (or `Refused`) payload (section 5.2): code and reason.
fn decode_refusal(payload: &[u8]) -> (u16, String) {
    assert!(payload.len() >= 4, "refusal too short: {payload:02x?}");
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    let n = u16::from_be_bytes([payload[2], payload[3]]) as usize;
    assert_eq!(payload.len(), 4 + n, "refusal length: {payload:02x?}");
    let reason = std::str::from_utf8(&payload[4..]).expect("UTF-8 reason");
    (code, reason.to_owned())
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Asserts that the server's clock in a Welcome is this machine's clock (same host).
fn assert_recent(welcome: &Welcome) {
    let now = now_unix();
    assert!(
        welcome.server_time.abs_diff(now) <= 60,
        "Welcome server_time {} is not close to now ({now})",
        welcome.server_time
    );
}

/// Polls a server's log until `pred` holds for one of its lines; returns that line.
fn wait_for_log_line(server: &Server, pred: impl Fn(&str) -> bool) -> Option<String> {
    let deadline = Instant::now() + LOG_DEADLINE;
    loop {
        if let Some(line) = server.log().lines().find(|l| pred(l)) {
            return Some(line.to_owned());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// CSRs and enrollment
// ---------------------------------------------------------------------------------------------

/// Makes a key and a CSR for `/CN=cn` with `openssl req -new -newkey ... -nodes`; returns the
/// paths of the CSR and of the (PKCS#8, unencrypted) key.
fn openssl_csr(campus: &Campus, name: &str, cn: &str, newkey: &[&str]) -> (PathBuf, PathBuf) {
    let csr = campus.path(&format!("{name}.csr"));
    let key = campus.path(&format!("{name}.key.pem"));
    let subject = format!("/CN={cn}");
    let mut args: Vec<&dyn AsRef<OsStr>> = vec![&"req", &"-new"];
    args.extend(newkey.iter().map(|a| a as &dyn AsRef<OsStr>));
    args.extend([
        &"-nodes" as &dyn AsRef<OsStr>,
        &"-subj",
        &subject,
        &"-keyout",
        &key,
        &"-out",
        &csr,
    ]);
    openssl(&args).assert_success();
    let key_pem = std::fs::read_to_string(&key).expect("openssl wrote the key");
    assert!(
        key_pem.starts_with("-----BEGIN PRIVATE KEY-----"),
        "openssl req -nodes writes a PKCS#8 key: {key_pem}"
    );
    (csr, key)
}

const P256: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
const RSA2048: &[&str] = &["-newkey", "rsa:2048"];
const RSA1024: &[&str] = &["-newkey", "rsa:1024"];

/// A `student enroll --csr --key` command for `id` with `code`.
fn enroll_with_csr(
    campus: &Campus,
    cuhk: &Server,
    id: &str,
    code: &str,
    csr: &Path,
    key: &Path,
) -> Command {
    let mut c = campus.student(
        id,
        &["enroll", "--id", id, "--code", code, "--cuhk", &cuhk.addr],
    );
    c.arg("--ca")
        .arg(campus.pki().join("ca.crt"))
        .arg("--csr")
        .arg(csr)
        .arg("--key")
        .arg(key);
    c
}

/// The first PEM block of a file (the end-entity certificate of a chain file), written to its
/// own file.
fn leaf_of(chain: &Path, out: &Path) -> PathBuf {
    let pem = std::fs::read_to_string(chain).expect("chain file");
    let end = "-----END CERTIFICATE-----";
    let at = pem.find(end).expect("a PEM certificate in the chain file") + end.len();
    let leaf = format!("{}\n", &pem[..at]);
    assert_eq!(
        leaf.matches("-----BEGIN CERTIFICATE-----").count(),
        1,
        "{leaf}"
    );
    std::fs::write(out, leaf).expect("writing the leaf");
    out.to_owned()
}

/// Submits a small file as `id`, fetches it back and checks the bytes are equal.
fn submit_and_fetch_back(campus: &Campus, bb: &Server, id: &str) {
    let file = campus.path(&format!("{id}-answers.bin"));
    write_pattern(&file, 40_000, id.as_bytes()[9]);
    let receipt = campus.submit(bb, id, &file, "hw1");
    assert_eq!(receipt["size"], 40_000);
    assert_eq!(receipt["student_id"], id);
    let sub = receipt["id"].as_str().expect("submission id");
    let back = campus.path(&format!("{id}-back.bin"));
    let out = campus.fetch(bb, id, sub, &back);
    assert!(
        out.status.success(),
        "fetch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&back).expect("fetched file"),
        std::fs::read(&file).expect("original file")
    );
}

// ---------------------------------------------------------------------------------------------
// s_client against Blackboard
// ---------------------------------------------------------------------------------------------

#[test]
fn blackboard_refuses_openssl_without_a_client_certificate_with_a_certificate_required_alert() {
    require_openssl();
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);

    // Quiet: stdout carries only application data, so a Welcome (or any frame) would show there.
    // Send nothing and keep stdin open: in TLS 1.3 the client's handshake is done before the
    // server looks at the (missing) certificate, and the refusal arrives as an alert after that.
    let mut s = SClient::new(&campus, &bb)
        .alpn("handin-submit/1")
        .quiet()
        .spawn();
    s.wait_until(|out, err| !out.is_empty() || err.contains("alert"));
    let t = s.finish();
    assert!(
        t.stdout.is_empty(),
        "no application data (no Welcome) may arrive without a certificate: {:02x?}\n{}",
        t.stdout,
        t.show()
    );
    assert!(
        t.stderr.contains("alert certificate required") || t.stderr.contains("alert number 116"),
        "expected a certificate_required alert (116): {}",
        t.show()
    );
    assert!(
        t.status.is_some_and(|s| !s.success()),
        "openssl should fail on the alert: {}",
        t.show()
    );

    let line = wait_for_log_line(&bb, |l| {
        l.contains("connection ended") && l.to_lowercase().contains("no certificate")
    });
    assert!(
        line.is_some(),
        "Blackboard should log that the connection ended for want of a certificate:\n{}",
        bb.log()
    );
    assert!(
        !bb.log().contains("student authenticated"),
        "nobody was authenticated: {}",
        bb.log()
    );

    // Blackboard goes on serving everyone else.
    assert!(campus.list(&bb, ALICE).is_empty());
}

#[test]
fn blackboard_completes_a_tls13_handshake_with_openssl_presenting_the_enrolled_students_certificate(
) {
    require_openssl();
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    let chain = std::fs::read_to_string(campus.profile(ALICE).join("cert.pem")).expect("chain");
    assert_eq!(chain.matches("-----BEGIN CERTIFICATE-----").count(), 2);

    // Verbose: the handshake summary.
    let mut s = SClient::new(&campus, &bb)
        .alpn("handin-submit/1")
        .profile(&campus.profile(ALICE))
        .spawn();
    s.wait_until(|out, _| {
        let text = String::from_utf8_lossy(out);
        text.contains("Verify return code:")
            && text.contains("ALPN protocol:")
            && text.contains(ALICE)
    });
    let t = s.finish();
    let text = t.stdout_text();
    assert!(text.contains("Verify return code: 0 (ok)"), "{}", t.show());
    assert!(
        text.contains("ALPN protocol: handin-submit/1"),
        "{}",
        t.show()
    );
    assert!(
        text.contains("New, TLSv1.3")
            || text.contains("Protocol version: TLSv1.3")
            || text.contains("Protocol  : TLSv1.3"),
        "{}",
        t.show()
    );
    assert!(
        !t.stderr.contains("alert"),
        "no alert expected: {}",
        t.show()
    );
    // The Welcome follows the summary on stdout, as raw bytes.
    let mut welcome = vec![TAG_WELCOME, 0, 0, 0, 21, 1, 0, 10];
    welcome.extend_from_slice(ALICE.as_bytes());
    assert!(
        t.stdout.windows(welcome.len()).any(|w| w == welcome),
        "the Welcome for {ALICE} must arrive: {}",
        t.show()
    );
    t.assert_success();

    let line = wait_for_log_line(&bb, |l| {
        l.contains("student authenticated") && l.contains(&format!("student={ALICE}"))
    });
    assert!(line.is_some(), "{}", bb.log());
}

#[test]
fn blackboard_sends_openssl_with_the_students_certificate_a_welcome_naming_the_student() {
    require_openssl();
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);

    // Quiet: stdout is exactly the application data the server sent.
    let mut s = SClient::new(&campus, &bb)
        .alpn("handin-submit/1")
        .profile(&campus.profile(ALICE))
        .quiet()
        .spawn();
    s.wait_until(|out, _| has_a_frame(out));
    let t = s.finish();
    assert_eq!(
        t.stdout.first(),
        Some(&TAG_WELCOME),
        "the first frame must be a Welcome: {:02x?}\n{}",
        t.stdout,
        t.show()
    );
    let frames = frames(&t.stdout);
    assert_eq!(frames.len(), 1, "only the Welcome before any request");
    let (tag, payload) = &frames[0];
    assert_eq!(*tag, TAG_WELCOME);
    assert_eq!(
        payload.len(),
        21,
        "Welcome with a 10-digit ID: {payload:02x?}"
    );
    let welcome = decode_welcome(payload);
    assert_eq!(welcome.student_id.as_deref(), Some(ALICE));
    assert_recent(&welcome);
}

#[test]
fn blackboard_sends_an_alpn_error_frame_and_no_welcome_to_openssl_that_did_not_negotiate_alpn() {
    require_openssl();
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);

    let mut s = SClient::new(&campus, &bb)
        .profile(&campus.profile(ALICE))
        .quiet()
        .spawn();
    s.wait_until(|out, _| has_a_frame(out));
    let t = s.finish();
    let frames = frames(&t.stdout);
    assert!(
        !frames.is_empty(),
        "expected an Error frame: {:02x?}\n{}",
        t.stdout,
        t.show()
    );
    assert!(
        frames.iter().all(|(tag, _)| *tag != TAG_WELCOME),
        "no Welcome without ALPN: {frames:02x?}"
    );
    let (tag, payload) = &frames[0];
    assert_eq!(
        *tag, TAG_ERROR,
        "the first frame must be a fatal Error: {frames:02x?}"
    );
    let (code, reason) = decode_refusal(payload);
    assert_eq!(code, CODE_BAD_REQUEST, "{reason}");
    assert!(reason.contains("ALPN"), "{reason}");
    assert!(reason.contains("handin-submit/1"), "{reason}");
    assert_eq!(frames.len(), 1, "nothing after the Error frame");
    assert_eq!(
        frames_len(&t.stdout),
        t.stdout.len(),
        "no partial frame after the Error"
    );
}

/// The number of bytes the complete frames of `bytes` take.
fn frames_len(bytes: &[u8]) -> usize {
    frames(bytes).iter().map(|(_, p)| 5 + p.len()).sum()
}

// ---------------------------------------------------------------------------------------------
// s_client against CUHK
// ---------------------------------------------------------------------------------------------

#[test]
fn cuhk_welcomes_an_anonymous_openssl_client_over_a_verified_tls13_chain() {
    require_openssl();
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();

    let mut s = SClient::new(&campus, &cuhk).alpn("handin-enroll/1").spawn();
    s.wait_until(|out, _| {
        let text = String::from_utf8_lossy(out);
        text.contains("Verify return code:") && text.contains("ALPN protocol:")
    });
    let t = s.finish();
    let text = t.stdout_text();
    assert!(text.contains("Verify return code: 0 (ok)"), "{}", t.show());
    assert!(
        text.contains("ALPN protocol: handin-enroll/1"),
        "{}",
        t.show()
    );
    assert!(
        text.contains("New, TLSv1.3")
            || text.contains("Protocol version: TLSv1.3")
            || text.contains("Protocol  : TLSv1.3"),
        "{}",
        t.show()
    );
    t.assert_success();

    let mut s = SClient::new(&campus, &cuhk)
        .alpn("handin-enroll/1")
        .quiet()
        .spawn();
    s.wait_until(|out, _| has_a_frame(out));
    let t = s.finish();
    assert_eq!(
        t.stdout.first(),
        Some(&TAG_WELCOME),
        "the first frame must be a Welcome: {:02x?}\n{}",
        t.stdout,
        t.show()
    );
    let frames = frames(&t.stdout);
    assert_eq!(frames.len(), 1, "{frames:02x?}");
    assert_eq!(
        frames[0].1.len(),
        9,
        "anonymous Welcome: {:02x?}",
        frames[0]
    );
    let welcome = decode_welcome(&frames[0].1);
    assert_eq!(welcome.student_id, None, "an anonymous connection");
    assert_recent(&welcome);
}

// ---------------------------------------------------------------------------------------------
// openssl req CSRs through student enroll
// ---------------------------------------------------------------------------------------------

/// Enrolls `id` with a CSR and key from `openssl req` (`newkey`), checks that the certificate
/// carries the CSR's key, and that the profile submits and fetches back.
fn enroll_with_openssl_req_then_submit_and_fetch(id: &str, newkey: &[&str]) {
    require_openssl();
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    let (csr, key) = openssl_csr(&campus, id, id, newkey);
    let code = campus.roster_add(id);
    let out = ok(enroll_with_csr(&campus, &cuhk, id, &code, &csr, &key));
    assert!(out.contains(&format!("CN={id}")), "{out}");

    // The certificate is for the CSR's key.
    let leaf = leaf_of(
        &campus.profile(id).join("cert.pem"),
        &campus.path(&format!("{id}-leaf.pem")),
    );
    let cert_key = openssl(&[&"x509", &"-noout", &"-pubkey", &"-in", &leaf]);
    cert_key.assert_success();
    let csr_key = openssl(&[&"req", &"-noout", &"-pubkey", &"-in", &csr]);
    csr_key.assert_success();
    assert!(cert_key.stdout_text().contains("BEGIN PUBLIC KEY"));
    assert_eq!(cert_key.stdout, csr_key.stdout, "certificate key = CSR key");

    submit_and_fetch_back(&campus, &bb, id);
}

#[test]
fn an_openssl_req_p256_csr_enrolls_and_the_profile_submits_and_fetches_the_same_bytes() {
    enroll_with_openssl_req_then_submit_and_fetch(CAROL, P256);
}

#[test]
fn an_openssl_req_rsa_2048_csr_enrolls_and_the_profile_submits_and_fetches_the_same_bytes() {
    enroll_with_openssl_req_then_submit_and_fetch(DAVE, RSA2048);
}

// ---------------------------------------------------------------------------------------------
// openssl verify / x509 on what CUHK issues
// ---------------------------------------------------------------------------------------------

#[test]
fn openssl_verify_accepts_the_certificate_student_enroll_issued_and_x509_shows_the_students_subject(
) {
    require_openssl();
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    let chain = campus.profile(ALICE).join("cert.pem");
    let leaf = leaf_of(&chain, &campus.path("alice-leaf.pem"));
    let ca = campus.pki().join("ca.crt");

    let t = openssl(&[&"verify", &"-purpose", &"sslclient", &"-CAfile", &ca, &leaf]);
    t.assert_success();
    assert!(t.stdout_text().trim_end().ends_with(": OK"), "{}", t.show());

    let t = openssl(&[&"x509", &"-noout", &"-subject", &"-in", &leaf]);
    t.assert_success();
    let text = t.stdout_text();
    assert!(text.contains(&format!("CN = {ALICE}")), "{}", t.show());
    assert!(text.contains(&format!("O = {UNIVERSITY}")), "{}", t.show());

    // The second block of the chain file is the CUHK root itself.
    let chain_text = std::fs::read_to_string(&chain).expect("chain");
    let end = "-----END CERTIFICATE-----";
    let second = &chain_text[chain_text.find(end).expect("first block") + end.len()..];
    let fingerprint = |pem: &str, name: &str| {
        let file = campus.path(name);
        std::fs::write(&file, pem).expect("write PEM");
        let t = openssl(&[
            &"x509",
            &"-noout",
            &"-fingerprint",
            &"-sha256",
            &"-in",
            &file,
        ]);
        t.assert_success();
        t.stdout_text()
    };
    assert_eq!(
        fingerprint(second.trim_start(), "second.pem"),
        fingerprint(&std::fs::read_to_string(&ca).expect("ca.crt"), "root.pem")
    );

    // The ": OK" means something: the same leaf does not verify against another root.
    let other = campus.path("other-pki");
    let mut init = cmd("cuhk");
    init.args(["init", "--dir"]).arg(&other);
    ok(init);
    let t = openssl(&[&"verify", &"-CAfile", &other.join("ca.crt"), &leaf]);
    assert!(
        !t.status.is_some_and(|s| s.success()),
        "a leaf from CUHK must not verify against another root: {}",
        t.show()
    );
}

// ---------------------------------------------------------------------------------------------
// Refused CSRs
// ---------------------------------------------------------------------------------------------

#[test]
fn a_csr_for_another_students_id_is_refused_before_the_code_is_spent() {
    require_openssl();
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    let code = campus.roster_add(CAROL);
    // Carol enrolls with a CSR made out to Dave.
    let (bad_csr, bad_key) = openssl_csr(&campus, "for-dave", DAVE, P256);
    let err = fails(enroll_with_csr(
        &campus, &cuhk, CAROL, &code, &bad_csr, &bad_key,
    ));
    assert!(
        err.contains(DAVE) && err.contains(CAROL),
        "the refusal names both IDs: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert!(
        !campus.profile(CAROL).join("cert.pem").exists(),
        "no certificate saved"
    );
    assert!(
        !cuhk.log().contains("certificate issued"),
        "nothing issued: {}",
        cuhk.log()
    );

    // The code was not spent: a correct CSR enrolls with it.
    let (csr, key) = openssl_csr(&campus, "for-carol", CAROL, P256);
    let out = ok(enroll_with_csr(&campus, &cuhk, CAROL, &code, &csr, &key));
    assert!(out.contains(&format!("CN={CAROL}")), "{out}");
    submit_and_fetch_back(&campus, &bb, CAROL);
}

#[test]
fn an_openssl_req_csr_with_an_rsa_key_over_8192_bits_is_refused_by_its_size() {
    require_openssl();
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let code = campus.roster_add(CAROL);
    // 9216 bits, over the limit. Four primes make such a key in seconds instead of minutes; its
    // public half is an ordinary RSA modulus. Key generation has no deadline: it always ends.
    let key = campus.path("huge.key.pem");
    let mut genpkey = Command::new("openssl");
    genpkey
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:9216",
        ])
        .args(["-pkeyopt", "rsa_keygen_primes:4", "-out"])
        .arg(&key);
    ok(genpkey);
    let csr = campus.path("huge.csr");
    let subject = format!("/CN={CAROL}");
    openssl(&[
        &"req", &"-new", &"-key", &key, &"-subj", &subject, &"-out", &csr,
    ])
    .assert_success();

    let err = fails(enroll_with_csr(&campus, &cuhk, CAROL, &code, &csr, &key));
    assert!(
        err.contains("the CSR's RSA key is 9216 bits: at most 8192 are accepted"),
        "the refusal names the size and the limit: {err}"
    );
    assert!(!err.contains("proof of possession"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert!(!campus.profile(CAROL).join("cert.pem").exists());
    assert!(
        !cuhk.log().contains("certificate issued"),
        "nothing issued: {}",
        cuhk.log()
    );
}

#[test]
fn an_rsa_1024_csr_is_refused_as_a_weak_key() {
    require_openssl();
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let code = campus.roster_add(CAROL);
    let (weak_csr, weak_key) = openssl_csr(&campus, "weak", CAROL, RSA1024);
    let err = fails(enroll_with_csr(
        &campus, &cuhk, CAROL, &code, &weak_csr, &weak_key,
    ));
    let lower = err.to_lowercase();
    assert!(
        lower.contains("1024"),
        "the refusal names the key size: {err}"
    );
    assert!(
        lower.contains("too small") || lower.contains("weak"),
        "the refusal says the key is weak: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert!(!campus.profile(CAROL).join("cert.pem").exists());
    assert!(
        !cuhk.log().contains("certificate issued"),
        "nothing issued: {}",
        cuhk.log()
    );

    // The refusal did not spend the code either.
    let (csr, key) = openssl_csr(&campus, "strong", CAROL, RSA2048);
    ok(enroll_with_csr(&campus, &cuhk, CAROL, &code, &csr, &key));
}
