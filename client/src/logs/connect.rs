//! The connections a log is read over, one request per object on a connection kept open:
//! Blackboard's log over a student's session (`handin-submit/1`) or a member of staff's
//! (`handin-staff/1`), CUHK's over an enrollment connection that needs no client certificate
//! (`handin-enroll/1`, CUHK authenticated by the profile's root).

use crate::printable;
use crate::session::{client_config, nothing_more, Profile, Remote, Session, StudentError};
use handin_core::enroll::EnrollClientProtocol;
use handin_core::staff::{StaffClientEvent, StaffClientProtocol};
use handin_core::submit::SubmitClientProtocol;
use handin_core::{EnrollClientEvent, Refusal, RefusalCode, Role, SubmitClientEvent};

/// A refusal to serve a log object; `NotFound` is kept apart ([`StudentError::is_missing`]):
/// for an object a signed checkpoint covers, it is an alarm, not a failure to read.
fn refused(what: &str, path: &str, r: &Refusal) -> StudentError {
    let m = format!(
        "{what} refused to serve {path} of its log: {}",
        printable::text(&r.reason)
    );
    if r.code == RefusalCode::NotFound {
        StudentError::missing(m)
    } else {
        StudentError::refused(m)
    }
}

impl Session<SubmitClientProtocol> {
    /// One object of Blackboard's log.
    pub(crate) fn log_object(&mut self, path: &str) -> Result<Vec<u8>, StudentError> {
        self.exchange(
            |c| c.get_log(path),
            |ev| match ev {
                SubmitClientEvent::Log(bytes) => Some(Ok(bytes)),
                SubmitClientEvent::Refused(r) => Some(Err(refused("Blackboard", path, &r))),
                _ => None,
            },
            nothing_more,
        )
    }
}

impl Session<StaffClientProtocol> {
    /// One object of Blackboard's log.
    pub(crate) fn log_object(&mut self, path: &str) -> Result<Vec<u8>, StudentError> {
        self.exchange(
            |c| c.get_log(path),
            |ev| match ev {
                StaffClientEvent::LogObject(bytes) => Some(Ok(bytes)),
                StaffClientEvent::Refused(r) => Some(Err(refused("Blackboard", path, &r))),
                _ => None,
            },
            nothing_more,
        )
    }
}

impl Session<EnrollClientProtocol> {
    /// One object of CUHK's log.
    pub(crate) fn log_object(&mut self, path: &str) -> Result<Vec<u8>, StudentError> {
        self.exchange(
            |c| c.request_log(path),
            |ev| match ev {
                EnrollClientEvent::Log(bytes) => Some(Ok(bytes)),
                EnrollClientEvent::Refused(r) => Some(Err(refused("CUHK", path, &r))),
                _ => None,
            },
            nothing_more,
        )
    }
}

/// A connection to CUHK for reading its log: no client certificate, CUHK's checked against the
/// profile's root; kept open for one request after another.
pub(crate) fn cuhk_log(
    remote: &Remote,
    profile: &Profile,
) -> Result<Session<EnrollClientProtocol>, StudentError> {
    let config = client_config(Role::Enroll, profile.ca_der()?, None)?;
    let mut s = Session::open(remote, &config, "CUHK")?;
    s.keep_open();
    Ok(s)
}
