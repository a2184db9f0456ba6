//! The core's error messages, word for word: people and tests read them.

use handin_core::frame::FrameError;
use handin_core::msg::EncodeError;
use handin_core::pki::{CsrError, InvalidStudentId, ServerCertError};
use handin_core::{Error, Refusal, RefusalCode, UsageError};

#[test]
fn connection_errors_read_as_before() {
    let refusal = Refusal::new(RefusalCode::Revoked, "certificate revoked");
    for (e, text) in [
        (
            Error::Tls(handin_core::rustls::Error::HandshakeNotComplete),
            "tls: handshake not complete",
        ),
        (
            Error::Protocol("unexpected Data".into()),
            "protocol violation: unexpected Data",
        ),
        (
            Error::Remote(refusal.clone()),
            "closed by peer: certificate revoked",
        ),
        (Error::Refused(refusal), "refused: certificate revoked"),
        (Error::Timeout("handshake"), "timed out: handshake"),
        (Error::Closed, "connection closed"),
    ] {
        assert_eq!(e.to_string(), text);
    }
    assert_eq!(
        UsageError("submit before Welcome").to_string(),
        "call out of order: submit before Welcome"
    );
    assert_eq!(
        EncodeError("a text field of 70000 bytes".into()).to_string(),
        "cannot encode: a text field of 70000 bytes"
    );
    assert_eq!(
        FrameError::Oversized { len: 70_000 }.to_string(),
        "frame of 70000 bytes exceeds the limit of 65536"
    );
    assert_eq!(
        FrameError::Truncated { have: 3 }.to_string(),
        "stream ended inside a frame (3 bytes of it received)"
    );
}

#[test]
fn pki_errors_read_as_before() {
    for (e, text) in [
        (
            CsrError::Malformed("trailing bytes".into()),
            "the CSR is malformed: trailing bytes",
        ),
        (
            CsrError::BadSignature,
            "the CSR's signature does not verify with its own key (no proof of possession)",
        ),
        (
            CsrError::WeakKey("RSA 1024".into()),
            "key not allowed: RSA 1024; use ECDSA P-256 (the default), P-384 or RSA of 2048 to 8192 bits",
        ),
        (
            CsrError::WeakAlgorithm("SHA-1".into()),
            "signature algorithm not allowed: SHA-1; sign the CSR with SHA-256 or better",
        ),
        (
            CsrError::BadSubject("no CN".into()),
            "the CSR's subject is not usable: no CN",
        ),
        (
            CsrError::IdMismatch {
                csr: "1155000002".into(),
                expected: "1155000001".into(),
            },
            "the CSR is for student 1155000002, but you are enrolling as 1155000001",
        ),
    ] {
        assert_eq!(e.to_string(), text);
    }
    for (e, text) in [
        (
            ServerCertError::Malformed("bad DER".into()),
            "the certificate does not parse: bad DER",
        ),
        (
            ServerCertError::NotAServer("a CA".into()),
            "not a server certificate: a CA",
        ),
        (
            ServerCertError::NotFromRoot("unknown issuer".into()),
            "not issued by the CUHK root: unknown issuer",
        ),
        (
            ServerCertError::OutsideValidity,
            "the certificate was not valid at that time",
        ),
    ] {
        assert_eq!(e.to_string(), text);
    }
    assert_eq!(
        InvalidStudentId.to_string(),
        "a student ID is exactly 10 digits"
    );
}
