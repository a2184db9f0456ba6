//! Blackboard when one of its worker jobs panics: that request alone is refused ("Blackboard
//! failed on this request: try again"), and the same worker (there is only one) serves the next.
//!
//! The service runs in process on a real transport, with the real store, and the student
//! library is the client. The panics are planted by the pool's test-only fault plan: the chosen
//! job panics as it starts, and what it holds (its promise to answer, its share of the upload
//! buffer, the upload) is dropped as the panic unwinds, as when a job panics part-way. Jobs are
//! counted as they are spawned, so each plan is made when the jobs before the planted one are
//! known (a connection that offered an upload spawns one more job when it closes).

use handin::net::{self, Transport};
use handin_client::student::{self, Profile, Remote, StudentError};
use handin_core::driver::{ServeOptions, Shutdown};
use handin_core::msg::UploadOffer;
use handin_core::pki::{to_pem, Revocations, StudentId};
use handin_core::submit::sha256;
use handin_core::{Identity, ReceiptSigner, Role, ServerConfig};
use handin_perf::loadgen::Lab;
use handin_services::blackboard::{Blackboard, Shared};
use handin_services::board::Board;
use handin_services::runtime::Pool;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

const STUDENT: &str = "1155000001";
const FAILED: &str = "Blackboard failed on this request: try again";

