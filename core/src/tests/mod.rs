//! Tests on the in-memory harness.

mod model;
mod props;
mod refusals;
mod scenario;
mod standing;
