//! The handin clients as a library: the student's profile and its exchanges with CUHK and
//! Blackboard (enroll, renew, submit, list, fetch, verify a receipt), each written once against
//! any transport's [`Link`](handin_core::driver::Link), and the choice of transport.

pub mod net;
pub mod printable;
pub mod student;

use std::time::SystemTime;

/// Formats a time as RFC 3339 in UTC.
pub fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "?".into())
}
