//! The campus's staff-protocol side: a staff member's pairs, identities and requests through
//! the board's staff service ([`StaffSession`]).

use super::{Campus, Pair, StaffSession, StudentKey};
use crate::config::{server_name, ClientConfig, Identity, Role};
use crate::staff::{StaffClient, StaffClientEvent, StaffServer};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use std::sync::Arc;
use std::time::Duration;

impl Campus {
    /// A staff-protocol pair (not yet driven).
    pub fn staff_pair(&self, identity: Option<Identity>) -> Pair<StaffClient, StaffServer> {
        let cfg = self.client_config(Role::Staff, identity);
        self.staff_pair_with(&cfg)
    }

    /// A staff-protocol pair from a given client config.
    pub fn staff_pair_with(&self, cfg: &ClientConfig) -> Pair<StaffClient, StaffServer> {
        let name = server_name("localhost").expect("name");
        let client = StaffClient::new(cfg, name, self.now).expect("client");
        let server_cfg = Arc::new((*self.staff).clone().with_timeouts(self.timeouts));
        let server = StaffServer::new(server_cfg, self.now).expect("server");
        Pair::new(client, server, self.now)
    }

    /// A member of staff with login `login`: a key and a certificate signed by the campus CA
    /// (CN = the login, O = the university, clientAuth), as CUHK issues them to staff.
    pub fn new_staff(&mut self, login: &str) -> Identity {
        let key = StudentKey::new(login);
        let pair = KeyPair::try_from(key.key_der.as_slice()).expect("the key");
        let issuer_key = KeyPair::from_pem(&self.ca.key_pem()).expect("CA key");
        let issuer = rcgen::Issuer::from_ca_cert_der(self.ca.cert(), issuer_key).expect("issuer");
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, login);
        dn.push(DnType::OrganizationName, crate::pki::UNIVERSITY);
        params.distinguished_name = dn;
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let mut serial = [0u8; 16];
        serial[0] = 0x40;
        serial[8..].copy_from_slice(&(self.staff_certificates.len() as u64 + 1).to_be_bytes());
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        params.not_before = (self.now.wall - Duration::from_secs(60)).into();
        params.not_after = (self.now.wall + crate::pki::DEFAULT_STUDENT_LIFETIME).into();
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&pair, &issuer).expect("staff certificate");
        let der = cert.der().clone();
        let info = crate::pki::certificate_info(&der).expect("own certificate");
        self.staff_certificates
            .push((login.to_owned(), info.serial));
        key.identity(vec![der, self.ca.cert().clone()])
    }

    /// Drives a staff pair to the Welcome.
    pub fn connect_staff(
        &mut self,
        pair: &mut Pair<StaffClient, StaffServer>,
    ) -> Result<(), String> {
        self.pump_staff(pair);
        match pair.client.poll_event() {
            Some(StaffClientEvent::Connected { .. }) => Ok(()),
            other => Err(format!(
                "not connected: {other:?}, client error {:?}, server error {:?}",
                pair.client.error().map(|e| e.to_string()),
                pair.server.error().map(|e| e.to_string())
            )),
        }
    }

    /// Drives a staff pair, letting the board answer, until quiet.
    pub fn pump_staff(&mut self, pair: &mut Pair<StaffClient, StaffServer>) {
        let mut session = StaffSession::default();
        self.pump_staff_with(pair, &mut session);
    }

    fn pump_staff_with(
        &mut self,
        pair: &mut Pair<StaffClient, StaffServer>,
        session: &mut StaffSession,
    ) {
        loop {
            pair.drive();
            if !self
                .board
                .serve_staff(&mut pair.server, session, pair.now.wall)
            {
                return;
            }
        }
    }

    /// Makes one staff request on a connected pair with `request`, lets the board answer,
    /// and returns every client event until quiet. If the board answers `Ready` and `upload`
    /// is given, the feedback file `upload` is sent (in pieces) before the final answer.
    pub fn staff_request(
        &mut self,
        pair: &mut Pair<StaffClient, StaffServer>,
        request: impl FnOnce(&mut StaffClient) -> Result<(), crate::error::UsageError>,
        upload: Option<&[u8]>,
    ) -> Vec<StaffClientEvent> {
        let mut session = StaffSession::default();
        let mut events = Vec::new();
        if let Err(e) = request(&mut pair.client) {
            panic!("staff request refused by the client: {e}");
        }
        self.pump_staff_with(pair, &mut session);
        while let Some(ev) = pair.client.poll_event() {
            events.push(ev);
        }
        if let (Some(data), Some(StaffClientEvent::Ready)) = (upload, events.last()) {
            for piece in data.chunks(40_000) {
                if !pair.client.is_uploading() {
                    break;
                }
                let _ = pair.client.send_data(piece);
                pair.drive();
                self.board
                    .serve_staff(&mut pair.server, &mut session, pair.now.wall);
            }
            if pair.client.is_uploading() {
                let _ = pair.client.finish_upload();
            }
            self.pump_staff_with(pair, &mut session);
            while let Some(ev) = pair.client.poll_event() {
                events.push(ev);
            }
        }
        events
    }
}
