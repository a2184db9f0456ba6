//! When a submission is late. Times are whole seconds since the Unix epoch, as Blackboard
//! keeps them: a submission received during the due second is on time, one received after it
//! is late.
//!
//! A commitment ([`crate::logs::Commitment`]) to the exact bytes, logged at or before the due
//! second, makes a submission of those bytes received within the assignment's grace period
//! after the due second count as on time ([`Deadline::is_late_committed`]). Commitments are
//! taken only until the due second ([`Deadline::may_commit`]).

/// The due second that applies to one student's submission to one assignment: the
/// assignment's, or the one of an extension granted to that student.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    due: u64,
}

impl Deadline {
    /// The deadline of an assignment due at `due` (seconds since the Unix epoch), for a student
    /// without an extension.
    pub fn new(due: u64) -> Self {
        Self { due }
    }

    /// The deadline for a student granted an extension to `until`, if one was granted: the
    /// extension's due second replaces the assignment's for that student.
    pub fn extended(self, until: Option<u64>) -> Self {
        match until {
            Some(due) => Self { due },
            None => self,
        }
    }

    /// The due second in force.
    pub fn due(&self) -> u64 {
        self.due
    }

    /// Whether a submission received at `received_at` is late: received after the due second.
    pub fn is_late(&self, received_at: u64) -> bool {
        received_at > self.due
    }

    /// Whether a submission received at `received_at` is late, given the earliest commitment
    /// to its bytes (`committed_at`, if any) and the assignment's grace period in seconds: on
    /// time if received by the due second, or committed to by the due second and received
    /// within `grace` seconds after it.
    pub fn is_late_committed(
        &self,
        received_at: u64,
        committed_at: Option<u64>,
        grace: u64,
    ) -> bool {
        self.is_late(received_at) && !self.saved_by(received_at, committed_at, grace)
    }

    /// Whether a commitment made the submission received at `received_at` on time (it would
    /// be late without it).
    pub fn saved_by(&self, received_at: u64, committed_at: Option<u64>, grace: u64) -> bool {
        self.is_late(received_at)
            && committed_at.is_some_and(|c| c <= self.due)
            && received_at <= self.due.saturating_add(grace)
    }

    /// Whether a commitment arriving at `now` is taken: only up to the due second (after it,
    /// there is nothing left to prove).
    pub fn may_commit(&self, now: u64) -> Result<(), crate::Refusal> {
        if self.is_late(now) {
            return Err(crate::Refusal::new(
                crate::RefusalCode::Closed,
                format!(
                    "the due time ({}) has passed: a commitment is taken only before it; submit \
                     the file instead",
                    crate::pki::rfc3339(
                        std::time::SystemTime::UNIX_EPOCH
                            + std::time::Duration::from_secs(self.due)
                    )
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_due_second_itself_is_on_time_and_the_next_is_late() {
        let d = Deadline::new(1000);
        assert!(!d.is_late(0));
        assert!(!d.is_late(1000));
        assert!(d.is_late(1001));
    }

    #[test]
    fn an_extension_moves_the_deadline_for_its_student_only() {
        let d = Deadline::new(1000);
        assert_eq!(d.extended(None), d);
        let longer = d.extended(Some(2000));
        assert_eq!(longer.due(), 2000);
        assert!(!longer.is_late(1500));
        assert!(d.is_late(1500));
    }

    #[test]
    fn a_commitment_before_the_due_time_saves_a_submission_within_the_grace() {
        let d = Deadline::new(1000);
        // Committed in time, received within the grace: on time.
        assert!(!d.is_late_committed(1300, Some(900), 300));
        assert!(d.saved_by(1300, Some(1000), 300));
        // One second after the grace: late.
        assert!(d.is_late_committed(1301, Some(900), 300));
        // Committed after the due second: late.
        assert!(d.is_late_committed(1001, Some(1001), 300));
        // No commitment, or no grace: late.
        assert!(d.is_late_committed(1001, None, 300));
        assert!(d.is_late_committed(1001, Some(900), 0));
        // On time anyway: not "saved".
        assert!(!d.saved_by(999, Some(900), 300));
        assert!(!d.is_late_committed(999, None, 0));
        assert!(d.may_commit(1000).is_ok());
        assert!(d.may_commit(1001).is_err());
    }
}
