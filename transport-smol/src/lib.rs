//! # handin-smol
//!
//! Drives handin-core connections over [smol] and async-io: a task per connection on a small
//! executor with one thread per core, each task waiting on its socket's readiness, an
//! `async_io::Timer` for the connection's next deadline, its wake-up from the application, and
//! the shutdown signal. The byte moving, backpressure and deadline handling are the same
//! [`handin_core::driver::Pump`] the mio transport uses; only the waiting differs.

mod client;
mod server;

pub use client::SmolLink;
pub use server::serve;

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
