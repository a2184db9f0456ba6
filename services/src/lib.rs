//! The applications behind handin's connections: CUHK's registrar records and enrollment
//! service, Blackboard's durable submission store and submission service, the storage they sit
//! on, and the runtime that keeps disk work off the network event loops.
//!
//! - [`blackboard`]: the submission and staff services (a [`blackboard::Conn`] per connection,
//!   a student's [`blackboard::BbConn`] or a staff member's [`blackboard::StaffConn`] once its
//!   ClientHello says which);
//! - [`board`]: Blackboard's store and courses, applying the core's rules in the durability
//!   order;
//! - [`cuhk`]: the enrollment service and the PKI directory;
//! - [`registrar`]: CUHK's records and decisions;
//! - [`store`]: the storage traits and their SQLite implementation, and the blob directory;
//! - [`runtime`]: the worker pool, the group-commit engine, the upload budget, panic
//!   containment;
//! - [`crl_watch`]: reloading a rewritten CRL;
//! - [`people_csv`]: class lists and roster imports from spreadsheets;
//! - [`zip_stream`]: the streaming zip writer behind staff's download of every submission.

pub mod blackboard;
pub mod board;
pub mod crl_watch;
pub mod cuhk;
pub mod people_csv;
pub mod registrar;
pub mod runtime;
pub mod secret_file;
pub mod store;
pub mod translog;
pub mod zip_stream;
