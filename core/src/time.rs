//! Time as the core takes it: a moment on two clocks, both read by the caller.
//!
//! Deadlines (handshake, idle, the end of the peer certificate's validity while connected) run
//! on the monotonic clock, so a step of the wall clock (NTP, a suspended laptop, an operator
//! with `date -s`) neither fires every deadline at once nor freezes them. Whatever is about the
//! calendar runs on the wall clock: certificate validity (rustls's injected time and the
//! standing checks), a submission's `received_at`, the server time in the Welcome.

use std::ops::{Add, AddAssign};
use std::time::{Duration, Instant, SystemTime};

/// A moment, as the caller's two clocks tell it. Every input of a connection takes one.
///
/// Make one per turn of the event loop, from `now()` of [`Instant`] and of [`SystemTime`],
/// right before feeding the connection. The core never reads a clock itself; a test or a simulation passes a virtual one, and may
/// move the two clocks independently (a wall clock that steps while the monotonic one runs on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time: every deadline of [`poll_timeout`](crate::Connection::poll_timeout) is
    /// an instant on this clock.
    pub mono: Instant,
    /// Wall-clock time: certificate validity, receipts and the Welcome's server time.
    pub wall: SystemTime,
}

impl Now {
    /// The moment at which the monotonic clock reads `mono` and the wall clock `wall`.
    pub const fn new(mono: Instant, wall: SystemTime) -> Self {
        Self { mono, wall }
    }
}

/// Both clocks moved on by the same amount (a virtual clock ticking).
impl Add<Duration> for Now {
    type Output = Now;

    fn add(self, by: Duration) -> Now {
        Now {
            mono: self.mono + by,
            wall: self.wall + by,
        }
    }
}

impl AddAssign<Duration> for Now {
    fn add_assign(&mut self, by: Duration) {
        *self = *self + by;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_clocks_tick_together() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let start = Now::new(crate::tests::origin(), wall);
        let later = start + Duration::from_secs(90);
        assert_eq!(later.mono - start.mono, Duration::from_secs(90));
        assert_eq!(later.wall, wall + Duration::from_secs(90));
    }
}
