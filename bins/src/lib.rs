//! The wiring shared by the handin role binaries: command-line helpers, the choice of
//! transport for serving, the JSON they print, the servers a client talks to, and signals.

pub mod cli;
pub mod export;
pub mod json;
pub mod net;
pub mod servers;
pub mod signals;
