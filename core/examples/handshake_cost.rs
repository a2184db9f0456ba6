//! Runs N mutual-TLS submission handshakes in memory (full or resumed), for profilers that
//! count instructions: `valgrind --tool=callgrind target/release/examples/handshake_cost full 200`,
//! then `callgrind_annotate --inclusive=yes` and look for `SubmitServer` (the server's share)
//! and `SubmitClient`.
//!
//! Run with `cargo run --release -p handin-core --example handshake_cost -- full 200`.

use handin_core::harness::{t0, Campus};
use handin_core::{ClientConfig, Now, Role, SubmitClientEvent};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "full".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let mut campus = Campus::new(Now::new(Instant::now(), t0()));
    let identity = campus.new_student("1155000001");
    let fresh = || {
        ClientConfig::new(
            Role::Submit,
            campus.ca.cert().clone(),
            Some(identity.clone()),
        )
        .map(|c| c.with_timeouts(campus.timeouts))
    };
    let shared = match fresh() {
        Ok(c) => c,
        Err(e) => fail(&e.0),
    };
    let mut resumed = 0;
    for i in 0..=n {
        let config = match mode.as_str() {
            "resumed" => shared.clone(),
            "full" => match fresh() {
                Ok(c) => c,
                Err(e) => fail(&e.0),
            },
            other => fail(&format!("mode is full or resumed, not {other}")),
        };
        let mut pair = campus.submit_pair_with(&config);
        pair.drive();
        if !matches!(
            pair.client.poll_event(),
            Some(SubmitClientEvent::Connected { .. })
        ) {
            fail(&format!("handshake {i} did not connect"));
        }
        if i > 0 && pair.server.handshake_info().resumed {
            resumed += 1;
        }
    }
    println!("{{\"mode\":\"{mode}\",\"handshakes\":{n},\"resumed\":{resumed}}}");
}

fn fail(why: &str) -> ! {
    eprintln!("handshake_cost: {why}");
    std::process::exit(1)
}
