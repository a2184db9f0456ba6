//! Every message decoder, through the frame type byte: decoding arbitrary payloads never panics,
//! and whatever decodes re-encodes to the same bytes.
#![no_main]

use bytes::{Bytes, BytesMut};
use handin_core::frame::{Frame, FrameDecoder};
use handin_core::msg::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, Vec<u8>)| {
    let (kind, payload) = input;
    let frame = Frame {
        kind,
        payload: Bytes::from(payload),
    };
    if let Ok(msg) = Message::decode(&frame) {
        let mut out = BytesMut::new();
        // A message that decoded is within every limit, so it encodes again.
        msg.encode(&mut out).expect("a decoded message re-encodes");
        let mut d = FrameDecoder::new();
        d.push(&out);
        let again = d.next_frame().expect("valid").expect("whole");
        // Refusal reasons longer than the cap are cut when encoded; everything else is exact.
        if !matches!(msg, Message::Refused(_) | Message::Error(_)) {
            assert_eq!(again, frame);
        }
        assert!(Message::decode(&again).is_ok());
    }
    let _ = handin_core::Receipt::decode(&frame.payload);
});
