//! The streaming zip writer, given arbitrary names and contents in arbitrary chunks: it never
//! panics, refuses the same names a zip reader would place outside its folder, counts exactly
//! the bytes it appends, and what it writes opens with the `zip` crate with every accepted
//! entry's name and contents.
#![no_main]

use std::io::{Cursor, Read};
use std::time::{Duration, SystemTime};

use arbitrary::Arbitrary;
use handin_services::zip_stream::{ZipError, ZipStream};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    zip64: bool,
    entries: Vec<(String, Vec<u8>, u8, u32)>,
}

fuzz_target!(|input: Input| {
    let mut zip = if input.zip64 {
        ZipStream::with_zip64()
    } else {
        ZipStream::new()
    };
    let mut out = Vec::new();
    let mut accepted: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, contents, chunk, secs) in input.entries.iter().take(64) {
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(*secs));
        match zip.start_entry(name, when, &mut out) {
            Ok(()) => {}
            Err(ZipError::BadName { .. }) | Err(ZipError::DuplicateName(_)) => continue,
            Err(e) => panic!("unexpected {e}"),
        }
        assert!(!name.is_empty() && !name.starts_with('/') && !name.contains('\\'));
        assert!(!name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".."));
        for piece in contents.chunks(usize::from(*chunk).max(1)) {
            zip.data(piece, &mut out).expect("data in an open entry");
        }
        zip.end_entry(&mut out).expect("end of an open entry");
        accepted.push((name.clone(), contents.clone()));
        assert_eq!(zip.bytes_written(), out.len() as u64);
    }
    zip.finish(&mut out).expect("finish with no entry open");

    let mut archive = zip::ZipArchive::new(Cursor::new(&out)).expect("the zip crate opens it");
    assert_eq!(archive.len(), accepted.len());
    for (i, (name, contents)) in accepted.iter().enumerate() {
        let mut file = archive.by_index(i).expect("entry");
        assert_eq!(file.name(), name);
        assert_eq!(file.size(), contents.len() as u64);
        let mut back = Vec::new();
        file.read_to_end(&mut back).expect("read, CRC checked");
        assert_eq!(&back, contents);
    }
});
