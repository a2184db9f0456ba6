//! Throttling of enrollment code guesses: per client address and per connection, never per
//! student ID.
//!
//! A code is 16 characters from a 31-symbol alphabet: 31^16 ≈ 2^79 possibilities. Guessing one
//! is hopeless at any rate a server can answer, so the throttle does not protect the codes; it
//! bounds what one client may make CUHK do and keeps guessers from crowding out students. It must
//! never hurt the real student, so nothing here is keyed by student ID: someone who knows a
//! student's ID can neither lock that student out nor spend their code, however many wrong codes
//! they send for it.
//!
//! - Per address ([`AddressThrottle`]): every source address (an IPv4 address, or the /64 of an
//!   IPv6 one, which one client usually holds whole) may send [`ADDRESS_BURST`] wrong codes at
//!   once, then one more per [`ADDRESS_INTERVAL`] (a generic cell-rate limiter: each wrong code
//!   pushes the source's `until` one interval later). While it is over, every enrollment from
//!   that source is refused as `Throttled`, with the seconds to wait, before any work is queued.
//!   The table is bounded ([`MAX_ADDRESSES`]).
//! - Per connection ([`closes_after`]): a connection that made [`CONNECTION_LIMIT`] failed
//!   attempts (wrong or throttled) is closed once the last refusal is sent; a real client makes
//!   one attempt per connection.
//!
//! One CUHK keeps the state in memory ([`AddressThrottle`]): a restart forgets it, which only
//! lets a guesser start a new burst. Several CUHK nodes keep it in their shared database
//! ([`SharedThrottle`](super::shared_throttle::SharedThrottle)), so that a guesser gains nothing
//! by spreading guesses over the nodes; both are a [`Throttle`] and compute the same waits
//! ([`wait`]). Pure: every call takes the time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Where the wrong-code counts per source address are kept.
pub trait Throttle: Send + Sync + std::fmt::Debug {
    /// Whether an enrollment from `ip` may go ahead at `now`; if not, how long to wait.
    fn check(&self, ip: IpAddr, now: SystemTime) -> Result<(), Duration>;
    /// Counts a wrong code from `ip` at `now`.
    fn wrong_code(&self, ip: IpAddr, now: SystemTime);
}

impl Throttle for Mutex<AddressThrottle> {
    fn check(&self, ip: IpAddr, now: SystemTime) -> Result<(), Duration> {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(ip, now)
    }

    fn wrong_code(&self, ip: IpAddr, now: SystemTime) {
        self.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .wrong_code(ip, now)
    }
}

/// How long a source whose count runs out at `until` must wait at `now`, allowing `burst`
/// wrong codes at once and one per `interval` after them.
pub fn wait(
    until: SystemTime,
    now: SystemTime,
    burst: u32,
    interval: Duration,
) -> Result<(), Duration> {
    let ahead = until.duration_since(now).unwrap_or_default();
    let allowed = interval.saturating_mul(burst.max(1) - 1);
    match ahead.checked_sub(allowed) {
        Some(wait) if !wait.is_zero() => Err(wait),
        _ => Ok(()),
    }
}

/// Wrong codes one source address may send at once before it is throttled.
pub const ADDRESS_BURST: u32 = 20;
/// After the burst, a source may send one more wrong code per interval.
pub const ADDRESS_INTERVAL: Duration = Duration::from_secs(6);
/// Failed attempts (wrong codes or throttled ones) after which a connection is closed.
pub const CONNECTION_LIMIT: u32 = 3;
/// The most source addresses remembered at once.
pub const MAX_ADDRESSES: usize = 65_536;

/// Whether a connection that made `failed` failed attempts is to be closed.
pub fn closes_after(failed: u32) -> bool {
    failed >= CONNECTION_LIMIT
}

/// The part of a peer's address taken to be one client: an IPv4 address (also when mapped into
/// IPv6), or the first 64 bits of an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source `ip` belongs to.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => Self(IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into())),
            },
        }
    }
}

impl std::fmt::Display for Source {
    /// An IPv4 address, or an IPv6 /64 as `prefix::/64`: the key in a shared table.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Wrong enrollment codes per source address. See the [module documentation](self).
#[derive(Debug)]
pub struct AddressThrottle {
    /// Per source, when its count of recent wrong codes is back to zero.
    until: HashMap<Source, SystemTime>,
    burst: u32,
    interval: Duration,
    capacity: usize,
}

impl Default for AddressThrottle {
    fn default() -> Self {
        Self::new(ADDRESS_BURST, ADDRESS_INTERVAL, MAX_ADDRESSES)
    }
}

impl AddressThrottle {
    /// A throttle allowing `burst` wrong codes at once per source, then one per `interval`,
    /// remembering at most `capacity` sources.
    pub fn new(burst: u32, interval: Duration, capacity: usize) -> Self {
        Self {
            until: HashMap::new(),
            burst: burst.max(1),
            interval,
            capacity: capacity.max(1),
        }
    }

