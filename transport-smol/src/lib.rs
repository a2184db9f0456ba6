//! # handin-smol
//!
//! Drives handin-core connections over [smol] and async-io: a task per connection on a small
//! executor with one thread per core, each task waiting on its socket's readiness, an
//! `async_io::Timer` for the connection's next deadline, its wake-up from the application, and
//! the shutdown signal. The byte moving, backpressure and deadline handling are the same
//! [`handin_core::driver::Pump`] the mio transport uses; only the waiting differs.
//!
//! On the client side, [`SmolLink`] drives one connection and blocks its thread, while
//! [`connect_async`] and [`run_async`] are the same client as futures, for running many
//! connections as tasks on one executor (a load generator, say).

mod client;
mod server;

pub use client::{connect_async, run_async, SmolLink};
pub use server::serve;

/// Re-exported so callers of [`run_async`] name the same executor, `Async` and timer types.
pub use smol;

use std::time::{Duration, Instant, SystemTime};

/// A timer firing at a wall-clock deadline (or never).
fn timer_at(until: Option<SystemTime>) -> smol::Timer {
    match until {
        Some(at) => {
            let wait = at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            smol::Timer::at(Instant::now() + wait)
        }
        None => smol::Timer::never(),
    }
}
