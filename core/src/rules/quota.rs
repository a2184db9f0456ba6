//! How much one student may store per assignment: a bound on the number of submissions (every
//! version of every file counts) and on their bytes together, so that one enrolled student
//! cannot fill Blackboard's disk with versions of the largest allowed file. Blackboard checks it
//! when an upload is offered and again inside the transaction that records the submission.

use crate::units;
use crate::{Refusal, RefusalCode};

/// The bound per student and assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Most submissions (all versions of all file names) one student may store.
    pub max_submissions: u64,
    /// Most bytes those submissions may take together.
    pub max_bytes: u64,
}

/// The default number of submissions per student and assignment.
pub const DEFAULT_MAX_SUBMISSIONS: u64 = 50;
/// The default bytes per student and assignment (1 GiB).
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

impl Default for Quota {
    fn default() -> Self {
        Self {
            max_submissions: DEFAULT_MAX_SUBMISSIONS,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// What one student already stores for one assignment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Submissions stored.
    pub submissions: u64,
    /// Their bytes together.
    pub bytes: u64,
}

impl Quota {
    /// Whether a student who made `made` commitments to an assignment may make one more: as
    /// many as they may store submissions (each is a permanent entry of the public log).
    pub fn check_commitments(&self, made: u64) -> Result<(), Refusal> {
        if made >= self.max_submissions {
            return Err(Refusal::new(
                RefusalCode::Quota,
                format!(
                    "you made {made} commitments to this assignment, the most allowed; submit \
                     the file instead"
                ),
            ));
        }
        Ok(())
    }

    /// Whether one more submission of `size` bytes fits beside `used`; the refusal says what is
    /// full and what to do.
    pub fn check(&self, used: Usage, size: u64) -> Result<(), Refusal> {
        if used.submissions >= self.max_submissions {
            return Err(Refusal::new(
                RefusalCode::Quota,
                format!(
                    "you have already stored {} submissions for this assignment, the most \
                     Blackboard keeps per student: ask the course staff if you need more",
                    used.submissions
                ),
            ));
        }
        if used.bytes.saturating_add(size) > self.max_bytes {
            return Err(Refusal::new(
                RefusalCode::Quota,
                format!(
                    "this file ({}) would bring your submissions for this assignment to {}, over \
                     the {} Blackboard keeps per student: ask the course staff if you need more",
                    units::size_exact(size),
                    units::size_exact(used.bytes.saturating_add(size)),
                    units::size_exact(self.max_bytes)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Quota = Quota {
        max_submissions: 3,
        max_bytes: 100,
    };

    #[test]
    fn submissions_within_both_bounds_fit() {
        assert!(Q.check(Usage::default(), 100).is_ok());
        let used = Usage {
            submissions: 2,
            bytes: 60,
        };
        assert!(Q.check(used, 40).is_ok());
    }

    #[test]
    fn the_count_is_bounded_whatever_the_sizes() {
        let used = Usage {
            submissions: 3,
            bytes: 0,
        };
        let r = Q.check(used, 0).expect_err("a fourth");
        assert_eq!(r.code, RefusalCode::Quota);
        assert!(r.reason.contains("3 submissions"), "{}", r.reason);
    }

    #[test]
    fn the_bytes_are_bounded_and_never_overflow() {
        let used = Usage {
            submissions: 1,
            bytes: 60,
        };
        let r = Q.check(used, 41).expect_err("one byte too many");
        assert!(r.reason.contains("101 bytes"), "{}", r.reason);
        assert!(Q.check(used, u64::MAX).is_err());
    }

    #[test]
    fn commitments_are_bounded_like_submissions() {
        let q = Quota {
            max_submissions: 2,
            max_bytes: 10,
        };
        assert!(q.check_commitments(1).is_ok());
        assert_eq!(q.check_commitments(2).unwrap_err().code, RefusalCode::Quota);
    }
}
