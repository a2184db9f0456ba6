//! # handin-core
//!
//! The sans-IO core of handin, a campus PKI and secure homework-submission system. It holds the
//! TLS state (rustls), the wire format, the PKI rules and the protocol state machines. It does
//! no I/O at all: no sockets, no files, no threads, and it never reads the clock.
//!
//! ```text
//!            bytes from the network            bytes for the network
//!                     |                                 ^
//!                     v                                 |
//!   now --> receive(now, &[u8])                 poll_transmit(&mut Vec<u8>)
//!           handle_timeout(now)                  poll_timeout() -> Instant
//!                     |                                 ^
//!                     v                                 |
//!               +----------------------------------------------+
//!               |  connection: rustls + frames + state machine |
//!               +----------------------------------------------+
//!                     |                                 ^
//!                     v                                 |
//!              poll_event() -> Event          accept / refuse / send_* calls
//!                     \_________ the application _______/
//! ```
//!
//! One connection type, [`Connection`], drives every protocol, over a parameter naming the
//! side: [`EnrollClient`] / [`EnrollServer`] (`handin-enroll/1`), [`SubmitClient`] /
//! [`SubmitServer`] (`handin-submit/1`) and [`StaffClient`] / [`StaffServer`]
//! (`handin-staff/1`) are its instances. A server that serves several protocols on one port
//! picks one from the client's ALPN offer with [`accept::Incoming`]. [`Connection`] documents the call
//! protocol common to all: after every input (`receive`, `handle_timeout`, `handle_eof`, or an
//! application call), drain `poll_event()` until `None`, then `poll_transmit()` and send what it
//! returns, then wait until `poll_timeout()` or until more bytes arrive. Each side documents its
//! own requests and answers.
//!
//! `now` is a [`Now`]: the caller's monotonic clock, on which every deadline runs, and its wall
//! clock, by which certificates are judged and receipts stamped. A step of the wall clock moves
//! no deadline.
//!
//! [`harness`] pumps a client and a server through byte buffers on a virtual clock; the crate's
//! tests, the fuzz targets and the benchmarks use it, and so can yours.

#![warn(missing_docs)]

pub mod accept;
pub mod bootstrap;
pub mod config;
mod connection;
pub mod driver;
mod engine;
pub mod enroll;
pub mod error;
pub mod frame;
pub mod grade_sheet;
pub mod harness;
pub mod http;
pub mod logs;
pub mod msg;
pub mod names;
mod outgoing;
mod peer;
pub mod pki;
pub mod receipt;
pub mod rules;
mod signed;
pub mod staff;
pub mod submit;
mod time;
pub mod tlog;
pub mod units;

pub use config::{ClientConfig, ConfigError, Identity, KeyExchange, Role, ServerConfig, Timeouts};
pub use connection::{Connection, Protocol};
pub use engine::HandshakeInfo;
pub use enroll::{EnrollClient, EnrollClientEvent, EnrollServer, EnrollServerEvent};
pub use error::{Error, Refusal, RefusalCode, UsageError};
pub use msg::{
    AssignmentSpec, CourseRow, FeedbackFile, GradeEntry, GradeSpec, LogRow, StatusRow,
    StreamedOffer, SubmissionEntry, SubmissionState, UploadOffer,
};
pub use pki::{PersonId, StaffLogin, StudentId};
pub use receipt::{Receipt, ReceiptBody, ReceiptSigner};
pub use staff::{StaffClient, StaffClientEvent, StaffRequest, StaffServer, StaffServerEvent};
pub use submit::{SubmitClient, SubmitClientEvent, SubmitServer, SubmitServerEvent};
pub use time::Now;

/// Re-exported so users name the same types the core does.
pub use rustls;

#[cfg(test)]
mod tests;
