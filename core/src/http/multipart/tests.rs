//! Tests of the multipart parser: a body as Chromium sends it, cut at every point; the
//! Content-Type boundary; hostile bodies; and a property test round-tripping random parts
//! through an encoder written here.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

const CHROMIUM_BOUNDARY: &str = "----WebKitFormBoundaryePkpFF7tjBAqx29L";

/// A body as Chromium sends a form with a text input, two file inputs (one with a non-ASCII
/// file name) and an empty file input, written out by hand from what it puts on the wire.
fn chromium_body() -> Vec<u8> {
    let mut body = Vec::new();
    let b = CHROMIUM_BOUNDARY;
    body.extend_from_slice(
        format!(
            "--{b}\r\n\
             Content-Disposition: form-data; name=\"assignment\"\r\n\
             \r\n\
             hw1\r\n\
             --{b}\r\n\
             Content-Disposition: form-data; name=\"file\"; filename=\"report final.pdf\"\r\n\
             Content-Type: application/pdf\r\n\
             \r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&pdf_bytes());
    body.extend_from_slice(
        format!(
            "\r\n--{b}\r\n\
             Content-Disposition: form-data; name=\"extra\"; filename=\"作业 %22一%22.txt\"\r\n\
             Content-Type: text/plain\r\n\
             \r\n\
             line one\r\nline two\r\n\
             \r\n--{b}\r\n\
             Content-Disposition: form-data; name=\"empty\"; filename=\"\"\r\n\
             Content-Type: application/octet-stream\r\n\
             \r\n\
             \r\n--{b}--\r\n"
        )
        .as_bytes(),
    );
    body
}

/// File contents with binary bytes and things that look like the start of a delimiter.
fn pdf_bytes() -> Vec<u8> {
    let mut pdf = b"%PDF-1.7\n\x00\xff\xfe\r\n-\r\n--\r\n------WebKitFormBoundary".to_vec();
    pdf.extend((0..=255u8).cycle().take(3000));
    pdf.extend_from_slice(b"\r\n--");
    pdf.extend_from_slice(&CHROMIUM_BOUNDARY.as_bytes()[..20]);
    pdf.extend_from_slice(b"\r");
    pdf
}

fn start(name: &str, file_name: Option<&str>, content_type: Option<&str>) -> PartEvent {
    PartEvent::PartStart {
        name: name.to_owned(),
        file_name: file_name.map(str::to_owned),
        content_type: content_type.map(str::to_owned),
    }
}

fn data(bytes: &[u8]) -> PartEvent {
    PartEvent::Data(Bytes::copy_from_slice(bytes))
}

fn chromium_events() -> Vec<PartEvent> {
    vec![
        start("assignment", None, None),
        data(b"hw1"),
        PartEvent::PartEnd,
        start("file", Some("report final.pdf"), Some("application/pdf")),
        data(&pdf_bytes()),
        PartEvent::PartEnd,
        start("extra", Some("作业 %22一%22.txt"), Some("text/plain")),
        data(b"line one\r\nline two\r\n"),
        PartEvent::PartEnd,
        start("empty", Some(""), Some("application/octet-stream")),
        PartEvent::PartEnd,
        PartEvent::End,
    ]
}

/// Feeds `body` in the given pieces, draining after each, and returns the events with
/// consecutive `Data` merged (how bytes are cut into `Data` depends on the pieces), checking
/// the memory bound after every drain. Stops at the first error.
fn parse_pieces<'a>(
    boundary: &[u8],
    limits: MultipartLimits,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<PartEvent>, Result<(), MultipartError>) {
    let mut parser = MultipartParser::new(boundary.to_vec(), limits);
    let bound = (limits.max_header_bytes + 3).max(boundary.len() + 4);
    let mut events: Vec<PartEvent> = Vec::new();
    for piece in pieces {
        if let Err(e) = parser.feed(piece) {
            return (events, Err(e));
        }
        loop {
            match parser.next() {
                Ok(Some(PartEvent::Data(d))) => {
                    assert!(!d.is_empty(), "an empty Data event");
                    match events.last_mut() {
                        Some(PartEvent::Data(prev)) => {
                            let mut joined = prev.to_vec();
                            joined.extend_from_slice(&d);
                            *prev = Bytes::from(joined);
                        }
                        _ => events.push(PartEvent::Data(d)),
                    }
                }
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(e) => return (events, Err(e)),
            }
        }
        assert!(
            parser.buffered() <= bound,
            "{} bytes buffered after a drain, over {bound}",
            parser.buffered()
        );
    }
    (events, parser.finish())
}

fn parse_whole(body: &[u8]) -> (Vec<PartEvent>, Result<(), MultipartError>) {
    parse_pieces(b"b0und", MultipartLimits::default(), [body])
}

#[test]
fn chromium_body_at_every_split_point() {
    let body = chromium_body();
    let boundary = CHROMIUM_BOUNDARY.as_bytes();
    let limits = MultipartLimits::default();
    let (events, result) = parse_pieces(boundary, limits, [&body[..]]);
    assert_eq!(result, Ok(()));
    assert_eq!(events, chromium_events());
    for cut in 0..=body.len() {
        let (a, b) = body.split_at(cut);
        assert_eq!(
            parse_pieces(boundary, limits, [a, b]),
            (chromium_events(), Ok(())),
            "cut at {cut}"
        );
    }
    let bytes = parse_pieces(boundary, limits, body.chunks(1));
    assert_eq!(bytes, (chromium_events(), Ok(())), "one byte at a time");
}

#[test]
fn file_bytes_stream_out_before_the_part_ends() {
    let b = "xyz";
    let mut parser = MultipartParser::new(b.into(), MultipartLimits::default());
    let head = format!("--{b}\r\nContent-Disposition: form-data; name=f; filename=a.bin\r\n\r\n");
    parser.feed(head.as_bytes()).expect("feed");
    assert_eq!(parser.next(), Ok(Some(start("f", Some("a.bin"), None))));
    for _ in 0..100 {
        parser.feed(&[7u8; 1000]).expect("feed");
        assert_eq!(parser.next(), Ok(Some(data(&[7u8; 1000]))));
        assert_eq!(parser.next(), Ok(None));
        assert_eq!(parser.buffered(), 0);
    }
    // Bytes that may begin a delimiter wait for the next ones.
    parser.feed(b"abc\r\n--x").expect("feed");
    assert_eq!(parser.next(), Ok(Some(data(b"abc"))));
    assert_eq!(parser.next(), Ok(None));
    assert_eq!(parser.buffered(), 5);
    parser.feed(b"y!").expect("feed");
    assert_eq!(parser.next(), Ok(Some(data(b"\r\n--xy!"))));
    parser.feed(b"\r\n--xyz--").expect("feed");
    assert_eq!(parser.next(), Ok(Some(PartEvent::PartEnd)));
    assert_eq!(parser.next(), Ok(Some(PartEvent::End)));
    assert_eq!(parser.next(), Ok(None));
    parser
        .feed(b"epilogue, ignored")
        .expect("feed after the end");
    assert_eq!(parser.buffered(), 0);
    assert_eq!(parser.finish(), Ok(()));
}

#[test]
fn boundary_from_content_type() {
    let b = |s: &str| boundary(s).map(|v| String::from_utf8(v).expect("ascii"));
    assert_eq!(
        b("multipart/form-data; boundary=----WebKitFormBoundaryePkpFF7tjBAqx29L").as_deref(),
        Ok("----WebKitFormBoundaryePkpFF7tjBAqx29L")
    );
    assert_eq!(b("Multipart/Form-Data;BOUNDARY=abc").as_deref(), Ok("abc"));
    assert_eq!(
        b("multipart/form-data; charset=utf-8; boundary=\"a b:c\"").as_deref(),
        Ok("a b:c")
    );
    assert_eq!(
        b(&format!("multipart/form-data; boundary={}", "x".repeat(70))).map(|s| s.len()),
        Ok(70)
    );
    assert_eq!(
        b(&format!("multipart/form-data; boundary={}", "x".repeat(71))),
        Err(MultipartError::BoundaryLength { len: 71 })
    );
    assert_eq!(
        b("multipart/form-data; boundary=\"\""),
        Err(MultipartError::BoundaryLength { len: 0 })
    );
    assert_eq!(
        b("multipart/form-data; boundary=\"ab \""),
        Err(MultipartError::BoundaryChar)
    );
    assert_eq!(
        b("multipart/form-data; boundary=\"a\\\\b\""),
        Err(MultipartError::BoundaryChar)
    );
    assert_eq!(b("multipart/form-data"), Err(MultipartError::NoBoundary));
    assert_eq!(
        b("multipart/mixed; boundary=abc"),
        Err(MultipartError::NotFormData)
    );
    assert_eq!(
        b("application/x-www-form-urlencoded"),
        Err(MultipartError::NotFormData)
    );
    assert!(matches!(
        b("multipart/form-data; boundary"),
        Err(MultipartError::BadContentType(_))
    ));
    assert!(matches!(
        b("multipart/form-data; boundary=\"abc"),
        Err(MultipartError::BadContentType(_))
    ));
}

#[test]
fn disposition_parameters() {
    let one = |disposition: &str| {
        let body = format!("--b0und\r\nContent-Disposition: {disposition}\r\n\r\nx\r\n--b0und--");
        let (events, result) = parse_whole(body.as_bytes());
        result.map(|()| events[0].clone())
    };
    // Quoted-string escapes of the two characters that need them; other backslashes stay.
    assert_eq!(
        one(r#"form-data; name="a\"b"; filename="c:\dir\\x.pdf""#),
        Ok(start("a\"b", Some("c:\\dir\\x.pdf"), None))
    );
    // RFC 5987 filename* is preferred over filename, in either order.
    assert_eq!(
        one("form-data; filename*=UTF-8''%E4%BD%9C%E4%B8%9A.pdf; name=f; filename=\"x.pdf\""),
        Ok(start("f", Some("作业.pdf"), None))
    );
    assert_eq!(
        one("FORM-DATA; NAME=f ; filename*=utf-8'en'a%20b.pdf;"),
        Ok(start("f", Some("a b.pdf"), None))
    );
    assert!(matches!(
        one("form-data; name=f; filename*=iso-8859-1''%E9.pdf"),
        Err(MultipartError::BadHeaders(_))
    ));
    assert_eq!(
        one("form-data; name=f; filename*=UTF-8''%FF.pdf"),
        Err(MultipartError::NotUtf8)
    );
    assert_eq!(
        one("attachment; name=f"),
        Err(MultipartError::NotFormDataPart)
    );
    assert_eq!(one("form-data; filename=x"), Err(MultipartError::NoName));
    assert!(matches!(
        one("form-data; name=a; name=b"),
        Err(MultipartError::BadHeaders(_))
    ));
    assert!(matches!(
        one("form-data; name=\"a"),
        Err(MultipartError::BadHeaders(_))
    ));
    assert_eq!(
        one("form-data name=a"),
        Err(MultipartError::NotFormDataPart)
    );
}

#[test]
fn names_that_are_not_utf8_are_refused() {
    let mut body =
        b"--b0und\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\nx\r\n--b0und--".to_vec();
    assert_eq!(parse_whole(&body).1, Err(MultipartError::NotUtf8));
    body = b"--b0und\r\nContent-Disposition: form-data; name=a; filename=\"\xc3(\"\r\n\r\nx\r\n--b0und--".to_vec();
    assert_eq!(parse_whole(&body).1, Err(MultipartError::NotUtf8));
}

#[test]
fn preamble_and_epilogue_are_ignored() {
    let body = b"This is the preamble.\r\n--b0und \t\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b0und--\r\nepilogue";
    let (events, result) = parse_whole(body);
    assert_eq!(result, Ok(()));
    assert_eq!(
        events,
        vec![
            start("a", None, None),
            data(b"1"),
            PartEvent::PartEnd,
            PartEvent::End
        ]
    );
}

#[test]
fn missing_close_delimiter() {
    let body = b"--b0und\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b0und\r\n";
    assert_eq!(parse_whole(body).1, Err(MultipartError::Truncated));
    assert_eq!(parse_whole(b"").1, Err(MultipartError::Truncated));
    let cut = b"--b0und\r\nContent-Disposition: form-data; name=a; filename=x\r\n\r\nhalf a fi";
    let (events, result) = parse_whole(cut);
    assert_eq!(result, Err(MultipartError::Truncated));
    assert_eq!(events.last(), Some(&data(b"half a fi")));
}

#[test]
fn lf_line_endings_are_refused() {
    let body = b"--b0und\nContent-Disposition: form-data; name=a\n\n1\n--b0und--\n";
    assert_eq!(parse_whole(body).1, Err(MultipartError::BadDelimiterLine));
}

#[test]
fn headers_over_the_limit() {
    let long = format!(
        "--b0und\r\nContent-Disposition: form-data; name=a\r\nX-Junk: {}\r\n\r\n1\r\n--b0und--",
        "j".repeat(9000)
    );
    let (_, result) = parse_whole(long.as_bytes());
    assert_eq!(result, Err(MultipartError::HeadersTooLong { limit: 8192 }));
    assert_eq!(
        result.map_err(|e| e.to_string()),
        Err("the form's part headers are over 8 KiB".into())
    );
    // The same, fed in small pieces: refused once the limit is passed, not at the end.
    let (_, result) = parse_pieces(
        b"b0und",
        MultipartLimits::default(),
        long.as_bytes()[..8300].chunks(100),
    );
    assert_eq!(result, Err(MultipartError::HeadersTooLong { limit: 8192 }));
    // Padding without end after a boundary counts against the same limit.
    let padding = format!("--b0und{}", " ".repeat(9000));
    assert_eq!(
        parse_whole(padding.as_bytes()).1,
        Err(MultipartError::HeadersTooLong { limit: 8192 })
    );
    // Too much padding is too long whatever follows it, however the body is cut.
    let junk = format!("--b0und{}junk", " ".repeat(9000));
    assert_eq!(
        parse_whole(junk.as_bytes()).1,
        Err(MultipartError::HeadersTooLong { limit: 8192 })
    );
    let (_, result) = parse_pieces(
        b"b0und",
        MultipartLimits::default(),
        junk.as_bytes().chunks(7),
    );
    assert_eq!(result, Err(MultipartError::HeadersTooLong { limit: 8192 }));
    // Exactly at the limit is fine.
    let line = "Content-Disposition: form-data; name=a\r\nX-Junk: ";
    let exact = format!(
        "--b0und\r\n{line}{}\r\n\r\n1\r\n--b0und--",
        "j".repeat(8192 - line.len())
    );
    assert_eq!(parse_whole(exact.as_bytes()).1, Ok(()));
}

#[test]
fn too_many_parts() {
    let part = "--b0und\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n";
    let body = format!("{}--b0und--", part.repeat(17));
    let (events, result) = parse_whole(body.as_bytes());
    assert_eq!(result, Err(MultipartError::TooManyParts { limit: 16 }));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, PartEvent::PartStart { .. }))
            .count(),
        16
    );
    let sixteen = format!("{}--b0und--", part.repeat(16));
    assert_eq!(parse_whole(sixteen.as_bytes()).1, Ok(()));
}

