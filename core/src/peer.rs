//! Who the peer is, and whether its certificate still stands: the checks a server makes at the
//! end of every handshake and again before every request.

use crate::config::{Role, ServerConfig};
use crate::engine::Engine;
use crate::error::{Error, Refusal, RefusalCode};
use crate::pki::{CertificateInfo, PersonId, StudentId};
use std::time::SystemTime;

/// What a staff login is told on the submission protocol.
pub(crate) const STAFF_CANNOT_SUBMIT: &str =
    "a staff login cannot submit homework; use the staff command";

/// The checks a server makes once the TLS handshake is done, on every connection, resumed or
/// not: the ALPN protocol, the peer certificate as a personal identity (a student ID or a
/// staff login), the revoked set and the validity period (a resumed session skips the TLS
/// library's own checks). `None`: no certificate, on a role where one is optional.
pub(crate) fn authenticate_person(
    engine: &mut Engine,
    config: &ServerConfig,
) -> Result<Option<(PersonId, CertificateInfo)>, Error> {
    let role = config.role;
    if !engine.tls.alpn_protocol().is_some_and(|a| role.speaks(a)) {
        let want = String::from_utf8_lossy(role.alpn()).into_owned();
        return Err(engine.fail(Error::Refused(Refusal::new(
            RefusalCode::BadRequest,
            format!("negotiate the ALPN protocol {want} to talk to this server"),
        ))));
    }
    let cert = engine
        .tls
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec());
    let Some(cert) = cert else {
        if role.requires_certificate() {
            let what = match role {
                Role::Staff => "no personal certificate presented: enroll at CUHK first",
                _ => "no student certificate presented: enroll at CUHK first",
            };
            return Err(engine.fail(Error::Refused(Refusal::new(
                RefusalCode::NotAuthenticated,
                what,
            ))));
        }
        return Ok(None);
    };
    let (id, info) = match crate::pki::person_of(&cert) {
        Ok(v) => v,
        Err(e) => {
            return Err(engine.fail(Error::Refused(Refusal::new(
                RefusalCode::BadCertificate,
                format!("not a student or staff certificate: {e}"),
            ))))
        }
    };
    if let Err(r) = check_standing(&id, &info, config, engine.wall()) {
        return Err(engine.fail(Error::Refused(r)));
    }
    Ok(Some((id, info)))
}

/// [`authenticate_person`] for the protocols only students speak (enrollment and submission):
/// a staff login is refused with `BadCertificate`, and told what to use instead.
pub(crate) fn authenticate_peer(
    engine: &mut Engine,
    config: &ServerConfig,
) -> Result<Option<(StudentId, CertificateInfo)>, Error> {
    match authenticate_person(engine, config)? {
        None => Ok(None),
        Some((PersonId::Student(id), info)) => Ok(Some((id, info))),
        Some((PersonId::Staff(login), _)) => {
            let reason = match config.role {
                Role::Submit => format!("staff login {login}: {STAFF_CANNOT_SUBMIT}"),
                _ => format!("the certificate of staff login {login} is not a student identity"),
            };
            Err(engine.fail(Error::Refused(Refusal::new(
                RefusalCode::BadCertificate,
                reason,
            ))))
        }
    }
}

/// How a server authenticates its peer once the handshake is done: [`authenticate_person`] or
/// [`authenticate_peer`].
pub(crate) type Authenticate<T> =
    fn(&mut Engine, &ServerConfig) -> Result<Option<(T, CertificateInfo)>, Error>;

/// A server's first steps after the TLS handshake: `None` while it is still going on; then
/// the peer authenticated with `auth` (a connection without a certificate fails: every server
/// that calls this requires one), the Welcome naming it sent, and the certificate's notAfter
/// armed as a deadline.
pub(crate) fn welcome<T: std::fmt::Display>(
    engine: &mut Engine,
    config: &ServerConfig,
    auth: Authenticate<T>,
) -> Result<Option<(T, CertificateInfo)>, Error> {
    if engine.is_handshaking() {
        return Ok(None);
    }
    let Some((who, certificate)) = auth(engine, config)? else {
        return Err(engine.fail(Error::Closed));
    };
    engine.handshake_done();
    engine.send_fixed(&crate::msg::Message::Welcome {
        student_id: Some(who.to_string()),
        server_time: crate::pki::unix_secs(engine.wall()),
    });
    engine.set_expiry(certificate.not_after);
    Ok(Some((who, certificate)))
}

/// Whether an authenticated peer's certificate still stands at `now`: not in the configuration's
/// revoked set, and within its validity. Checked at the handshake, again before every request,
/// and whenever the revoked set changes, so that revocation and expiry reach open connections.
pub(crate) fn check_standing(
    id: &impl Holder,
    info: &CertificateInfo,
    config: &ServerConfig,
    now: SystemTime,
) -> Result<(), Refusal> {
    if config.revocations.is_revoked(&info.serial) {
        return Err(Refusal::new(
            RefusalCode::Revoked,
            format!(
                "certificate of {} was revoked: ask CUHK to re-enroll",
                id.describe()
            ),
        ));
    }
    if now > info.not_after || now < info.not_before {
        return Err(Refusal::new(
            RefusalCode::Expired,
            format!(
                "certificate of {} expired (or is not yet valid): renew it",
                id.describe()
            ),
        ));
    }
    Ok(())
}

/// Whoever holds a certificate, as a refusal names them.
pub(crate) trait Holder {
    /// "student 1155000001", "staff login prof.lee".
    fn describe(&self) -> String;
}

impl Holder for StudentId {
    fn describe(&self) -> String {
        format!("student {self}")
    }
}

impl Holder for PersonId {
    fn describe(&self) -> String {
        match self {
            PersonId::Student(s) => s.describe(),
            PersonId::Staff(l) => format!("staff login {l}"),
        }
    }
}
