//! CUHK's decision on an application, given what its records say: an enrollment against a
//! one-time code, or a renewal from a holder of a current certificate. The applicant is a
//! student (a student ID) or a member of staff (a staff login): the rules are the same.
//!
//! A wrong code, and any code for an ID that is not on the roster, get the same refusal
//! ([`WRONG_CODE`]), so that the answer does not tell who is on the roster. How a code is
//! compared (a salted hash, in constant time) is the records' business; the decision takes
//! whether it matched.

use crate::pki::PersonId;
use crate::{Refusal, RefusalCode};

/// The refusal of a wrong code, and of a student ID or staff login that is not on the roster:
/// the same words, so that the answer does not tell who is on the roster, nor whether an ID is
/// a member of staff's.
pub const WRONG_CODE: &str = "wrong enrollment code, or a student ID or staff login CUHK does \
                              not know: check both and try again";

/// A code as compared: upper case, without dashes or white space, so a loosely typed code
/// still matches.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// What the roster says of an enrollment: whether the student is on it with this very code
/// (`false` for an unknown student and for a wrong code alike), and whether the code was
/// already used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeStanding {
    /// The student is on the roster and the code given is theirs.
    pub matches: bool,
    /// The code was redeemed before.
    pub used: bool,
}

/// Whether an enrollment may go on to signing: a matching, unused code.
pub fn judge_code(standing: CodeStanding) -> Result<(), Refusal> {
    if !standing.matches {
        return Err(Refusal::new(RefusalCode::BadCode, WRONG_CODE));
    }
    if standing.used {
        return Err(Refusal::new(
            RefusalCode::CodeUsed,
            "this enrollment code was already used; ask CUHK for a new code",
        ));
    }
    Ok(())
}

/// What the records say of the certificate a renewal was authenticated with (found by its
/// serial and the holder's ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertStanding {
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: u64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: u64,
    /// It was revoked.
    pub revoked: bool,
}

/// Whether a renewal may go on to signing: `person`'s certificate with serial `serial_hex`
/// is on record (`standing`), unrevoked and valid at `now` (seconds since the Unix epoch).
pub fn judge_renewal(
    person: &PersonId,
    serial_hex: &str,
    standing: Option<CertStanding>,
    now: u64,
) -> Result<(), Refusal> {
    let Some(cert) = standing else {
        return Err(Refusal::new(
            RefusalCode::NotAuthenticated,
            format!(
                "CUHK has no record of certificate {serial_hex} for {} {person}; enroll again \
                 with a new code",
                person.kind()
            ),
        ));
    };
    if cert.revoked {
        return Err(Refusal::new(
            RefusalCode::Revoked,
            "your certificate was revoked; ask CUHK for a new enrollment code",
        ));
    }
    if now < cert.not_before || now > cert.not_after {
        return Err(Refusal::new(
            RefusalCode::Expired,
            "your certificate is expired or not yet valid; enroll again with a new code",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_typing_of_a_code_is_forgiven() {
        assert_eq!(normalize_code(" abcd-EFGH ijkl-mnop\n"), "ABCDEFGHIJKLMNOP");
    }

    #[test]
    fn an_unknown_student_and_a_wrong_code_get_the_same_refusal() {
        for used in [false, true] {
            let r = judge_code(CodeStanding {
                matches: false,
                used,
            })
            .expect_err("no match");
            assert_eq!(
                (r.code, r.reason.as_str()),
                (RefusalCode::BadCode, WRONG_CODE)
            );
        }
        let r = judge_code(CodeStanding {
            matches: true,
            used: true,
        })
        .expect_err("used");
        assert_eq!(r.code, RefusalCode::CodeUsed);
        assert!(judge_code(CodeStanding {
            matches: true,
            used: false
        })
        .is_ok());
    }

    #[test]
    fn a_renewal_needs_a_recorded_unrevoked_current_certificate() {
        let cert = CertStanding {
            not_before: 100,
            not_after: 200,
            revoked: false,
        };
        let student = PersonId::parse("1155000001").expect("an ID");
        let judge = |s, now| judge_renewal(&student, "0A", s, now).map_err(|r| r.code);
        assert_eq!(judge(Some(cert), 100), Ok(()));
        assert_eq!(judge(Some(cert), 200), Ok(()));
        assert_eq!(judge(None, 150), Err(RefusalCode::NotAuthenticated));
        assert_eq!(judge(Some(cert), 99), Err(RefusalCode::Expired));
        assert_eq!(judge(Some(cert), 201), Err(RefusalCode::Expired));
        let revoked = CertStanding {
            revoked: true,
            ..cert
        };
        assert_eq!(judge(Some(revoked), 150), Err(RefusalCode::Revoked));
    }

    #[test]
    fn a_renewal_refusal_names_the_kind_of_id() {
        for (id, words) in [
            ("1155000001", "for student 1155000001;"),
            ("prof.lee", "for staff login prof.lee;"),
        ] {
            let person = PersonId::parse(id).expect("an ID");
            let r = judge_renewal(&person, "0A", None, 0).expect_err("no record");
            assert_eq!(r.code, RefusalCode::NotAuthenticated);
            assert!(r.reason.contains(words), "{}", r.reason);
        }
    }

    #[test]
    fn the_wrong_code_refusal_does_not_say_whether_an_id_is_staff() {
        assert!(WRONG_CODE.contains("student ID or staff login"));
        assert!(!WRONG_CODE.contains('\n'));
    }
}
