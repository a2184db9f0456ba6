//! Who the peer is, and whether its certificate still stands: the checks a server makes at the
//! end of every handshake and again before every request.

use crate::engine::Engine;
use crate::error::{Error, Refusal, RefusalCode};
use std::time::SystemTime;

/// The checks a server makes once the TLS handshake is done, on every connection, resumed or
/// not: the ALPN protocol, the peer certificate as a student identity, the revoked set and the
/// validity period (a resumed session skips the TLS library's own checks).
pub(crate) fn authenticate_peer(
    engine: &mut Engine,
    config: &crate::config::ServerConfig,
) -> Result<Option<(crate::pki::StudentId, crate::pki::CertificateInfo)>, Error> {
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
    let (id, info) = match crate::pki::student_id_of(&cert) {
        Ok(v) => v,
        Err(e) => {
            return Err(engine.fail(Error::Refused(Refusal::new(
                RefusalCode::BadCertificate,
                format!("not a student certificate: {e}"),
            ))))
        }
    };
    if let Err(r) = check_standing(&id, &info, config, engine.wall()) {
        return Err(engine.fail(Error::Refused(r)));
    }
    Ok(Some((id, info)))
}

/// Whether an authenticated peer's certificate still stands at `now`: not in the configuration's
/// revoked set, and within its validity. Checked at the handshake, again before every request,
/// and whenever the revoked set changes, so that revocation and expiry reach open connections.
pub(crate) fn check_standing(
    id: &crate::pki::StudentId,
    info: &crate::pki::CertificateInfo,
    config: &crate::config::ServerConfig,
    now: SystemTime,
) -> Result<(), Refusal> {
    if config.revocations.is_revoked(&info.serial) {
        return Err(Refusal::new(
            RefusalCode::Revoked,
            format!("certificate of student {id} was revoked: ask CUHK to re-enroll"),
        ));
    }
    if now > info.not_after || now < info.not_before {
        return Err(Refusal::new(
            RefusalCode::Expired,
            format!("certificate of student {id} expired (or is not yet valid): renew it"),
        ));
    }
    Ok(())
}
