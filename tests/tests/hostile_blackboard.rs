//! The real `student` binary against a compromised Blackboard: a server that holds Blackboard's
//! genuine certificate and key but answers with names chosen to hurt the client. It sends a
//! submission id that climbs out of the profile, and file names, course codes and refusal
//! reasons full of terminal escape sequences. The client must write nothing outside its
//! `receipts/` directory and print nothing raw that a terminal would interpret.

use handin::net::{self, Transport};
use handin_core::driver::{Accept, Driven, Notify, ServeOptions, Shutdown};
use handin_core::msg::SubmissionEntry;
use handin_core::pki::{from_pem_or_der, Revocations};
use handin_core::rustls::pki_types::CertificateDer;
use handin_core::submit::sha256;
use handin_core::Now;
use handin_core::{
    Identity, ReceiptBody, ReceiptSigner, Refusal, RefusalCode, Role, ServerConfig, SubmitServer,
    SubmitServerEvent,
};
use handin_tests::*;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// The id the hostile server gives every upload: from `receipts/`, two levels up is the
/// directory that holds the profile.
const CLIMBING_ID: &str = "../../escaped";
/// The one submission the hostile server lists and serves.
const LISTED_ID: &str = "S1";
/// ESC and BEL sequences (colour, clear screen, set the window title), a one-character C1 CSI
/// (U+009B) and a right-to-left override (U+202E) that reorders what follows on screen.
const EVIL_NAME: &str = "\u{1b}[31mred\u{1b}[0m\u{1b}]0;owned\u{7}\u{9b}2J\u{202e}fdp.exe";
const EVIL_COURSE: &str = "CSCI\u{1b}[2J3180";
const EVIL_REASON: &str = "no such submission\u{1b}[2J\u{1b}]0;owned\u{7}";
const CONTENT: &[u8] = b"what the hostile server hands back";

/// What a compromised Blackboard says, whatever it is asked.
struct Hostile {
    config: Arc<ServerConfig>,
    signer: ReceiptSigner,
}

impl Accept for Hostile {
    type Conn = HostileConn;
    fn accept(&self, now: Now, _peer: SocketAddr, _notify: Notify) -> Option<HostileConn> {
        Some(HostileConn {
            server: SubmitServer::new(self.config.clone(), now).ok()?,
            signer: self.signer.clone(),
        })
    }
}

struct HostileConn {
    server: SubmitServer,
    signer: ReceiptSigner,
}

impl HostileConn {
    fn entry(&self, id: &str) -> SubmissionEntry {
        SubmissionEntry {
            id: id.into(),
            student_id: self
                .server
                .student()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            course: EVIL_COURSE.into(),
            assignment: "hw1".into(),
            file_name: EVIL_NAME.into(),
            size: CONTENT.len() as u64,
            sha256: sha256(CONTENT),
            received_at: 1_800_000_000,
            late: false,
            version: 1,
        }
    }

    fn answer(&mut self) {
        while let Some(ev) = self.server.poll_event() {
            match ev {
                SubmitServerEvent::UploadRequested(_) => {
                    let _ = self.server.accept_upload();
                }
                SubmitServerEvent::UploadComplete { offer, received_at } => {
                    let body = ReceiptBody {
                        id: CLIMBING_ID.into(),
                        student_id: self
                            .server
                            .student()
                            .map(|s| s.to_string())
                            .unwrap_or_default(),
                        course: offer.course,
                        assignment: offer.assignment,
                        file_name: offer.file_name,
                        size: offer.size,
                        sha256: offer.sha256,
                        received_at: handin_core::pki::unix_secs(received_at),
                        due_at: 4_000_000_000,
                        late: false,
                        version: 1,
                        committed_at: None,
                        log: String::new(),
                    };
                    let receipt = self.signer.sign(&body).expect("signing");
                    let _ = self.server.send_receipt(&receipt);
                }
                SubmitServerEvent::ListRequested { .. } => {
                    let entry = self.entry(LISTED_ID);
                    let _ = self.server.send_list_entry(&entry);
                    let _ = self.server.finish_list();
                }
                SubmitServerEvent::FetchRequested { id } if id == LISTED_ID => {
                    let entry = self.entry(&id);
                    if self.server.start_fetch(&entry).is_ok() {
                        let _ = self.server.send_fetch_data(CONTENT);
                        let _ = self.server.finish_fetch();
                    }
                }
                SubmitServerEvent::FetchRequested { .. } => {
                    let _ = self
                        .server
                        .refuse(Refusal::new(RefusalCode::NotFound, EVIL_REASON));
                }
                _ => {}
            }
        }
    }
}

impl Driven for HostileConn {
    fn receive(&mut self, now: Now, data: &[u8]) {
        let _ = self.server.receive(now, data);
        self.answer();
    }
    fn handle_eof(&mut self, now: Now) {
        let _ = self.server.handle_eof(now);
    }
    fn handle_timeout(&mut self, now: Now) {
        let _ = self.server.handle_timeout(now);
    }
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        self.server.poll_transmit(out)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }
    fn is_handshaking(&self) -> bool {
        self.server.is_handshaking()
    }
    fn is_closed(&self) -> bool {
        self.server.is_closed()
    }
}

