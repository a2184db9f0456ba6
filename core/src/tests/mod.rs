//! Tests on the in-memory harness.

mod scenario;
