//! When an assignment takes submissions: open or closed by its staff, a due time (after which a
//! submission is late), an optional cut-off time (after which it is refused), and per-student
//! extensions. Times are whole seconds since the Unix epoch.
//!
//! An extension moves one student's due time; if the assignment has a cut-off earlier than the
//! extended due time, the extension moves that student's cut-off to the extended due time too
//! (an extension that still refused the work would mean nothing). A submission is admitted by
//! the time its offer arrives: an upload that began before the cut-off is not cut off halfway.

use super::lateness::Deadline;
use crate::{Refusal, RefusalCode};

/// An assignment's timing, as its staff set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Due second: a submission received after it is late.
    pub due: u64,
    /// Cut-off second: an offer arriving after it is refused. `None`: late work is taken
    /// without limit.
    pub cutoff: Option<u64>,
    /// Closed by its staff: nothing is taken until it is reopened.
    pub open: bool,
}

impl Window {
    /// The due second in force for a student with this extension (if any).
    pub fn deadline(&self, extension: Option<u64>) -> Deadline {
        Deadline::new(self.due).extended(extension)
    }

    /// The cut-off second in force for a student with this extension (if any).
    pub fn cutoff_for(&self, extension: Option<u64>) -> Option<u64> {
        self.cutoff.map(|c| match extension {
            Some(until) => c.max(until),
            None => c,
        })
    }

    /// Whether an offer arriving at `now` from a student with `extension` may be taken.
    pub fn admit(&self, now: u64, extension: Option<u64>) -> Result<(), Refusal> {
        if !self.open {
            return Err(Refusal::new(
                RefusalCode::Closed,
                "this assignment is closed to submissions; ask the course's staff",
            ));
        }
        match self.cutoff_for(extension) {
            Some(cutoff) if now > cutoff => Err(Refusal::new(
                RefusalCode::Closed,
                format!(
                    "the cut-off time of this assignment ({}) has passed; late work is no \
                     longer accepted",
                    time_text(cutoff)
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The latest time accepted: 9999-12-31T23:59:59Z, in seconds since the Unix epoch (every
/// later step of time arithmetic stays far from overflowing).
pub const MAX_TIME: u64 = 253_402_300_799;

fn time_text(secs: u64) -> String {
    crate::pki::rfc3339(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Checks a time field: at most [`MAX_TIME`]. A refusal is `BadField`.
pub fn check_time(what: &str, t: u64) -> Result<(), Refusal> {
    if t > MAX_TIME {
        return Err(Refusal::new(
            RefusalCode::BadField,
            format!("the {what} {t} is after the year 9999"),
        ));
    }
    Ok(())
}

/// Whether staff may set these times at `now`: times before [`MAX_TIME`], a cut-off not before
/// the due time (`BadField`), and a due time and cut-off not in the past unless `allow_past`
/// (`DueInPast`).
pub fn check_new_times(
    now: u64,
    due: u64,
    cutoff: Option<u64>,
    allow_past: bool,
) -> Result<(), Refusal> {
    check_time("due time", due)?;
    if let Some(c) = cutoff {
        check_time("cut-off time", c)?;
        if c < due {
            return Err(Refusal::new(
                RefusalCode::BadField,
                "the cut-off time is before the due time; a cut-off ends late submissions, so \
                 it is at or after the due time",
            ));
        }
    }
    if allow_past {
        return Ok(());
    }
    if due < now {
        return Err(Refusal::new(
            RefusalCode::DueInPast,
            format!(
                "the due time {} is in the past; give a future time, or say that a past one is \
                 meant (--allow-past)",
                time_text(due)
            ),
        ));
    }
    if let Some(c) = cutoff.filter(|c| *c < now) {
        return Err(Refusal::new(
            RefusalCode::DueInPast,
            format!(
                "the cut-off time {} is in the past; give a future time, or say that a past one \
                 is meant (--allow-past)",
                time_text(c)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Window = Window {
        due: 1000,
        cutoff: Some(2000),
        open: true,
    };

    #[test]
    fn the_cut_off_refuses_and_an_extension_moves_it() {
        assert!(W.admit(2000, None).is_ok());
        let r = W.admit(2001, None).unwrap_err();
        assert_eq!(r.code, RefusalCode::Closed);
        assert!(W.admit(2500, Some(3000)).is_ok());
        assert!(W.admit(3001, Some(3000)).is_err());
        // An extension before the cut-off leaves the cut-off where it was.
        assert!(W.admit(1999, Some(1500)).is_ok());
        let none = Window { cutoff: None, ..W };
        assert!(none.admit(u64::MAX, None).is_ok());
    }

    #[test]
    fn a_closed_assignment_takes_nothing() {
        let closed = Window { open: false, ..W };
        assert_eq!(
            closed.admit(0, Some(5000)).unwrap_err().code,
            RefusalCode::Closed
        );
    }

    #[test]
    fn lateness_follows_the_extension() {
        assert!(W.deadline(None).is_late(1001));
        assert!(!W.deadline(Some(1500)).is_late(1400));
    }

    #[test]
    fn new_times_must_make_sense() {
        assert!(check_new_times(500, 1000, Some(2000), false).is_ok());
        assert!(check_new_times(1500, 1000, None, false).is_err());
        assert!(check_new_times(1500, 1000, None, true).is_ok());
        assert!(check_new_times(500, 1000, Some(999), false).is_err());
        assert_eq!(
            check_new_times(1500, 1000, Some(2000), false)
                .unwrap_err()
                .code,
            RefusalCode::DueInPast
        );
        assert_eq!(
            check_new_times(1500, 1600, Some(1550), false)
                .unwrap_err()
                .code,
            RefusalCode::BadField
        );
        assert_eq!(
            check_new_times(500, 1000, Some(400), true)
                .unwrap_err()
                .code,
            RefusalCode::BadField
        );
        assert!(check_new_times(0, MAX_TIME + 1, None, true).is_err());
    }
}
