//! Tests on the in-memory harness.

mod props;
mod refusals;
mod scenario;
