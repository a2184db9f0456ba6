//! Submission (`handin-submit/1`, Blackboard's port 3141), over mutual TLS: the student's
//! identity is the ID in its verified certificate, never a field it sends.
//!
//! ```text
//! client                                  server
//!   -- TLS 1.3, student certificate required --
//!                                   <---  Welcome { student_id, server_time }
//!   Submit { course, assignment,    --->
//!            file_name, size, sha256 }
//!                                   <---  Ready | Refused
//!   Data* DataEnd                   --->
//!                                   <---  Receipt | Refused
//!   List { course? }                --->
//!                                   <---  ListEntry* ListEnd | Refused
//!   Fetch { id }                    --->
//!                                   <---  FetchBegin Data* DataEnd | Refused
//!   Grades { course? }              --->
//!                                   <---  GradeEntry* ListEnd | Refused
//!   Feedback { course, assignment } --->
//!                                   <---  FeedbackBegin Data* DataEnd | Refused
//! ```
//!
//! A staff login's certificate is refused at the Welcome (`BadCertificate`): staff speak
//! `handin-staff/1` ([`crate::staff`]).

mod client;
mod server;

pub use client::{SubmitClient, SubmitClientEvent, SubmitClientProtocol};
pub use server::{SubmitServer, SubmitServerEvent, SubmitServerProtocol};

use aws_lc_rs::digest;

/// An incremental SHA-256.
#[derive(Clone)]
pub struct Sha256(digest::Context);

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    /// A hash of nothing yet.
    pub fn new() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The hash of everything added so far, leaving this hasher usable.
    pub fn peek(&self) -> [u8; 32] {
        self.clone().finish()
    }

    /// The hash of everything added.
    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

/// SHA-256 of a byte slice, as the protocol uses it.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(data);
    h.finish()
}

/// Lower-case hex of a SHA-256.
pub fn hex(hash: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(hash)
}
