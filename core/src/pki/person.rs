//! Who someone is, as CUHK says: a student ID or a staff login.
//!
//! A certificate names a person, never what they may do: a TA holds a student certificate and
//! is staff of some course because Blackboard's course data says so.

use super::{InvalidStudentId, StudentId};
use std::fmt;

/// A teacher's staff login: a lower-case letter, then 1 to 31 of `a-z`, `0-9`, `.` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StaffLogin(String);

/// A staff login that does not follow the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a staff login is a lower-case letter, then 1 to 31 of a-z, 0-9, '.' and '-'")]
pub struct InvalidStaffLogin;

impl StaffLogin {
    /// Parses a staff login.
    pub fn parse(s: &str) -> Result<Self, InvalidStaffLogin> {
        let b = s.as_bytes();
        let first_ok = b.first().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = b
            .iter()
            .skip(1)
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-');
        if first_ok && rest_ok && (2..=32).contains(&b.len()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidStaffLogin)
        }
    }

    /// The login as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StaffLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person CUHK certifies: a student (10 digits) or a member of staff (a login). The two
/// spellings cannot be confused: a login starts with a letter, a student ID is all digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PersonId {
    /// A student, by student ID (a TA is one of these).
    Student(StudentId),
    /// A teacher, by staff login.
    Staff(StaffLogin),
}

/// Text that is neither a student ID nor a staff login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a student ID (10 digits) or a staff login (a lower-case letter, then 1 to 31 of a-z, 0-9, '.' and '-')")]
pub struct InvalidPersonId;

impl From<InvalidStudentId> for InvalidPersonId {
    fn from(_: InvalidStudentId) -> Self {
        Self
    }
}

impl From<InvalidStaffLogin> for InvalidPersonId {
    fn from(_: InvalidStaffLogin) -> Self {
        Self
    }
}

impl PersonId {
    /// Parses a student ID or a staff login.
    pub fn parse(s: &str) -> Result<Self, InvalidPersonId> {
        if s.bytes().next().is_some_and(|c| c.is_ascii_digit()) {
            Ok(Self::Student(StudentId::parse(s)?))
        } else {
            Ok(Self::Staff(StaffLogin::parse(s)?))
        }
    }

    /// The ID as text (what a certificate's CN holds).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Student(s) => s.as_str(),
            Self::Staff(s) => s.as_str(),
        }
    }

    /// The student ID, if this is a student.
    pub fn student(&self) -> Option<&StudentId> {
        match self {
            Self::Student(s) => Some(s),
            Self::Staff(_) => None,
        }
    }

    /// The staff login, if this is a member of staff.
    pub fn staff(&self) -> Option<&StaffLogin> {
        match self {
            Self::Student(_) => None,
            Self::Staff(s) => Some(s),
        }
    }

    /// What kind of ID this is, in words: `student` or `staff login`, to put before the ID in a
    /// message (`student 1155000001`, `staff login prof.lee`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Student(_) => "student",
            Self::Staff(_) => "staff login",
        }
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<StudentId> for PersonId {
    fn from(s: StudentId) -> Self {
        Self::Student(s)
    }
}

impl From<StaffLogin> for PersonId {
    fn from(s: StaffLogin) -> Self {
        Self::Staff(s)
    }
}

impl From<&StudentId> for PersonId {
    fn from(s: &StudentId) -> Self {
        Self::Student(s.clone())
    }
}

impl From<&StaffLogin> for PersonId {
    fn from(s: &StaffLogin) -> Self {
        Self::Staff(s.clone())
    }
}

impl From<&PersonId> for PersonId {
    fn from(p: &PersonId) -> Self {
        p.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_and_ids_parse_apart() {
        for ok in ["ab", "prof.lee", "t-a9", "a234567890123456789012345678901b"] {
            assert!(
                matches!(PersonId::parse(ok), Ok(PersonId::Staff(_))),
                "{ok}"
            );
        }
        assert!(matches!(
            PersonId::parse("1155000001"),
            Ok(PersonId::Student(_))
        ));
        for bad in [
            "",
            "a",
            "A1",
            "1a",
            "9lee",
            "lee_x",
            "lee/x",
            "lee x",
            "115500000",
            "11550000011",
            "a2345678901234567890123456789012c",
            "Lee",
            "lee\u{e9}",
            "lee\0",
        ] {
            assert!(PersonId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
