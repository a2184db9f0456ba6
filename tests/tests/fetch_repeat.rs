//! Many fetches of a multi-MiB submission in a row against one `blackboard serve`, on every
//! client/server transport pairing. Blackboard streams a fetch a piece at a time as the socket
//! takes it; a piece left waiting with nothing due to call the connection again (no socket
//! readiness asked for, no timer, no wake-up) stalls the fetch until the student gives up on a
//! silent Blackboard. That is a race, rare per piece, so the fetches are many.

use handin::net::Transport;
use handin_client::student::{self, Profile, Remote};
use handin_tests::*;
use std::time::Duration;

/// The submission fetched: 80 pieces of 256 KiB.
const SIZE: usize = 20 * 1024 * 1024;
/// Fetches per client transport, per server.
const FETCHES: usize = 40;

fn fetch_repeatedly(server: &str) {
    let campus = Campus::with_transports(server, "mio");
    let cuhk = campus.start_cuhk();
    campus.enroll(&cuhk, ALICE);
    let bb = campus.start_blackboard();
    let original = campus.path("big.bin");
    write_pattern(&original, SIZE, 7);
    let submitted = Receipted::from_json(&campus.submit(&bb, ALICE, &original, "hw1"), &original);
    let profile = Profile::locate(Some(campus.profile(ALICE)));
    let back = campus.path("back.bin");
    for client in [Transport::Mio, Transport::Smol] {
        let remote = Remote {
            addr: bb.addr.clone(),
            also: Vec::new(),
            transport: client,
            connect_timeout: Duration::from_secs(5),
        };
        for i in 1..=FETCHES {
            let fetched = student::fetch(&remote, &profile, &submitted.id, &back);
            if let Err(e) = fetched {
                panic!(
                    "fetch {i} of {FETCHES} ({client:?} client, {server} server) failed: {}\n\
                     blackboard's log:\n{}",
                    e,
                    bb.log()
                );
            }
            let bytes = std::fs::read(&back).expect("the fetched file");
            assert_eq!(bytes.len(), SIZE, "fetch {i}: the size");
            assert_eq!(sha256_hex(&bytes), submitted.sha256, "fetch {i}: the bytes");
        }
    }
    assert!(bb.stop(), "blackboard exits 0 on SIGTERM");
}

#[test]
fn many_fetches_in_a_row_from_the_mio_server_never_stall() {
    fetch_repeatedly("mio");
}

#[test]
fn many_fetches_in_a_row_from_the_smol_server_never_stall() {
    fetch_repeatedly("smol");
}