    /// Whether an enrollment from `ip` may go ahead at `now`; if not, how long to wait.
    pub fn check(&self, ip: IpAddr, now: SystemTime) -> Result<(), Duration> {
        match self.until.get(&Source::of(ip)) {
            Some(until) => wait(*until, now, self.burst, self.interval),
            None => Ok(()),
        }
    }

    /// Counts a wrong code from `ip` at `now`.
    pub fn wrong_code(&mut self, ip: IpAddr, now: SystemTime) {
        let source = Source::of(ip);
        if !self.until.contains_key(&source) && self.until.len() >= self.capacity {
            self.make_room(now);
        }
        let until = self.until.entry(source).or_insert(now);
        *until = (*until).max(now) + self.interval;
    }

    /// Sources remembered (those whose wrong codes have not all run out yet, and maybe some
    /// that have).
    pub fn len(&self) -> usize {
        self.until.len()
    }

    /// Whether no source is remembered.
    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }

    /// Forgets the sources whose wrong codes have run out; if none has, the one closest to it,
    /// so that the sources held back longest stay remembered.
    fn make_room(&mut self, now: SystemTime) {
        self.until.retain(|_, until| *until > now);
        if self.until.len() >= self.capacity {
            let soonest = self.until.iter().min_by_key(|(_, until)| **until);
            if let Some(source) = soonest.map(|(source, _)| *source) {
                self.until.remove(&source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_burst_of_wrong_codes_passes_then_one_per_interval() {
        let mut th = AddressThrottle::default();
        let a = ip("10.0.0.1");
        for _ in 0..ADDRESS_BURST {
            assert_eq!(th.check(a, t(0)), Ok(()));
            th.wrong_code(a, t(0));
        }
        assert_eq!(th.check(a, t(0)), Err(ADDRESS_INTERVAL));
        assert_eq!(th.check(a, t(5)), Err(S));
        assert_eq!(th.check(a, t(6)), Ok(()));
        th.wrong_code(a, t(6));
        assert_eq!(th.check(a, t(6)), Err(ADDRESS_INTERVAL));
        // Guessing on while throttled is refused before it counts, so the wait never grows
        // past one interval; a pause gives the burst back.
        assert_eq!(th.check(a, t(12)), Ok(()));
        let rested = 12 + 6 * u64::from(ADDRESS_BURST);
        for _ in 0..ADDRESS_BURST {
            assert_eq!(th.check(a, t(rested)), Ok(()));
            th.wrong_code(a, t(rested));
        }
        assert!(th.check(a, t(rested)).is_err());
    }

    #[test]
    fn sources_are_throttled_apart_and_an_ipv6_client_is_its_slash_64() {
        let mut th = AddressThrottle::new(2, 10 * S, 100);
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        th.wrong_code(a, t(0));
        th.wrong_code(a, t(0));
        assert_eq!(th.check(a, t(0)), Err(10 * S));
        assert_eq!(th.check(b, t(0)), Ok(()));
        // The same IPv4 address mapped into IPv6 is the same client.
        assert!(th.check(ip("::ffff:10.0.0.1"), t(0)).is_err());

        th.wrong_code(ip("2001:db8:1:2::1"), t(0));
        th.wrong_code(ip("2001:db8:1:2:ffff::9"), t(0));
        assert!(th.check(ip("2001:db8:1:2:abcd::1"), t(0)).is_err());
        assert_eq!(th.check(ip("2001:db8:1:3::1"), t(0)), Ok(()));
        assert_eq!(th.len(), 2);
    }

    #[test]
    fn a_clock_that_steps_back_keeps_waits_in_wall_time() {
        let mut th = AddressThrottle::new(1, 10 * S, 100);
        let a = ip("10.0.0.1");
        th.wrong_code(a, t(100));
        assert_eq!(th.check(a, t(50)), Err(60 * S));
        th.wrong_code(a, t(50));
        assert_eq!(th.check(a, t(100)), Err(20 * S));
    }

    #[test]
    fn the_table_is_bounded_and_keeps_the_sources_held_back_longest() {
        let mut th = AddressThrottle::new(1, 10 * S, 3);
        let addr = |i: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i));
        th.wrong_code(addr(1), t(0));
        th.wrong_code(addr(1), t(0)); // held back until t(20)
        th.wrong_code(addr(2), t(5)); // until t(15)
        th.wrong_code(addr(3), t(8)); // until t(18)
        th.wrong_code(addr(4), t(9)); // full: the soonest to run out (2) goes
        assert_eq!(th.len(), 3);
        assert_eq!(th.check(addr(2), t(9)), Ok(()));
        for i in [1, 3, 4] {
            assert!(th.check(addr(i), t(9)).is_err(), "{i}");
        }
        // Later, every entry has run out and all go at once.
        th.wrong_code(addr(5), t(100));
        assert_eq!(th.len(), 1);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        th.wrong_code(v6, t(100));
        assert_eq!(th.len(), 2);
    }

    #[test]
    fn a_connection_closes_at_its_limit() {
        assert!(!closes_after(0));
        assert!(!closes_after(CONNECTION_LIMIT - 1));
        assert!(closes_after(CONNECTION_LIMIT));
    }
}
