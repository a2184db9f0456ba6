//! The load generator behind `loadgen`: each measurement in its own module, run against the
//! real server binaries, printing JSON lines that `loadgen summarize` reduces to medians.

pub mod loadgen;
