//! Heap held by an idle, authenticated submission connection on the server side: N students
//! connect (mutual TLS, Welcome received), then the clients are dropped and the live heap
//! bytes of the N server connections are counted by a counting allocator. This is the core's
//! (and rustls's) share of an idle connection; `loadgen idle` measures a whole server process.
//!
//! Run with `cargo run --release -p handin-core --example idle_memory -- 10000`.

use handin_core::harness::{t0, Campus};
use handin_core::Now;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::time::Instant;

#[global_allocator]
static ALLOC: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let mut campus = Campus::new(Now::new(Instant::now(), t0()));
    let identity = campus.new_student("1155000001");
    let config = campus.client_config(handin_core::Role::Submit, Some(identity));
    let mut servers = Vec::with_capacity(n);
    let region = Region::new(ALLOC);
    for i in 0..n {
        let mut pair = campus.submit_pair_with(&config);
        if let Err(e) = campus.connect_submit(&mut pair) {
            eprintln!("connection {i}: {e}");
            std::process::exit(1);
        }
        servers.push(pair.server);
    }
    // `servers` itself (its own allocation) is excluded: a transport holds its connections in
    // its own table.
    let change = region.change();
    let held = change.bytes_allocated as isize
        - change.bytes_deallocated as isize
        - (servers.capacity() * std::mem::size_of_val(&servers[0])) as isize;
    let per = held as f64 / n as f64;
    println!(
        "{{\"connections\":{n},\"server_heap_bytes_per_idle_connection\":{per:.0},\"server_struct_bytes\":{}}}",
        std::mem::size_of_val(&servers[0])
    );
}
