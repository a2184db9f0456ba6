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
