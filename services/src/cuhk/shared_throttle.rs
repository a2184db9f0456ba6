//! The wrong-code throttle of several CUHK nodes, kept in their shared database
//! ([`ThrottleRecords`]): one row per source address, pushed later by each wrong code in one
//! statement, so that a guesser spreading guesses over the nodes is held back as by one node.
//! The waits are the in-memory throttle's ([`wait`]).
//!
//! If the database cannot be read, an enrollment goes ahead (it is decided in the same database,
//! so it fails there with "try again" all the same) and the failure is logged; a wrong code
//! that cannot be counted is logged too.

use super::throttle::{wait, Source, Throttle, ADDRESS_BURST, ADDRESS_INTERVAL};
use crate::store::ThrottleRecords;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// How often rows whose counts ran out are removed.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// A throttle in shared records. See the [module documentation](self).
#[derive(Debug)]
pub struct SharedThrottle {
    records: Box<dyn ThrottleRecords>,
    burst: u32,
    interval: Duration,
    /// When rows were last swept, in seconds since the epoch.
    swept: AtomicU64,
}

impl SharedThrottle {
    /// The default limits ([`ADDRESS_BURST`] at once, one per [`ADDRESS_INTERVAL`]) over
    /// `records`.
    pub fn new(records: Box<dyn ThrottleRecords>) -> Self {
        Self::with_limits(records, ADDRESS_BURST, ADDRESS_INTERVAL)
    }

    /// `burst` wrong codes at once per source, then one per `interval`, over `records`.
    pub fn with_limits(records: Box<dyn ThrottleRecords>, burst: u32, interval: Duration) -> Self {
        Self {
            records,
            burst: burst.max(1),
            interval,
            swept: AtomicU64::new(0),
        }
    }

    fn sweep(&self, now: SystemTime) {
        let secs = handin_core::pki::unix_secs(now);
        let last = self.swept.load(Ordering::Relaxed);
        if secs < last.saturating_add(SWEEP_EVERY.as_secs())
            || self
                .swept
                .compare_exchange(last, secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(e) = self.records.forget_before(now) {
            tracing::warn!(error = %e, "cannot remove old wrong-code counts");
        }
    }
}

impl Throttle for SharedThrottle {
    fn check(&self, ip: IpAddr, now: SystemTime) -> Result<(), Duration> {
        match self.records.until(&Source::of(ip).to_string()) {
            Ok(Some(until)) => wait(until, now, self.burst, self.interval),
            Ok(None) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, %ip, "cannot read the wrong-code count: not throttling");
                Ok(())
            }
        }
    }

    fn wrong_code(&self, ip: IpAddr, now: SystemTime) {
        if let Err(e) = self
            .records
            .push(&Source::of(ip).to_string(), now, self.interval)
        {
            tracing::warn!(error = %e, %ip, "cannot count a wrong code");
        }
        self.sweep(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::tests::{at, fresh_url};
    use crate::store::PgThrottle;

    fn node(url: &str) -> SharedThrottle {
        SharedThrottle::with_limits(
            Box::new(PgThrottle::open(url).unwrap()),
            3,
            Duration::from_secs(10),
        )
    }

    #[test]
    fn wrong_codes_spread_over_nodes_count_as_at_one() {
        let url = fresh_url("shared_throttle");
        let (a, b) = (node(&url), node(&url));
        let guesser: IpAddr = "10.1.2.3".parse().unwrap();
        let other: IpAddr = "10.1.2.4".parse().unwrap();
        let t = at(1_900_000_000);
        a.wrong_code(guesser, t);
        b.wrong_code(guesser, t);
        assert_eq!(a.check(guesser, t), Ok(()), "two of a burst of three");
        a.wrong_code(guesser, t);
        // The third wrong code, counted by node a, holds the source back on node b too.
        assert_eq!(b.check(guesser, t), Err(Duration::from_secs(10)));
        assert_eq!(a.check(guesser, t), Err(Duration::from_secs(10)));
        assert_eq!(b.check(other, t), Ok(()));
        assert_eq!(b.check(guesser, t + Duration::from_secs(10)), Ok(()));
        // The same waits as one process's table.
        let mut memory =
            super::super::throttle::AddressThrottle::new(3, Duration::from_secs(10), 8);
        for _ in 0..3 {
            memory.wrong_code(guesser, t);
        }
        assert_eq!(memory.check(guesser, t), b.check(guesser, t));
    }

    #[test]
    fn a_database_that_is_gone_throttles_nobody_and_panics_nowhere() {
        let server = crate::store::postgres::local::LocalPostgres::start().unwrap();
        let url = server.url("gone").unwrap();
        let throttle = node(&url);
        let ip: IpAddr = "10.9.9.9".parse().unwrap();
        for _ in 0..3 {
            throttle.wrong_code(ip, at(1_900_000_000));
        }
        assert!(throttle.check(ip, at(1_900_000_000)).is_err());
        server.stop().unwrap();
        throttle.wrong_code(ip, at(1_900_000_000));
        assert_eq!(throttle.check(ip, at(1_900_000_000)), Ok(()));
        server.start_again().unwrap();
        // A connection broken by the restart may cost one more call before a new one is made.
        let held = (0..3).any(|_| throttle.check(ip, at(1_900_000_000)).is_err());
        assert!(held, "the counts are there again once the database is back");
    }
}
