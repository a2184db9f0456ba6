//! Bootstrapping trust in the CUHK root from its fingerprint, as `step ca bootstrap` does: a
//! client that holds only the root's SHA-256 fingerprint (given out of band, by `cuhk
//! fingerprint`) connects, finds the certificate with that fingerprint in the chain the server
//! presents, verifies the server's certificate against it as the only trust anchor (chain,
//! purpose, validity at the injected time, and the name dialled), and only then hands the root
//! over, through a [`Bootstrap`], for the client to keep.
//!
//! Nothing here reads a file or a socket: the verifier runs inside rustls, on the bytes of the
//! handshake, at the time the connection was given.

use crate::config::{provider, roots, ClientConfig, ConfigError, Identity, Role};
use crate::pki::Fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Mutex};

/// What the handshake of a bootstrapping client found, shared between its verifier and the
/// caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No server certificate was seen yet.
    Nothing,
    /// The server presented no certificate with the pinned fingerprint: these are the
    /// fingerprints of the certificates it did present, its own first.
    Mismatch(Vec<Fingerprint>),
    /// The root with the pinned fingerprint, and the server's certificate verified against it.
    Root(CertificateDer<'static>),
}

/// The outcome of a bootstrapping client's handshake: see [`ClientConfig::bootstrap`].
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pin: Fingerprint,
    found: Arc<Mutex<Found>>,
}

impl Bootstrap {
    /// The fingerprint pinned.
    pub fn fingerprint(&self) -> Fingerprint {
        self.pin
    }

    /// What the handshake found so far.
    pub fn found(&self) -> Found {
        self.found
            .lock()
            .map(|f| f.clone())
            .unwrap_or(Found::Nothing)
    }

    /// The root certificate, once a server's certificate verified against it.
    pub fn root(&self) -> Option<CertificateDer<'static>> {
        match self.found() {
            Found::Root(root) => Some(root),
            _ => None,
        }
    }

    fn record(&self, found: Found) {
        if let Ok(mut f) = self.found.lock() {
            *f = found;
        }
    }
}

/// The server presented no certificate with the pinned fingerprint.
#[derive(Debug, thiserror::Error)]
#[error("the server presented no certificate with the pinned SHA-256 fingerprint")]
pub struct NoPinnedRoot;

#[derive(Debug)]
struct PinnedRootVerifier {
    bootstrap: Bootstrap,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedRootVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pin = self.bootstrap.pin;
        // The root must be a certificate beside the server's own: a server certificate is
        // never its own trust anchor.
        let Some(root) = intermediates.iter().find(|c| pin.matches(c)) else {
            let presented = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| Fingerprint::of(c))
                .collect();
            self.bootstrap.record(Found::Mismatch(presented));
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(NoPinnedRoot)),
            )));
        };
        let root = root.clone().into_owned();
        let anchors = roots(&root).map_err(|_| {
            rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
        })?;
        let verifier = WebPkiServerVerifier::builder_with_provider(anchors, self.provider.clone())
            .build()
            .map_err(|_| {
                rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
            })?;
        let others: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .filter(|c| !pin.matches(c))
            .cloned()
            .collect();
        let verified =
            verifier.verify_server_cert(end_entity, &others, server_name, ocsp_response, now)?;
        self.bootstrap.record(Found::Root(root));
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ClientConfig {
    /// A client for `role` that holds only the CUHK root's `fingerprint`, not the root itself:
    /// the server must present, beside its own certificate, the certificate with that
    /// fingerprint, and its own certificate must verify against it (as [`ClientConfig::new`]
    /// verifies against a root it holds: chain, purpose, validity, and the name dialled).
    /// Otherwise the handshake fails with a certificate error, and the returned [`Bootstrap`]
    /// says what was presented instead.
    ///
    /// After a handshake that succeeded, [`Bootstrap::root`] is the root, to be kept for every
    /// later connection (with [`ClientConfig::new`]). Use a bootstrapping configuration for
    /// one connection.
    pub fn bootstrap(
        role: Role,
        fingerprint: Fingerprint,
        identity: Option<Identity>,
    ) -> Result<(Self, Bootstrap), ConfigError> {
        let bootstrap = Bootstrap {
            pin: fingerprint,
            found: Arc::new(Mutex::new(Found::Nothing)),
        };
        let verifier = Arc::new(PinnedRootVerifier {
            bootstrap: bootstrap.clone(),
            provider: provider(),
        });
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| ConfigError(format!("TLS versions: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut tls = match identity {
            Some(id) => builder
                .with_client_auth_cert(id.chain, id.key)
                .map_err(|e| ConfigError(format!("client certificate and key: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        // A resumed session would skip the verifier, and with it the root.
        tls.resumption = rustls::client::Resumption::disabled();
        Ok((Self::from_tls(role, tls), bootstrap))
    }
}