#[test]
fn parts_without_content_disposition() {
    let body = b"--b0und\r\nContent-Type: text/plain\r\n\r\n1\r\n--b0und--";
    assert_eq!(parse_whole(body).1, Err(MultipartError::NoDisposition));
    let no_headers = b"--b0und\r\n\r\n1\r\n--b0und--";
    assert_eq!(
        parse_whole(no_headers).1,
        Err(MultipartError::NoDisposition)
    );
    let folded = b"--b0und\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\n1\r\n--b0und--";
    assert!(matches!(
        parse_whole(folded).1,
        Err(MultipartError::BadHeaders(_))
    ));
}

#[test]
fn field_over_its_limit() {
    let body = format!(
        "--b0und\r\nContent-Disposition: form-data; name=comment\r\n\r\n{}\r\n--b0und--",
        "c".repeat(65537)
    );
    let (_, result) = parse_whole(body.as_bytes());
    assert_eq!(
        result.map_err(|e| e.to_string()),
        Err("the form field \"comment\" is over 64 KiB".into())
    );
    // A file of the same size is not a field.
    let file = body.replace("name=comment", "name=comment; filename=c.txt");
    assert_eq!(parse_whole(file.as_bytes()).1, Ok(()));
    let exact = format!(
        "--b0und\r\nContent-Disposition: form-data; name=c\r\n\r\n{}\r\n--b0und--",
        "c".repeat(65536)
    );
    assert_eq!(parse_whole(exact.as_bytes()).1, Ok(()));
}

