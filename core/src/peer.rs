//! Who the peer is, and whether its certificate still stands: the checks a server makes at the
//! end of every handshake and again before every request.

use crate::engine::Engine;
use crate::error::{Error, Refusal, RefusalCode};
use crate::pki::{CertificateInfo, PersonId, StudentId};
use std::time::SystemTime;

/// The checks a server makes once the TLS handshake is done, on every connection, resumed or
/// not: the ALPN protocol, the peer certificate as a personal identity (a student ID or a
/// staff login), the revoked set and the validity period (a resumed session skips the TLS
/// library's own checks). `None` when no certificate was presented and the role allows that.
/// On submission a staff login's certificate is refused as not a student's.
pub(crate) fn authenticate_person(
    engine: &mut Engine,
    config: &crate::config::ServerConfig,
) -> Result<Option<(PersonId, CertificateInfo)>, Error> {
    let role = config.role;
    if engine.tls.alpn_protocol() != Some(role.alpn()) {
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
        if role == crate::config::Role::Submit {
            return Err(engine.fail(Error::Refused(Refusal::new(
                RefusalCode::NotAuthenticated,
                "no student certificate presented: enroll at CUHK first",
            ))));
        }
        return Ok(None);
    };
    let (id, info) = match crate::pki::person_of(&cert) {
        Ok(v) => v,
        Err(e) => {
            return Err(engine.fail(Error::Refused(Refusal::new(
                RefusalCode::BadCertificate,
                format!("not a student certificate: {e}"),
            ))))
        }
    };
    if let (crate::config::Role::Submit, PersonId::Staff(login)) = (role, &id) {
        return Err(engine.fail(Error::Refused(not_a_student(login))));
    }
    if let Err(r) = check_standing(&id, &info, config, engine.wall()) {
        return Err(engine.fail(Error::Refused(r)));
    }
    Ok(Some((id, info)))
}

/// [`authenticate_person`] for a server only students may use: a staff login's certificate is
/// refused as not a student certificate (on submission, before its standing is checked).
pub(crate) fn authenticate_peer(
    engine: &mut Engine,
    config: &crate::config::ServerConfig,
) -> Result<Option<(StudentId, CertificateInfo)>, Error> {
    match authenticate_person(engine, config)? {
        None => Ok(None),
        Some((PersonId::Student(id), info)) => Ok(Some((id, info))),
        Some((PersonId::Staff(login), _)) => {
            Err(engine.fail(Error::Refused(not_a_student(&login))))
        }
    }
}

/// The refusal of a staff login's certificate where only students are served.
fn not_a_student(login: &crate::pki::StaffLogin) -> Refusal {
    Refusal::new(
        RefusalCode::BadCertificate,
        format!(
            "not a student certificate: the certificate of staff login {login} is not a student \
             identity"
        ),
    )
}

/// Whether an authenticated peer's certificate still stands at `now`: not in the configuration's
/// revoked set, and within its validity. Checked at the handshake, again before every request,
/// and whenever the revoked set changes, so that revocation and expiry reach open connections.
pub(crate) fn check_standing(
    id: impl Into<PersonId>,
    info: &CertificateInfo,
    config: &crate::config::ServerConfig,
    now: SystemTime,
) -> Result<(), Refusal> {
    let id = id.into();
    let kind = id.kind();
    if config.revocations.is_revoked(&info.serial) {
        return Err(Refusal::new(
            RefusalCode::Revoked,
            format!("certificate of {kind} {id} was revoked: ask CUHK to re-enroll"),
        ));
    }
    if now > info.not_after || now < info.not_before {
        return Err(Refusal::new(
            RefusalCode::Expired,
            format!("certificate of {kind} {id} expired (or is not yet valid): renew it"),
        ));
    }
    Ok(())
}
