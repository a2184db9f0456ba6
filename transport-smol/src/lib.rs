//! # handin-smol
//!
//! Drives handin-core connections over [smol] and async-io: a task per connection on a small
//! executor with one thread per core, each task waiting on its socket's readiness, an
//! `async_io::Timer` for the connection's next deadline, its wake-up from the application, and
//! the shutdown signal. The byte moving, backpressure and deadline handling are the same
//! [`handin_core::driver::Pump`] the mio transport uses; only the waiting differs.
//!
//! [`serve`] makes its own executor and threads; [`serve_async`] is the same server as a future
//! that spawns its connections on an executor the caller already runs. On the client side,
//! [`SmolLink`] drives one connection and blocks its thread, while [`connect_async`] and
//! [`run_async`] are the same client as futures, for running many connections as tasks on one
//! executor (a load generator, say). Deadlines are instants of the monotonic clock
//! (`async_io::Timer::at`), so a step of the wall clock moves none of them.

mod client;
mod listeners;
mod server;

pub use client::{connect_async, run_async, SmolLink};
pub use server::{serve, serve_async};

/// Re-exported so callers of [`serve_async`] and [`run_async`] name the same executor, `Async`
/// and timer types.
pub use smol;

use handin_core::Now;
use std::time::{Instant, SystemTime};

/// Reads both clocks: timers run on the monotonic one, certificates on the wall one.
fn clock() -> Now {
    Now::new(Instant::now(), SystemTime::now())
}

/// A timer firing at a deadline of the monotonic clock (or never): a step of the wall clock
/// moves it neither way.
fn timer_at(until: Option<Instant>) -> smol::Timer {
    match until {
        Some(at) => smol::Timer::at(at),
        None => smol::Timer::never(),
    }
}
