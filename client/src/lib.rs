//! The handin clients as a library: the student's profile and its exchanges with CUHK and
//! Blackboard (enroll, renew, submit, list, fetch, verify a receipt), each written once against
//! any transport's [`Link`](handin_core::driver::Link), the staff side ([`staff`]: enrollment
//! with a staff login or a TA's student ID, into the same profile), and the choice of
//! transport. [`config`] says where the servers are: the addresses the profile remembers, the
//! environment and the flags.

pub mod config;
mod error;
pub use handin_core::grade_sheet;
pub mod logs;
pub mod net;
pub mod printable;
pub mod session;
pub mod staff;
pub mod student;
mod upload;

pub use error::{ErrorKind, StudentError};
pub use handin_core::pki::rfc3339;
