//! The multipart/form-data parser, fed an arbitrary body cut at arbitrary points: it never
//! panics, keeps its buffer within the bound after every drain, yields the same events and
//! outcome however the body is cut, yields them in a well-formed order, and never hands out more of a non-file
//! field than the limit.
//!
//! Input: one byte choosing the boundary and limits, one byte seeding the cut sizes, then the
//! body.
#![no_main]

use handin_core::http::multipart::{MultipartError, MultipartLimits, MultipartParser, PartEvent};
use libfuzzer_sys::fuzz_target;

const BOUNDARIES: [&[u8]; 2] = [b"b0und", b"----WebKitFormBoundaryePkpFF7tjBAqx29L"];

/// Runs the parser over `body` cut into pieces of the given sizes, merging consecutive `Data`.
fn run(
    boundary: &[u8],
    limits: MultipartLimits,
    body: &[u8],
    mut cut: impl FnMut() -> usize,
) -> (Vec<PartEvent>, Result<(), MultipartError>) {
    let mut parser = MultipartParser::new(boundary.to_vec(), limits);
    let bound = (limits.max_header_bytes + 3).max(boundary.len() + 4);
    let mut events: Vec<PartEvent> = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = cut().clamp(1, rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        if let Err(e) = parser.feed(piece) {
            return (events, Err(e));
        }
        loop {
            match parser.next() {
                Ok(Some(PartEvent::Data(d))) => {
                    assert!(!d.is_empty());
                    match events.last_mut() {
                        Some(PartEvent::Data(prev)) => {
                            *prev = [&prev[..], &d[..]].concat().into();
                        }
                        _ => events.push(PartEvent::Data(d)),
                    }
                }
                Ok(Some(e)) => events.push(e),
                Ok(None) => break,
                Err(e) => return (events, Err(e)),
            }
        }
        assert!(parser.buffered() <= bound);
    }
    (events, parser.finish())
}

fuzz_target!(|input: &[u8]| {
    let [choice, seed, body @ ..] = input else {
        return;
    };
    let boundary = BOUNDARIES[usize::from(choice & 1)];
    let limits = if choice & 2 == 0 {
        MultipartLimits::default()
    } else {
        MultipartLimits {
            max_header_bytes: 64,
            max_parts: 3,
            max_field_bytes: 8,
        }
    };
    let whole = run(boundary, limits, body, || usize::MAX);
    let mut state = u32::from(*seed) | 1;
    let pieces = run(boundary, limits, body, || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 64) as usize + 1
    });
    // The same outcome and events however the body is cut; on an error, the bytes of the part
    // it stopped in that were handed out before it depend on the cuts, so they are left out.
    let strip = |(mut events, result): (Vec<PartEvent>, Result<(), MultipartError>)| {
        if result.is_err() && matches!(events.last(), Some(PartEvent::Data(_))) {
            events.pop();
        }
        (events, result)
    };
    let (whole, pieces) = (strip(whole), strip(pieces));
    assert_eq!(whole, pieces);

    // The order: (PartStart Data* PartEnd)* End, possibly cut short by an error or the end.
    let (events, _) = whole;
    let mut in_part = false;
    let mut field = None;
    for (i, event) in events.iter().enumerate() {
        match event {
            PartEvent::PartStart { file_name, .. } => {
                assert!(!in_part);
                in_part = true;
                field = file_name.is_none().then_some(0usize);
            }
            PartEvent::Data(d) => {
                assert!(in_part);
                if let Some(seen) = &mut field {
                    *seen += d.len();
                    assert!(*seen as u64 <= limits.max_field_bytes);
                }
            }
            PartEvent::PartEnd => {
                assert!(in_part);
                in_part = false;
            }
            PartEvent::End => {
                assert!(!in_part);
                assert_eq!(i, events.len() - 1);
            }
        }
    }
});
