//! The application services behind the handin role binaries: CUHK's registrar records and
//! enrollment service, Blackboard's durable submission store and submission service, the
//! student's profile and commands, and the worker pool that keeps disk work off the network
//! event loops.

pub mod blackboard;
pub mod board;
pub mod cli;
pub mod crl_watch;
pub mod cuhk;
pub mod dirlock;
pub mod fsio;
pub mod loadgen;
pub mod net;
pub mod pool;
pub mod registrar;
pub mod signals;
pub mod sqlite;
pub mod student;
pub mod swap;
