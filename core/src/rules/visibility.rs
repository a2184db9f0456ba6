//! Who may see which submission: a student sees only their own, in listings and fetches alike.
//! Someone else's submission is answered exactly as one that does not exist, so that a student
//! cannot even learn that an id is taken.

use crate::pki::StudentId;

/// Whether `viewer` may see (list, fetch) a submission owned by `owner`.
pub fn may_see(viewer: &StudentId, owner: &str) -> bool {
    viewer.as_str() == owner
}

/// Whether a submission owned by `owner` to `course` belongs in `viewer`'s listing, when the
/// listing asks for `only_course` (or every course).
pub fn listed(viewer: &StudentId, only_course: Option<&str>, owner: &str, course: &str) -> bool {
    may_see(viewer, owner) && only_course.is_none_or(|c| c == course)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> StudentId {
        StudentId::parse(s).expect("a test ID")
    }

    #[test]
    fn a_student_sees_only_their_own_submissions() {
        let alice = sid("1155000001");
        assert!(may_see(&alice, "1155000001"));
        assert!(!may_see(&alice, "1155000002"));
        assert!(!may_see(&alice, ""));
    }

    #[test]
    fn a_listing_holds_own_submissions_of_the_course_asked_for() {
        let alice = sid("1155000001");
        assert!(listed(&alice, None, "1155000001", "CSCI3180"));
        assert!(listed(&alice, Some("CSCI3180"), "1155000001", "CSCI3180"));
        assert!(!listed(&alice, Some("CSCI3150"), "1155000001", "CSCI3180"));
        assert!(!listed(&alice, None, "1155000002", "CSCI3180"));
    }
}