/// The hostile server, running on loopback until dropped.
struct Running {
    addr: String,
    shutdown: Arc<Shutdown>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.request();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts a compromised Blackboard with the campus's genuine Blackboard certificate and key.
fn start_hostile(campus: &Campus, transport: Transport) -> Running {
    let read = |name: &str| std::fs::read(campus.path(name)).expect(name);
    let identity = Identity::from_pem(&read("bb.crt"), &read("bb.key")).expect("bb identity");
    let signer = ReceiptSigner::new(&identity.key, identity.chain[0].clone()).expect("signer");
    let ca_pem = std::fs::read(campus.pki().join("ca.crt")).expect("ca.crt");
    let ca = CertificateDer::from(
        from_pem_or_der(&ca_pem, "CERTIFICATE")
            .expect("ca pem")
            .remove(0),
    );
    let config =
        ServerConfig::new(Role::Submit, ca, identity, Revocations::empty()).expect("server config");
    let accept = Arc::new(Hostile {
        config: Arc::new(config),
        signer,
    });
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let shutdown = Shutdown::new();
    let s = shutdown.clone();
    let opts = ServeOptions {
        loops: 1,
        ..ServeOptions::default()
    };
    let thread = std::thread::spawn(move || net::serve(transport, listener, accept, opts, s));
    Running {
        addr,
        shutdown,
        thread: Some(thread),
    }
}

fn transport_of(name: &str) -> Transport {
    match name {
        "mio" => Transport::Mio,
        _ => Transport::Smol,
    }
}

/// A campus on `transport` whose student ALICE is enrolled at the real CUHK.
fn campus_with_alice(transport: &str) -> Campus {
    let campus = Campus::with_transports(transport, transport);
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    campus
}

/// No byte a terminal would act on: C0 controls other than the line breaks and tabs the
/// output itself uses, DEL, C1 controls, and the bidirectional overrides.
fn assert_inert(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{what} holds raw control characters {bad:?}: {text:?}"
    );
}

fn a_climbing_submission_id_writes_nothing_outside_the_profile(transport: &str) {
    let campus = campus_with_alice(transport);
    let hostile = start_hostile(&campus, transport_of(transport));
    let file = campus.path("hw.txt");
    std::fs::write(&file, b"my answers").expect("write");
    let mut c = campus.student(ALICE, &["submit"]);
    c.arg(&file).args([
        "--course",
        "CSCI3180",
        "--assignment",
        "hw1",
        "--blackboard",
        &hostile.addr,
    ]);
    let err = fails(c);
    assert!(
        err.contains("Blackboard sent a malformed submission id"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{CLIMBING_ID:?}")),
        "the error names the id: {err}"
    );
    // receipts/../../escaped.receipt is the campus directory's escaped.receipt.
    assert!(
        !campus.path("escaped.receipt").exists(),
        "the receipt was written outside the profile"
    );
    let receipts = campus.profile(ALICE).join("receipts");
    assert!(names_in(&receipts).is_empty(), "{:?}", names_in(&receipts));
}

#[test]
fn a_climbing_submission_id_writes_nothing_outside_the_profile_mio() {
    a_climbing_submission_id_writes_nothing_outside_the_profile("mio");
}

#[test]
fn a_climbing_submission_id_writes_nothing_outside_the_profile_smol() {
    a_climbing_submission_id_writes_nothing_outside_the_profile("smol");
}

/// `student fetch ID --out OUT` as ALICE from the hostile server.
fn fetch(
    campus: &Campus,
    hostile: &Running,
    id: &str,
    out: &std::path::Path,
) -> std::process::Output {
    let mut c = campus.student(
        ALICE,
        &["fetch", id, "--blackboard", &hostile.addr, "--out"],
    );
    c.arg(out);
    run(c)
}

fn names_from_the_server_are_printed_escaped(transport: &str) {
    let campus = campus_with_alice(transport);
    let hostile = start_hostile(&campus, transport_of(transport));

    // `list`, as text: every untrusted field escaped, so it is still readable.
    let out = run(campus.student(ALICE, &["list", "--blackboard", &hostile.addr]));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert_inert("list", &text);
    assert!(text.contains(r"\u{1b}[31mred"), "{text}");
    assert!(text.contains(r"\u{202e}fdp.exe"), "{text}");
    assert!(text.contains(r"CSCI\u{1b}[2J3180"), "{text}");

    // `list --json`: escaped by the encoding, and the names decode back exactly.
    let out = run(campus.student(ALICE, &["list", "--blackboard", &hostile.addr, "--json"]));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let json = stdout_of(&out);
    assert_inert("list --json", &json);
    let listed: serde_json::Value = serde_json::from_str(&json).expect("list --json is JSON");
    assert_eq!(listed[0]["file_name"], EVIL_NAME);
    assert_eq!(listed[0]["course"], EVIL_COURSE);

    // `fetch` names the file it fetched.
    let back = campus.path("back");
    let out = fetch(&campus, &hostile, LISTED_ID, &back);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_inert("fetch", &stdout_of(&out));
    assert!(
        stdout_of(&out).contains(r"\u{1b}[31mred"),
        "{}",
        stdout_of(&out)
    );
    assert_eq!(std::fs::read(&back).expect("fetched"), CONTENT);

    // A refusal's reason is the server's text too.
    let out = fetch(&campus, &hostile, "S2", &campus.path("none"));
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert_inert("the refusal", &err);
    assert!(err.contains(r"no such submission\u{1b}[2J"), "{err}");
}

#[test]
fn names_from_the_server_are_printed_escaped_mio() {
    names_from_the_server_are_printed_escaped("mio");
}

#[test]
fn names_from_the_server_are_printed_escaped_smol() {
    names_from_the_server_are_printed_escaped("smol");
}
