//! The wiring shared by the handin role binaries: command-line helpers, the choice of
//! transport for serving, and signals.

pub mod cli;
pub mod net;
pub mod signals;
