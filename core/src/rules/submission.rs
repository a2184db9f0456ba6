//! Whether an upload offer fits its assignment, and the version number a stored submission
//! gets.

use crate::msg::UploadOffer;
use crate::units::size_exact;
use crate::{Refusal, RefusalCode};

/// Whether `offer` may be taken, given the largest file its assignment accepts now (`None`:
/// there is no such assignment). Checked when the offer arrives, and again when the submission
/// is recorded (the assignment may have changed meanwhile).
pub fn admit(offer: &UploadOffer, max_size: Option<u64>) -> Result<(), Refusal> {
    let Some(max_size) = max_size else {
        return Err(Refusal::new(
            RefusalCode::NoSuchAssignment,
            format!(
                "there is no assignment {} in course {}; check the names with your instructor",
                offer.assignment, offer.course
            ),
        ));
    };
    if offer.size > max_size {
        return Err(Refusal::new(
            RefusalCode::TooLarge,
            format!(
                "the file is {} but {}/{} accepts at most {}: make it smaller, or ask the course \
                 staff",
                size_exact(offer.size),
                offer.course,
                offer.assignment,
                size_exact(max_size)
            ),
        ));
    }
    Ok(())
}

/// The version of a new submission, given how many submissions of the same file name the same
/// student already stores for the same assignment: 1 for the first, then 2, 3, ... Nothing is
/// ever overwritten: a resubmission is a new version beside the old ones.
pub fn next_version(earlier: u32) -> u32 {
    earlier.saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(size: u64) -> UploadOffer {
        UploadOffer {
            course: "CSCI3180".into(),
            assignment: "hw1".into(),
            file_name: "a.txt".into(),
            size,
            sha256: [0; 32],
        }
    }

    #[test]
    fn an_offer_fits_an_existing_assignment_up_to_its_limit() {
        assert!(admit(&offer(10), Some(10)).is_ok());
        let r = admit(&offer(11), Some(10)).expect_err("one byte over");
        assert_eq!(r.code, RefusalCode::TooLarge);
        assert!(r.reason.contains("at most 10 bytes"), "{}", r.reason);
        let r = admit(&offer(21 << 20), Some(20 << 20)).expect_err("over 20 MiB");
        assert!(
            r.reason.starts_with(
                "the file is 21 MiB (22,020,096 bytes) but CSCI3180/hw1 accepts at most 20 MiB \
                 (20,971,520 bytes)"
            ),
            "{}",
            r.reason
        );
        let r = admit(&offer(0), None).expect_err("no assignment");
        assert_eq!(r.code, RefusalCode::NoSuchAssignment);
        assert!(r.reason.contains("hw1"), "{}", r.reason);
    }

    #[test]
    fn versions_count_from_one_and_never_wrap() {
        assert_eq!(next_version(0), 1);
        assert_eq!(next_version(4), 5);
        assert_eq!(next_version(u32::MAX), u32::MAX);
    }
}
