//! When a submission is late. Times are whole seconds since the Unix epoch, as Blackboard
//! keeps them: a submission received during the due second is on time, one received after it
//! is late.

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
}
