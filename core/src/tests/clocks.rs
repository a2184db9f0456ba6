//! Two clocks: deadlines follow the monotonic one, certificate validity the wall one. A wall
//! clock that steps by hours (NTP, a suspended machine, an operator) neither fires a deadline
//! early nor holds one back, and a certificate is judged by the calendar.

use super::t0;
use crate::error::{Error, RefusalCode};
use crate::harness::{Campus, Pair};
use crate::{Now, Role, SubmitClient, SubmitServer};
use std::time::{Duration, Instant};

const ALICE: &str = "1155000001";
const HOUR: Duration = Duration::from_secs(3600);
const NANO: Duration = Duration::from_nanos(1);

/// The moment `mono` after `start` on the monotonic clock, while the wall clock has stepped
/// `ahead` (or back, if negative) hours from where it would be.
fn stepped(start: Now, mono: Duration, ahead: i64) -> Now {
    let wall = start.wall + mono;
    let step = HOUR * ahead.unsigned_abs() as u32;
    Now::new(
        start.mono + mono,
        if ahead >= 0 { wall + step } else { wall - step },
    )
}

/// Calls `handle_timeout` on the server at `now`, as a transport whose timer fired would.
fn tick(pair: &mut Pair<SubmitClient, SubmitServer>, now: Now) {
    pair.now = now;
    let _ = pair.server.handle_timeout(now);
}

/// Alice, connected at the start, with a client that never gives up first.
fn connected(campus: &mut Campus) -> Pair<SubmitClient, SubmitServer> {
    let alice = campus.new_student(ALICE);
    let patient = crate::Timeouts {
        handshake: campus.timeouts.handshake * 100,
        idle: campus.timeouts.idle * 100,
    };
    let cfg = campus
        .client_config(Role::Submit, Some(alice))
        .with_timeouts(patient);
    let mut pair = campus.submit_pair_with(&cfg);
    campus.connect_submit(&mut pair).expect("connected");
    pair
}

fn deadline(pair: &Pair<SubmitClient, SubmitServer>) -> Instant {
    pair.server.poll_timeout().expect("a deadline")
}

#[test]
fn the_handshake_deadline_fires_when_the_monotonic_clock_says_whatever_the_wall_clock_does() {
    let start = t0();
    let campus = Campus::new(start);
    let mut pair = campus.submit_pair(None);
    // The client's hello never reaches the server.
    pair.client.poll_transmit(&mut Vec::new());
    let limit = campus.timeouts.handshake;
    assert_eq!(deadline(&pair), start.mono + limit);

    for (mono, ahead) in [(Duration::ZERO, 9), (limit / 2, -9), (limit - NANO, 48)] {
        tick(&mut pair, stepped(start, mono, ahead));
        assert!(
            pair.server.error().is_none(),
            "fired at {mono:?}, wall {ahead:+} h"
        );
        assert_eq!(deadline(&pair), start.mono + limit, "the deadline moved");
    }
    tick(&mut pair, stepped(start, limit, -48));
    assert!(
        matches!(pair.server.error(), Some(Error::Timeout(_))),
        "{:?}",
        pair.server.error()
    );
}

#[test]
fn the_idle_deadline_fires_when_the_monotonic_clock_says_whatever_the_wall_clock_does() {
    let mut campus = Campus::new(t0());
    let mut pair = connected(&mut campus);
    let start = pair.now;
    let idle = campus.timeouts.idle;
    assert_eq!(deadline(&pair), start.mono + idle);

    for (mono, ahead) in [(idle / 3, 5), (idle / 2, -5), (idle - NANO, 30)] {
        tick(&mut pair, stepped(start, mono, ahead));
        assert!(
            pair.server.error().is_none(),
            "fired at {mono:?}, wall {ahead:+} h"
        );
        assert_eq!(deadline(&pair), start.mono + idle, "the deadline moved");
    }
    tick(&mut pair, stepped(start, idle, -30));
    assert!(
        matches!(pair.server.error(), Some(Error::Timeout(_))),
        "{:?}",
        pair.server.error()
    );
}

#[test]
fn the_certificate_end_fires_when_the_monotonic_clock_reaches_it_whatever_the_wall_clock_does() {
    let mut campus = Campus::new(t0());
    campus.registrar.lifetime = HOUR;
    // Long enough that only the certificate's end can close this connection.
    campus.timeouts.idle = 24 * HOUR;
    let mut pair = connected(&mut campus);
    let start = pair.now;
    // Issued at the start, for an hour: its end is an hour away on the monotonic clock.
    assert_eq!(deadline(&pair), start.mono + HOUR);

    // The wall clock says the certificate expired long ago (or is not valid yet); the timer
    // does not care: it was set once, when the student was authenticated.
    for (mono, ahead) in [(HOUR / 2, -3), (HOUR / 2, 5), (HOUR - NANO, 12)] {
        tick(&mut pair, stepped(start, mono, ahead));
        assert!(
            pair.server.error().is_none(),
            "fired at {mono:?}, wall {ahead:+} h"
        );
        assert_eq!(deadline(&pair), start.mono + HOUR, "the deadline moved");
    }
    tick(&mut pair, stepped(start, HOUR, -2));
    assert!(
        matches!(pair.server.error(), Some(Error::Refused(r)) if r.code == RefusalCode::Expired),
        "{:?}",
        pair.server.error()
    );
}

#[test]
fn a_request_is_judged_by_the_wall_clock_when_it_steps_past_the_certificate_end() {
    let mut campus = Campus::new(t0());
    campus.registrar.lifetime = HOUR;
    campus.timeouts.idle = 24 * HOUR;
    let mut pair = connected(&mut campus);
    let start = pair.now;
    // A minute later by the monotonic clock, two hours later by the calendar.
    pair.now = stepped(start, Duration::from_secs(60), 2);
    let listed = campus.list(&mut pair, None);
    assert!(listed.is_err(), "{listed:?}");
    assert!(
        matches!(pair.server.error(), Some(Error::Refused(r)) if r.code == RefusalCode::Expired),
        "{:?}",
        pair.server.error()
    );
}

#[test]
fn a_handshake_is_judged_by_the_wall_clock_when_it_steps_back_before_the_certificates() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let cfg = campus.client_config(Role::Submit, Some(alice));
    let start = campus.now;

    // Three hours before anything was issued, by the calendar: nothing verifies.
    campus.now = stepped(start, Duration::from_secs(60), -3);
    let mut early = campus.submit_pair_with(&cfg);
    assert!(campus.connect_submit(&mut early).is_err());
    assert!(
        matches!(
            early.client.error(),
            Some(Error::Tls(rustls::Error::InvalidCertificate(_)))
        ),
        "{:?}",
        early.client.error()
    );

    // The calendar set right again: the same client connects.
    campus.now = stepped(start, Duration::from_secs(120), 0);
    let mut pair = campus.submit_pair_with(&cfg);
    campus.connect_submit(&mut pair).expect("connects");
}
