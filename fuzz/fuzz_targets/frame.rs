//! The frame decoder, fed arbitrary bytes cut at arbitrary points: it never panics, never yields
//! a payload over the limit, and decodes the same frames however the bytes are cut.
#![no_main]

use handin_core::frame::{FrameDecoder, MAX_PAYLOAD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (bytes, cuts) = input;
    let mut whole = FrameDecoder::new();
    whole.push(&bytes);
    let mut expected = Vec::new();
    let whole_err = loop {
        match whole.next_frame() {
            Ok(Some(f)) => {
                assert!(f.payload.len() <= MAX_PAYLOAD);
                expected.push(f);
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    let mut pieces = FrameDecoder::new();
    let mut got = Vec::new();
    let mut rest = &bytes[..];
    let mut i = 0;
    let mut err = None;
    while !rest.is_empty() && err.is_none() {
        let n = (cuts.get(i).copied().unwrap_or(255) as usize).clamp(1, rest.len());
        i += 1;
        pieces.push(&rest[..n]);
        rest = &rest[n..];
        loop {
            match pieces.next_frame() {
                Ok(Some(f)) => got.push(f),
                Ok(None) => break,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
    }
    assert_eq!(got, expected);
    assert_eq!(err.is_some(), whole_err.is_some());
});
