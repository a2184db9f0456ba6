//! The handin clients as a library: the student's profile and its exchanges with CUHK and
//! Blackboard (enroll, renew, submit, list, fetch, verify a receipt), each written once against
//! any transport's [`Link`](handin_core::driver::Link), and the choice of transport.

pub mod net;
pub mod printable;
pub mod student;

use std::time::SystemTime;

/// Formats a time as RFC 3339 in UTC. Any time a certificate can hold prints, before 1970
/// (`UTCTime` reaches back to 1950) and up to the year 9999.
pub fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::rfc3339;
    use std::time::{Duration, SystemTime};

    #[test]
    fn times_a_certificate_can_hold_print_in_utc() {
        let at = |secs: i64| {
            let d = Duration::from_secs(secs.unsigned_abs());
            if secs < 0 {
                SystemTime::UNIX_EPOCH - d
            } else {
                SystemTime::UNIX_EPOCH + d
            }
        };
        assert_eq!(rfc3339(at(1_796_083_200)), "2026-12-01T00:00:00Z");
        assert_eq!(rfc3339(at(-86_400)), "1969-12-31T00:00:00Z");
        assert_eq!(rfc3339(at(-631_152_000)), "1950-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(253_402_300_799)), "9999-12-31T23:59:59Z");
    }
}
