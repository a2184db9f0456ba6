//! Tests on the in-memory harness, and of the text encodings the core writes and reads.

mod encoding;
mod model;
mod props;
mod refusals;
mod scenario;
mod standing;