#[test]
fn errors_are_final() {
    let mut parser = MultipartParser::new(b"b0und".to_vec(), MultipartLimits::default());
    parser.feed(b"--b0und\r\n\r\n").expect("feed");
    assert_eq!(parser.next(), Err(MultipartError::NoDisposition));
    assert_eq!(parser.next(), Err(MultipartError::NoDisposition));
    assert_eq!(parser.feed(b"more"), Err(MultipartError::NoDisposition));
    assert_eq!(parser.finish(), Err(MultipartError::NoDisposition));
}

/// One part for the round trip: name, file name, content type, contents.
type Part = (String, Option<String>, Option<String>, Vec<u8>);

const PROP_BOUNDARY: &[u8] = b"----formBoundary7MA4YWxk";

/// Encodes parts as a browser would (the test's own encoder, independent of the parser).
fn encode(parts: &[Part]) -> Vec<u8> {
    let b = String::from_utf8_lossy(PROP_BOUNDARY);
    let mut body = Vec::new();
    for (name, file_name, content_type, contents) in parts {
        body.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
        );
        if let Some(f) = file_name {
            body.extend_from_slice(
                format!(
                    "; filename=\"{}\"",
                    f.replace('\\', "\\\\").replace('"', "\\\"")
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(b"\r\n");
        if let Some(t) = content_type {
            body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(contents);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    body
}

/// Contents made of random bytes and pieces that look like the start of a delimiter.
fn contents() -> impl Strategy<Value = Vec<u8>> {
    let tricky = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (0..PROP_BOUNDARY.len()).prop_map(|n| {
            let mut v = b"\r\n--".to_vec();
            v.extend_from_slice(&PROP_BOUNDARY[..n]);
            v
        }),
        Just(b"\r\n--bou".to_vec()),
        Just(b"\r\n\r\n--".to_vec()),
        Just(b"\r".to_vec()),
    ];
    proptest::collection::vec(tricky, 0..12).prop_map(|pieces| pieces.concat())
}

fn part() -> impl Strategy<Value = Part> {
    (
        "[a-z_]{1,12}",
        proptest::option::of("[^\r\n\u{0}]{0,20}"),
        proptest::option::of("[a-z]{1,8}/[a-z0-9.+-]{1,12}"),
        contents(),
    )
}

proptest! {
    #[test]
    fn random_parts_round_trip(parts in proptest::collection::vec(part(), 0..6), cuts in proptest::collection::vec(1usize..200, 1..40)) {
        let body = encode(&parts);
        let delimiter = [b"\r\n--".as_slice(), PROP_BOUNDARY].concat();
        prop_assume!(parts.iter().all(|p| memchr::memmem::find(&p.3, &delimiter).is_none()));
        let mut expected = Vec::new();
        for (name, file_name, content_type, contents) in &parts {
            expected.push(PartEvent::PartStart { name: name.clone(), file_name: file_name.clone(), content_type: content_type.clone() });
            if !contents.is_empty() {
                expected.push(PartEvent::Data(Bytes::copy_from_slice(contents)));
            }
            expected.push(PartEvent::PartEnd);
        }
        expected.push(PartEvent::End);
        let mut pieces = Vec::new();
        let mut rest = &body[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() { break; }
            let (a, b) = rest.split_at((*cut).min(rest.len()));
            pieces.push(a);
            rest = b;
        }
        let limits = MultipartLimits { max_field_bytes: u64::MAX, ..MultipartLimits::default() };
        let (events, result) = parse_pieces(PROP_BOUNDARY, limits, pieces);
        prop_assert_eq!(result, Ok(()));
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600), cut in 0usize..600) {
        let cut = cut.min(body.len());
        let (a, b) = body.split_at(cut);
        let whole = parse_pieces(b"b0und", MultipartLimits::default(), [&body[..]]);
        let split = parse_pieces(b"b0und", MultipartLimits::default(), [a, b]);
        prop_assert_eq!(whole, split);
    }
}