struct World {
    lab: Lab,
    bb: Arc<Blackboard>,
    pool: Pool,
    remote: Remote,
    profile: Profile,
    shutdown: Arc<Shutdown>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl World {
    /// Blackboard with one worker on `transport`, a student's profile, and (if `stored`) a
    /// submission of that student stored before the server starts; returns its id too.
    fn new(transport: Transport, stored: Option<&[u8]>) -> (Self, Option<String>) {
        let lab = Lab::with_bins(1 << 20, Some(Path::new("."))).expect("a lab");
        let identity = Identity::from_pem(
            &std::fs::read(lab.dir.join("bb.crt")).expect("bb.crt"),
            &std::fs::read(lab.dir.join("bb.key")).expect("bb.key"),
        )
        .expect("Blackboard's identity");
        let signer =
            ReceiptSigner::new(&identity.key, identity.chain[0].clone()).expect("a signer");
        let config =
            ServerConfig::new(Role::Submit, lab.ca.clone(), identity, Revocations::empty())
                .expect("a configuration");
        let board = Board::open(&lab.dir.join("data")).expect("the store");
        let id = stored.map(|bytes| store(&board, bytes));
        let pool = Pool::new(1, "test-bb").expect("a pool");
        let bb = Arc::new(
            Blackboard::new(
                config,
                Shared {
                    board,
                    signer,
                    pool: pool.clone(),
                },
            )
            .expect("the service"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("an address").to_string();
        let shutdown = Shutdown::new();
        let opts = ServeOptions {
            loops: 1,
            ..ServeOptions::default()
        };
        let server = {
            let (bb, shutdown) = (bb.clone(), shutdown.clone());
            std::thread::spawn(move || net::serve(transport, listener, bb, opts, shutdown))
        };
        let profile = Profile::locate(Some(lab.dir.join("profile")));
        write_profile(&lab, &profile);
        let remote = Remote {
            addr,
            also: Vec::new(),
            transport,
            connect_timeout: Duration::from_secs(5),
        };
        let world = Self {
            lab,
            bb,
            pool,
            remote,
            profile,
            shutdown,
            server: Some(server),
        };
        (world, id)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.lab.dir.join(name)
    }

    fn list(&self) -> Result<usize, StudentError> {
        student::list(&self.remote, &self.profile, None).map(|l| l.len())
    }

    fn submit(&self, bytes: &[u8]) -> Result<String, StudentError> {
        let file = self.path("hw.bin");
        std::fs::write(&file, bytes).expect("the file to submit");
        student::submit(&self.remote, &self.profile, &file, "LOAD", "hw1").map(|s| s.body.id)
    }

    fn fetch(&self, id: &str) -> Result<Vec<u8>, StudentError> {
        let out = self.path("back.bin");
        student::fetch(&self.remote, &self.profile, id, &out)?;
        Ok(std::fs::read(&out).expect("the fetched file"))
    }

    /// Waits until the upload buffer is empty and no upload is left in `tmp/`.
    fn assert_nothing_left_of_uploads(&self) {
        let tmp = self.path("data").join("tmp");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let used = self.bb.upload_buffer().used();
            let left = std::fs::read_dir(&tmp).map_or(0, |d| d.count());
            if used == 0 && left == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{used} bytes still held in the upload buffer, {left} files in tmp/"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.request();
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// A submission stored straight into the store, as if uploaded earlier; its id.
fn store(board: &Board, bytes: &[u8]) -> String {
    let mut upload = board.begin_upload().expect("an upload");
    upload.write(bytes).expect("written");
    let offer = UploadOffer {
        course: "LOAD".into(),
        assignment: "hw1".into(),
        file_name: "earlier.bin".into(),
        size: bytes.len() as u64,
        sha256: sha256(bytes),
    };
    let student = StudentId::parse(STUDENT).expect("an id");
    let ready = board
        .prepare(upload, &student, &offer, SystemTime::now())
        .expect("prepared");
    let mut committed = board.commit_batch(vec![ready]);
    committed.remove(0).expect("committed").record.id
}

/// The student's profile: a certificate issued straight by the CA, its key, the CA.
fn write_profile(lab: &Lab, profile: &Profile) {
    let ca = lab.pki.ca().expect("the CA");
    let identity = lab.student(&ca, STUDENT).expect("a student certificate");
    std::fs::create_dir_all(profile.dir()).expect("the profile directory");
    let chain: String = identity
        .chain
        .iter()
        .map(|c| to_pem("CERTIFICATE", c))
        .collect();
    std::fs::write(profile.cert(), chain).expect("cert.pem");
    std::fs::write(
        profile.key(),
        to_pem("PRIVATE KEY", identity.key.secret_der()),
    )
    .expect("key.pem");
    std::fs::copy(lab.pki.ca_cert(), profile.ca()).expect("ca.crt");
}

fn pattern(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[track_caller]
fn assert_failed<T: std::fmt::Debug>(result: Result<T, StudentError>, what: &str) {
    match result {
        Err(e) => assert!(e.message().contains(FAILED), "{what}: {e}"),
        Ok(v) => panic!("{what} succeeded ({v:?}) though its job panicked"),
    }
}

fn listings_fetches_and_offers(transport: Transport) {
    let earlier = pattern(700_000, 1);
    let (w, id) = World::new(transport, Some(&earlier));
    let id = id.expect("a stored submission");

    w.pool.danger_panic_job(0);
    assert_failed(w.list(), "a listing");
    assert_eq!(w.list().expect("the next listing"), 1);

    // The job opening the file, then the one reading its first piece. Once the fetch is
    // under way it can no longer be refused: the connection closes, and the student is told.
    w.pool.danger_panic_job(0);
    assert_failed(w.fetch(&id), "a fetch");
    w.pool.danger_panic_job(1);
    let err = w.fetch(&id).expect_err("a fetch whose read panicked");
    assert!(!err.message().is_empty());
    assert_eq!(w.fetch(&id).expect("the next fetch"), earlier);

    // The first job on the uploading connection's strand: the offer's.
    w.pool.danger_panic_job(0);
    assert_failed(w.submit(&pattern(1000, 2)), "a submission");
    let again = pattern(300_000, 3);
    let id = w.submit(&again).expect("the next submission");
    assert_eq!(w.fetch(&id).expect("fetched back"), again);
    w.assert_nothing_left_of_uploads();
}

fn a_write(transport: Transport) {
    let (w, _) = World::new(transport, None);
    // The offer's job, then the first write of the upload's bytes.
    w.pool.danger_panic_job(1);
    assert_failed(w.submit(&pattern(600_000, 4)), "a submission");
    w.assert_nothing_left_of_uploads();
    let bytes = pattern(600_000, 5);
    let id = w.submit(&bytes).expect("the next submission");
    assert_eq!(w.fetch(&id).expect("fetched back"), bytes);
    assert_eq!(
        w.list().expect("a listing"),
        1,
        "only the second was stored"
    );
    w.assert_nothing_left_of_uploads();
}

#[test]
fn a_panicking_listing_fetch_or_offer_job_refuses_only_its_request_on_mio() {
    listings_fetches_and_offers(Transport::Mio);
}

#[test]
fn a_panicking_listing_fetch_or_offer_job_refuses_only_its_request_on_smol() {
    listings_fetches_and_offers(Transport::Smol);
}

#[test]
fn a_panicking_upload_write_refuses_that_upload_and_gives_its_room_back_on_mio() {
    a_write(Transport::Mio);
}

#[test]
fn a_panicking_upload_write_refuses_that_upload_and_gives_its_room_back_on_smol() {
    a_write(Transport::Smol);
}
