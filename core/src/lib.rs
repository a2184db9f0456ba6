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
//!           handle_timeout(now)                  poll_timeout() -> deadline
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
//! Four connection types drive the two protocols: [`EnrollClient`] / [`EnrollServer`]
//! (`handin-enroll/1`) and [`SubmitClient`] / [`SubmitServer`] (`handin-submit/1`). Each
//! documents its call protocol. The rule common to all: after every input (`receive`,
//! `handle_timeout`, `handle_eof`, or an application call), drain `poll_event()` until `None`,
//! then `poll_transmit()` and send what it returns, then wait until `poll_timeout()` or until
//! more bytes arrive.
//!
//! [`harness`] pumps a client and a server through byte buffers on a virtual clock; the crate's
//! tests, the fuzz targets and the benchmarks use it, and so can yours.

#![warn(missing_docs)]

pub mod config;
mod conn;
pub mod driver;
pub mod enroll;
pub mod error;
pub mod frame;
pub mod harness;
pub mod msg;
pub mod names;
pub mod pki;
pub mod receipt;
pub mod rules;
pub mod submit;

pub use config::{ClientConfig, ConfigError, Identity, Role, ServerConfig, Timeouts};
pub use conn::HandshakeInfo;
pub use enroll::{EnrollClient, EnrollClientEvent, EnrollServer, EnrollServerEvent};
pub use error::{Error, Refusal, RefusalCode, UsageError};
pub use msg::{SubmissionEntry, UploadOffer};
pub use pki::StudentId;
pub use receipt::{Receipt, ReceiptBody, ReceiptSigner};
pub use submit::{SubmitClient, SubmitClientEvent, SubmitServer, SubmitServerEvent};

/// Re-exported so users name the same types the core does.
pub use rustls;

#[cfg(test)]
mod tests;
