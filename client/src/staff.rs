//! The staff side: teachers and teaching assistants.
//!
//! A teacher is on CUHK's roster by staff login (`cuhk roster add --staff LOGIN`); a TA is a
//! student, on the roster by student ID, who is staff of some course because Blackboard says
//! so. Either enrolls here with the one-time code CUHK gave them. The profile is the student's
//! ([`Profile`], `~/.handin` or `$HANDIN_HOME` unless `--profile` says otherwise): a TA's
//! student profile is also their staff profile, one certificate for both.

mod audit_log;
mod collect;
pub mod folder;
mod ops;

pub use audit_log::{audit_log, AuditedLog};
pub use collect::{collect, Collected};
pub use ops::{
    courses, extend, grade, log, put_assignment, release, set_open, sheet_inputs, status,
    GradeInput,
};

use crate::student::{self, enroll_person};
use handin_core::pki::PersonId;

pub use crate::student::{
    export_p12, refuse_enrolled, Enrolled, ExportedP12, ExternalKey, PasswordSource, Profile,
    Remote, Trust,
};

/// A staff-facing error: one line, what went wrong and what to do.
pub use crate::student::StudentError as StaffError;

/// The ID `staff enroll` was given (`--id` or at the prompt), white space around it ignored: a
/// staff login, or a student ID (a TA).
pub fn enroll_id(text: &str) -> Result<PersonId, StaffError> {
    let text = text.trim();
    PersonId::parse(text).map_err(|_| {
        StaffError::usage(format!(
            "{text:?} is neither a staff login (a lower-case letter, then 1 to 31 of a-z, 0-9, \
             '.' and '-', such as prof.lee) nor a student ID (10 digits)"
        ))
    })
}

/// Enrolls `id` (a staff login, or a TA's student ID) at CUHK with the one-time `code`,
/// trusting the CUHK root as `trust` says (its file, or its fingerprint), and saves the key (mode 0600), the certificate and
/// the CA in `profile`, replacing an identity already there as `student enroll` does.
///
/// The key pair is made here (ECDSA P-256) unless `external` names a CSR and key made
/// elsewhere (`openssl req`); the CSR's common name must be `id`. The certificate CUHK issues
/// has CN = `id`, O = the university, and is for client authentication.
pub fn enroll(
    remote: &Remote,
    profile: &Profile,
    id: &PersonId,
    code: &str,
    trust: &Trust,
    external: Option<&ExternalKey>,
) -> Result<Enrolled, StaffError> {
    enroll_person(remote, profile, id, code, trust, external)
}

/// Renews the certificate in the profile (a staff login's or a student's) over mutual TLS,
/// with a new key: [`student::renew`].
pub fn renew(remote: &Remote, profile: &Profile) -> Result<Enrolled, StaffError> {
    student::renew(remote, profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_enroll_takes_a_login_or_a_tas_student_id() {
        assert_eq!(
            enroll_id(" prof.lee\n").ok(),
            PersonId::parse("prof.lee").ok()
        );
        assert!(matches!(enroll_id("1155000001"), Ok(PersonId::Student(_))));
        for bad in [
            "",
            "p",
            "Prof.Lee",
            "prof_lee",
            "prof lee",
            "prof/lee",
            "../etc",
            "prof.lee\u{0}",
            "pr\u{200b}of",
            "\u{ff50}rof",
            "a23456789012345678901234567890123",
            "115500000",
            "1155000001a",
            "lee\u{1b}[2J",
        ] {
            let e = enroll_id(bad).unwrap_err().to_string();
            assert!(e.contains("is neither a staff login"), "{bad:?}: {e}");
            assert!(!e.contains('\u{1b}') && !e.contains('\0'), "{e:?}");
        }
    }
}
