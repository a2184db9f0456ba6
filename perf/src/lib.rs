//! The load generator behind `loadgen`: each measurement in its own module, run against the
//! real server binaries, printing JSON lines that `loadgen summarize` reduces to medians.

// The storm's one JSON object has more fields than `serde_json::json!` expands by default.
#![recursion_limit = "256"]

pub mod loadgen;
