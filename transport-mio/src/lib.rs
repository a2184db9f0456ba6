//! # handin-mio
//!
//! Drives handin-core connections over [mio]: a server of one event loop per core with a
//! token-to-connection map, interest derived from what each connection wants, the connections'
//! deadlines kept in a timer heap (the poll timeout is the earliest), write backpressure, a
//! connection limit and graceful shutdown; and a client link for the `student` binary. Timers
//! run on the monotonic clock, so a step of the wall clock neither fires them early nor late.
//!
//! It knows nothing of the protocol: it drives anything that implements
//! [`handin_core::driver::Driven`].

mod client;
mod listeners;
mod server;

pub use client::MioLink;
pub use server::serve;

use handin_core::Now;
use std::time::{Instant, SystemTime};

/// Reads both clocks: timers run on the monotonic one, certificates on the wall one.
fn clock() -> Now {
    Now::new(Instant::now(), SystemTime::now())
}
