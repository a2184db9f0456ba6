//! A student's **current submission** to an assignment: the latest version of each file name
//! they submitted. `report.pdf` v3 and `final.pdf` v1 are both current; `report.pdf` v1 and v2
//! are history. What staff see in the status, what they collect, and what counts for lateness
//! is the current submission.

use std::collections::BTreeMap;

/// One stored version, as the rule needs it.
pub trait Version {
    /// The file name it was submitted under.
    fn file_name(&self) -> &str;
    /// Its version number (1, 2, ... per file name).
    fn version(&self) -> u32;
    /// When it was received, seconds since the Unix epoch.
    fn received_at(&self) -> u64;
    /// When the student committed to its bytes before the due time, if a commitment made it
    /// on time (see [`super::lateness`]).
    fn committed_at(&self) -> Option<u64> {
        None
    }
}

impl Version for crate::msg::SubmissionEntry {
    fn file_name(&self) -> &str {
        &self.file_name
    }
    fn version(&self) -> u32 {
        self.version
    }
    fn received_at(&self) -> u64 {
        self.received_at
    }
}

impl<T: Version> Version for &T {
    fn file_name(&self) -> &str {
        (*self).file_name()
    }
    fn version(&self) -> u32 {
        (*self).version()
    }
    fn received_at(&self) -> u64 {
        (*self).received_at()
    }
    fn committed_at(&self) -> Option<u64> {
        (*self).committed_at()
    }
}

/// The current submission among one student's versions for one assignment: the latest version
/// of each file name, by file name. Ties on the version number (which the store prevents) go to
/// the later in `versions`.
pub fn current<T: Version>(versions: &[T]) -> Vec<&T> {
    let mut latest: BTreeMap<&str, &T> = BTreeMap::new();
    for v in versions {
        let slot = latest.entry(v.file_name()).or_insert(v);
        if v.version() >= slot.version() {
            *slot = v;
        }
    }
    latest.into_values().collect()
}

/// Where a student stands on an assignment, from their current submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Nothing submitted.
    Nothing,
    /// Every current file was received by the due time in force.
    OnTime,
    /// At least one current file was received after the due time in force.
    Late,
}

/// The standing of a current submission against the due second in force for its student:
/// late if any current file is late, a file committed to before the due time and received
/// within `grace` seconds after it counting as on time.
pub fn standing<T: Version>(
    current: &[&T],
    deadline: super::lateness::Deadline,
    grace: u64,
) -> Standing {
    if current.is_empty() {
        return Standing::Nothing;
    }
    let late = current
        .iter()
        .any(|v| deadline.is_late_committed(v.received_at(), v.committed_at(), grace));
    if late {
        Standing::Late
    } else {
        Standing::OnTime
    }
}

#[cfg(test)]
mod tests {
    use super::super::lateness::Deadline;
    use super::*;

    #[derive(Debug, PartialEq)]
    struct V(&'static str, u32, u64);
    impl Version for V {
        fn file_name(&self) -> &str {
            self.0
        }
        fn version(&self) -> u32 {
            self.1
        }
        fn received_at(&self) -> u64 {
            self.2
        }
    }

    #[test]
    fn the_latest_version_of_each_file_name_is_current() {
        let all = [
            V("report.pdf", 1, 10),
            V("final.pdf", 1, 20),
            V("report.pdf", 3, 40),
            V("report.pdf", 2, 30),
        ];
        let cur = current(&all);
        assert_eq!(cur, [&V("final.pdf", 1, 20), &V("report.pdf", 3, 40)]);
        assert!(current::<V>(&[]).is_empty());
    }

    #[test]
    fn standing_is_judged_on_the_current_files_against_the_deadline_in_force() {
        let all = [V("a", 1, 900), V("b", 1, 1100)];
        let cur = current(&all);
        assert_eq!(standing(&cur, Deadline::new(1000), 0), Standing::Late);
        assert_eq!(
            standing(&cur, Deadline::new(1000).extended(Some(1200)), 0),
            Standing::OnTime
        );
        assert_eq!(standing::<V>(&[], Deadline::new(0), 0), Standing::Nothing);
    }
}
