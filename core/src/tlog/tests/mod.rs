//! Tests of the transparency-log code: known answers, property tests, hostile input.

mod checkpoint;
mod proofs;
mod tiles;
