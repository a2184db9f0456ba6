//! The test browser itself (`handin_tests::browser`), without the handin web server: a real
//! headless Chromium, holding a student's PKCS#12 file from `student export-p12`, loads a page
//! from `openssl s_server` that REQUIRES a client certificate of the CUHK root (`-Verify 1`,
//! with Blackboard's certificate from `cuhk issue-server`). The handshake can only complete if
//! Chromium chose the student's certificate by itself (the policy), and OpenSSL says whose it
//! was; a browser launched without the PKCS#12 file does not get the page. A screenshot is a
//! PNG file.

use handin_tests::browser::{self, Browser};
use handin_tests::*;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "smoke-test password";

/// `openssl s_server -WWW` serving `www`, killed on drop; its output goes to `log`.
struct SServer {
    child: Child,
    log: PathBuf,
}

impl SServer {
    fn start(campus: &Campus, www: &Path, port: u16) -> Self {
        let log = campus.path("s_server.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new("openssl")
            .arg("s_server")
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(campus.path("bb.crt"))
            .arg("-key")
            .arg(campus.path("bb.key"))
            .arg("-CAfile")
            .arg(campus.pki().join("ca.crt"))
            .args(["-Verify", "1", "-WWW"])
            .current_dir(www)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("openssl s_server starts");
        let server = Self { child, log };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "s_server did not listen: {}",
                server.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn chromium_presents_the_students_certificate_by_itself_and_without_it_gets_nothing() {
    if !browser::available_or_skip("browser_smoke") {
        return;
    }
    assert!(have_openssl(), "this test needs the `openssl` command line");
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    let pw = campus.path("pw");
    std::fs::write(&pw, PASSWORD).expect("password file");
    let p12 = campus.path("alice.p12");
    let mut export = client_cmd("student");
    export
        .arg("--profile")
        .arg(campus.profile(ALICE))
        .args(["export-p12", "--out"])
        .arg(&p12)
        .arg("--password-file")
        .arg(&pw);
    ok(export);

    // A page only a holder of a CUHK client certificate can load.
    let www = campus.path("www");
    std::fs::create_dir(&www).expect("www");
    let marker = format!("smoke-{}", std::process::id());
    std::fs::write(
        www.join("index.html"),
        format!(
            "<!doctype html><html><head><title>handin smoke</title></head>\
             <body><p id=\"marker\">{marker}</p><a id=\"next\" href=\"second.html\">next</a></body></html>"
        ),
    )
    .expect("index.html");
    // (`s_server -WWW` serves files by name: no query strings.)
    std::fs::write(
        www.join("second.html"),
        "<!doctype html><html><body><p id=\"second\">second page</p></body></html>",
    )
    .expect("second.html");
    let port = free_port();
    let server = SServer::start(&campus, &www, port);
    let origin = format!("https://127.0.0.1:{port}");
    let url = format!("{origin}/index.html");
    let downloads = campus.path("downloads");
    std::fs::create_dir(&downloads).expect("downloads");
    let ca = campus.pki().join("ca.crt");

    let b = Browser::launch(&p12, PASSWORD, &ca, &origin, &downloads)
        .unwrap_or_else(|e| panic!("launching the browser: {e}"));
    b.goto(&url)
        .unwrap_or_else(|e| panic!("loading {url}: {e}\ns_server: {}", server.output()));
    let p = b
        .wait_for("#marker", Duration::from_secs(10))
        .unwrap_or_else(|e| {
            panic!(
                "{e}\npage: {:?}\ns_server: {}",
                b.page_source(),
                server.output()
            )
        });
    assert_eq!(p.text().expect("text"), marker);
    assert_eq!(b.current_url().expect("url"), url);
    assert_eq!(
        b.execute("return document.title;", &[]).expect("script"),
        "handin smoke"
    );
    // Elements act: a click follows the link, over the same authenticated TLS.
    assert_eq!(b.find_all("p").expect("paragraphs").len(), 1);
    b.find("#next").expect("the link").click().expect("click");
    let second = b
        .wait_for("#second", Duration::from_secs(10))
        .expect("the second page");
    assert_eq!(second.text().expect("text"), "second page");
    assert_eq!(
        b.current_url().expect("url"),
        format!("{origin}/second.html")
    );
    assert!(b.find("#absent").is_err(), "a missing element is an error");
    // OpenSSL verified the certificate the browser sent: Alice's, from the CUHK root.
    let said = server.output();
    assert!(
        said.contains(&format!("CN={ALICE}")) || said.contains(&format!("CN = {ALICE}")),
        "s_server saw Alice's certificate: {said}"
    );

    let shots = tempfile::tempdir().expect("temp dir");
    let png = shots.path().join("page.png");
    b.screenshot_png(&png).expect("screenshot");
    let bytes = std::fs::read(&png).expect("the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 100,
        "a PNG file"
    );
    drop(b);

    // Without the PKCS#12 file the server's demand cannot be met: no page.
    let bare = Browser::launch_without_certificate(&ca, &origin, &downloads)
        .unwrap_or_else(|e| panic!("launching the second browser: {e}"));
    let loaded = bare.goto(&url);
    let page = bare.page_source().unwrap_or_default();
    assert!(
        !page.contains(&marker),
        "the page loaded without a certificate"
    );
    match loaded {
        Err(e) => assert!(e.contains("ERR_"), "{e}"),
        Ok(()) => assert!(
            page.contains("ERR_") || bare.find("#marker").is_err(),
            "an error page: {page:.500}"
        ),
    }
    drop(bare);
    drop(server);
    assert!(cuhk.stop());
}
