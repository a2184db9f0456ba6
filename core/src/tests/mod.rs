//! Tests on the in-memory harness, and of the text encodings the core writes and reads.

mod accept;
mod bootstrap;
mod clocks;
mod encoding;
mod http;
mod key_exchange;
mod logs;
mod model;
mod props;
mod refusals;
mod scenario;
mod staff;
mod staff_enroll;
mod staff_messages;
mod staff_props;
mod standing;
mod streamed;

use crate::time::Now;
use std::sync::OnceLock;
use std::time::Instant;

/// The origin of the tests' virtual monotonic clock. An `Instant` has no meaning of its own and
/// cannot be made without reading the clock, so the tests read it here, once per process; every
/// deadline is then a fixed distance from it, and nothing else in the core reads a clock.
pub(crate) fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The tests' starting moment: the harness's fixed wall time, at the monotonic origin.
pub(crate) fn t0() -> Now {
    Now::new(origin(), crate::harness::t0())
}
