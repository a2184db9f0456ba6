//! Who may do what in a course. CUHK's certificate says who someone is; the course's lists say
//! what they may do:
//!
//! - the **staff list** (teachers by staff login, TAs by student ID) may manage the course's
//!   assignments, see every submission, extend, grade and release;
//! - the **class list**, once the course has one, says who may submit; a course without a class
//!   list takes submissions from any CUHK-certified student (as before courses had lists).
//!
//! A person who is not on the staff list gets the same answer whether or not the course exists,
//! so that an outsider learns nothing about it.

use crate::pki::{PersonId, StudentId};
use crate::{Refusal, RefusalCode};

/// What the records say about one person and one course.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// The course exists.
    pub course_exists: bool,
    /// The person is on its staff list.
    pub staff: bool,
    /// The course has a class list (at least one student on it).
    pub has_class_list: bool,
    /// The person is on its class list.
    pub on_class_list: bool,
}

/// Whether `person` may act as staff of `course`: refused with `NotStaff` otherwise, with the
/// same words whether the course is missing or the person is not on its staff list.
pub fn check_staff(person: &PersonId, course: &str, m: Membership) -> Result<(), Refusal> {
    if m.course_exists && m.staff {
        Ok(())
    } else {
        Err(Refusal::new(
            RefusalCode::NotStaff,
            format!(
                "{person} is not on the staff list of course {course}; ask the course's teacher \
                 to add you (blackboard course staff)"
            ),
        ))
    }
}

/// Whether `student` may submit to `course`: yes if the course has no class list, or lists the
/// student.
pub fn check_may_submit(student: &StudentId, course: &str, m: Membership) -> Result<(), Refusal> {
    if !m.has_class_list || m.on_class_list {
        Ok(())
    } else {
        Err(Refusal::new(
            RefusalCode::NotOnClassList,
            format!(
                "student {student} is not on the class list of {course}; if you take this \
                 course, ask its teacher to add you"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(course_exists: bool, staff: bool, has: bool, on: bool) -> Membership {
        Membership {
            course_exists,
            staff,
            has_class_list: has,
            on_class_list: on,
        }
    }

    #[test]
    fn only_listed_staff_of_an_existing_course_may_act_and_outsiders_learn_nothing() {
        let lee = PersonId::parse("lee").expect("login");
        assert!(check_staff(&lee, "CSCI3180", m(true, true, false, false)).is_ok());
        let not_listed = check_staff(&lee, "CSCI3180", m(true, false, true, false)).unwrap_err();
        let missing = check_staff(&lee, "CSCI3180", m(false, false, false, false)).unwrap_err();
        assert_eq!(
            not_listed, missing,
            "a missing course must look like a foreign one"
        );
        assert_eq!(missing.code, RefusalCode::NotStaff);
    }

    #[test]
    fn a_class_list_once_present_decides_who_submits() {
        let s = StudentId::parse("1155000001").expect("id");
        assert!(check_may_submit(&s, "C", m(true, false, false, false)).is_ok());
        assert!(check_may_submit(&s, "C", m(false, false, false, false)).is_ok());
        assert!(check_may_submit(&s, "C", m(true, false, true, true)).is_ok());
        let r = check_may_submit(&s, "C", m(true, false, true, false)).unwrap_err();
        assert_eq!(r.code, RefusalCode::NotOnClassList);
        assert!(r.reason.contains("1155000001"), "{}", r.reason);
    }
}
