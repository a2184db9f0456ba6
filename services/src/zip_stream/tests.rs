//! Tests of the zip writer with independent readers: Python's `zipfile` and Info-ZIP `unzip`
//! open what it writes (empty, one, many entries, empty files, non-ASCII names, ZIP64 forced,
//! more than 65,535 entries, and an archive over 4 GiB written sparse), and it refuses names
//! that could escape the extraction folder.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::*;

/// 2023-11-14 22:13:20 UTC.
fn when() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn sha256_hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

/// Writes `entries` (each given in chunks of at most 1000 bytes) with `zip`, returning the
/// archive.
fn build(mut zip: ZipStream, entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, contents) in entries {
        zip.start_entry(name, when(), &mut out)
            .expect("start_entry");
        for chunk in contents.chunks(1000) {
            zip.data(chunk, &mut out).expect("data");
        }
        zip.end_entry(&mut out).expect("end_entry");
    }
    let before = zip.bytes_written();
    assert_eq!(before, out.len() as u64);
    zip.finish(&mut out).expect("finish");
    out
}

/// What Python's zipfile reads in the archive at `path`, after `testzip()` checked every CRC:
/// one line per entry, `size crc date-time flags sha256 name`.
const PY_READER: &str = r#"
import hashlib, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    bad = z.testzip()
    if bad is not None:
        sys.exit("bad CRC in " + bad)
    for i in z.infolist():
        h = hashlib.sha256()
        with z.open(i) as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
        dt = "-".join(str(x) for x in i.date_time)
        print(i.file_size, i.CRC, dt, i.flag_bits, i.compress_type, h.hexdigest(), i.filename)
"#;

fn python_lines(path: &Path) -> Vec<String> {
    let output = Command::new("python3")
        .arg("-c")
        .arg(PY_READER)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn expected_line(name: &str, contents: &[u8]) -> String {
    let crc = crc32fast::hash(contents);
    format!(
        "{} {crc} 2023-11-14-22-13-20 2056 0 {} {name}",
        contents.len(),
        sha256_hex(contents)
    )
}

/// `unzip -t`: every entry's CRC checks; and `unzip -Z1`: the names it lists.
fn unzip_check(path: &Path) -> Vec<String> {
    let test = Command::new("unzip")
        .arg("-tq")
        .arg(path)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("unzip runs");
    assert!(
        test.status.success(),
        "unzip -t: {}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(String::from_utf8_lossy(&test.stdout).contains("No errors detected"));
    let list = Command::new("unzip")
        .arg("-Z1")
        .arg(path)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("unzip runs");
    assert!(list.status.success());
    String::from_utf8(list.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(bytes).expect("write");
    file
}

/// Checks an archive of `entries` with both readers.
fn check_with_readers(archive: &[u8], entries: &[(&str, &[u8])]) {
    let file = write_temp(archive);
    let expected: Vec<String> = entries.iter().map(|(n, c)| expected_line(n, c)).collect();
    assert_eq!(python_lines(file.path()), expected);
    if !entries.is_empty() {
        let names: Vec<String> = entries.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(unzip_check(file.path()), names);
    }
}

fn sample_entries() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "1155000001/report.pdf",
            b"%PDF-1.7\n".iter().copied().cycle().take(5000).collect(),
        ),
        ("1155000001/empty.txt", Vec::new()),
        (
            "1155000002/作业 一.pdf",
            (0..=255u8).cycle().take(70_000).collect(),
        ),
        ("1155000003/naïve résumé.txt", b"caf\xc3\xa9\n".to_vec()),
    ]
}

#[test]
fn empty_archive() {
    let archive = build(ZipStream::new(), &[]);
    assert_eq!(archive.len(), 22, "only the end record");
    check_with_readers(&archive, &[]);
}

#[test]
fn one_entry() {
    let archive = build(ZipStream::new(), &[("1155000001/hw1.pdf", b"hello")]);
    check_with_readers(&archive, &[("1155000001/hw1.pdf", b"hello")]);
    assert!(
        !contains(&archive, &ZIP64_END.to_le_bytes()),
        "no ZIP64 in a small archive"
    );
}

#[test]
fn many_entries_empty_files_and_non_ascii_names() {
    let owned = sample_entries();
    let mut entries: Vec<(String, Vec<u8>)> = owned
        .iter()
        .map(|(n, c)| (n.to_string(), c.clone()))
        .collect();
    for i in 0..60 {
        entries.push((format!("11550{i:05}/file {i}.bin"), vec![i as u8; i * 37]));
    }
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    check_with_readers(&build(ZipStream::new(), &refs), &refs);
}

#[test]
fn forced_zip64() {
    let owned = sample_entries();
    let refs: Vec<(&str, &[u8])> = owned.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    let archive = build(ZipStream::with_zip64(), &refs);
    assert!(contains(&archive, &ZIP64_END.to_le_bytes()));
    assert!(contains(&archive, &ZIP64_LOCATOR.to_le_bytes()));
    check_with_readers(&archive, &refs);
}

#[test]
fn more_than_65535_entries() {
    let mut zip = ZipStream::new();
    let mut out = Vec::new();
    let n = 70_000;
    for i in 0..n {
        zip.start_entry(&format!("s/{i}"), when(), &mut out)
            .expect("start");
        zip.data(&[i as u8], &mut out).expect("data");
        zip.end_entry(&mut out).expect("end");
    }
    zip.finish(&mut out).expect("finish");
    let file = write_temp(&out);
    let lines = python_lines(file.path());
    assert_eq!(lines.len(), n);
    assert_eq!(
        lines[n - 1],
        expected_line(&format!("s/{}", n - 1), &[(n - 1) as u8])
    );
    assert_eq!(unzip_check(file.path()).len(), n);
}

/// Over 4 GiB, without writing it: two entries of zeros of 2 GiB - 1 bytes (the largest a
/// submission may be), then small ones whose local headers, like the central directory, are
/// past 4 GiB. The zeros are skipped in a sparse file. Python reads the central directory and
/// the small entries through their 64-bit offsets (checking their CRCs), and the CRC the writer
/// recorded for the big ones is checked against zlib's; `unzip` lists the archive and extracts
/// a small entry. (Reading all 4 GiB back through both readers takes minutes; the layout is the
/// same as in `forced_zip64`, where they read everything.)
#[test]
fn archive_over_4_gib() {
    const BIG: u64 = (2 << 30) - 1;
    let zeros = vec![0u8; 1 << 20];
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    let mut zip = ZipStream::new();
    let mut out = Vec::new();
    for name in ["a/big1.bin", "b/big2.bin"] {
        zip.start_entry(name, when(), &mut out).expect("start");
        file.write_all(&out).expect("write");
        let mut left = BIG;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            out.clear();
            zip.data(&zeros[..n], &mut out).expect("data");
            assert_eq!(out.len(), n);
            file.seek(SeekFrom::Current(n as i64)).expect("seek");
            left -= n as u64;
        }
        out.clear();
        zip.end_entry(&mut out).expect("end");
        file.write_all(&out).expect("write");
        out.clear();
    }
    assert!(
        zip.bytes_written() > MAX32,
        "the next local header is past 4 GiB"
    );
    let small = ["d/after.txt", "e/also after.txt"];
    for name in small {
        zip.start_entry(name, when(), &mut out).expect("start");
        zip.data(name.as_bytes(), &mut out).expect("data");
        zip.end_entry(&mut out).expect("end");
    }
    zip.finish(&mut out).expect("finish");
    assert!(contains(&out, &ZIP64_END.to_le_bytes()));
    file.write_all(&out).expect("write");
    file.flush().expect("flush");

    let script = r#"
import sys, zipfile, zlib
crc, left, chunk = 0, (2 << 30) - 1, bytes(1 << 20)
while left:
    n = min(left, len(chunk))
    crc = zlib.crc32(chunk[:n], crc)
    left -= n
print(crc)
with zipfile.ZipFile(sys.argv[1]) as z:
    for i in z.infolist():
        body = z.read(i).decode() if i.file_size < 100 else ""
        print(i.filename, i.file_size, i.CRC, i.header_offset > 0xFFFFFFFF, body, sep="|")
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(file.path())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let mut lines = stdout.lines();
    let zeros_crc = lines.next().expect("the CRC of the zeros");
    let got: Vec<&str> = lines.collect();
    let mut expected = vec![
        format!("a/big1.bin|{BIG}|{zeros_crc}|False|"),
        format!("b/big2.bin|{BIG}|{zeros_crc}|False|"),
    ];
    for name in small {
        expected.push(format!(
            "{name}|{}|{}|True|{name}",
            name.len(),
            crc32fast::hash(name.as_bytes())
        ));
    }
    assert_eq!(got, expected);

    let list = Command::new("unzip")
        .arg("-Z1")
        .arg(file.path())
        .output()
        .expect("unzip runs");
    assert!(
        list.status.success(),
        "unzip -Z1: {}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .collect::<Vec<_>>(),
        ["a/big1.bin", "b/big2.bin", small[0], small[1]]
    );
    let extract = Command::new("unzip")
        .arg("-p")
        .arg(file.path())
        .arg(small[1])
        .output()
        .expect("unzip runs");
    assert!(
        extract.status.success(),
        "unzip -p: {}",
        String::from_utf8_lossy(&extract.stderr)
    );
    assert_eq!(extract.stdout, small[1].as_bytes());
}

#[test]
fn hostile_names_are_refused() {
    for name in [
        "",
        "../x",
        "a/../../x",
        "a/..",
        "..",
        "./a",
        "a/./b",
        "/etc/passwd",
        "a\\b",
        "..\\..\\x",
        "C:/Windows/x",
        "c:",
        "a//b",
        "a/",
        "a\0b",
    ] {
        let mut zip = ZipStream::new();
        let mut out = Vec::new();
        let result = zip.start_entry(name, when(), &mut out);
        assert!(
            matches!(result, Err(ZipError::BadName { .. })),
            "{name:?}: {result:?}"
        );
        assert!(out.is_empty(), "nothing written for {name:?}");
    }
    let long = "x".repeat(65_536);
    assert!(matches!(
        ZipStream::new().start_entry(&long, when(), &mut Vec::new()),
        Err(ZipError::BadName { .. })
    ));
    // Names that only look odd are fine.
    let mut zip = ZipStream::new();
    for name in ["a..b/c..", "1155/..hidden", "x/C:y", "…/ü"] {
        zip.start_entry(name, when(), &mut Vec::new()).expect(name);
        zip.end_entry(&mut Vec::new()).expect("end");
    }
}

#[test]
fn calls_out_of_order_and_duplicates_are_refused() {
    let mut zip = ZipStream::new();
    let mut out = Vec::new();
    assert_eq!(zip.data(b"x", &mut out), Err(ZipError::NoEntry));
    assert_eq!(zip.end_entry(&mut out), Err(ZipError::NoEntry));
    zip.start_entry("a/b", when(), &mut out).expect("start");
    assert_eq!(
        zip.start_entry("a/c", when(), &mut out),
        Err(ZipError::EntryOpen("a/b".into()))
    );
    zip.end_entry(&mut out).expect("end");
    assert_eq!(
        zip.start_entry("a/b", when(), &mut out),
        Err(ZipError::DuplicateName("a/b".into()))
    );
    zip.start_entry("a/c", when(), &mut out).expect("start");
    assert_eq!(zip.finish(&mut out), Err(ZipError::EntryOpen("a/c".into())));
}

#[test]
fn dates_outside_dos_range_are_clamped() {
    let early = SystemTime::UNIX_EPOCH;
    let late = SystemTime::UNIX_EPOCH + Duration::from_secs(5_000_000_000); // 2128
    assert_eq!(timestamps(early), (0, (1 << 5) | 1, 0));
    let (t, d, unix) = timestamps(late);
    assert_eq!((t >> 11, d >> 9), (23, 127));
    assert_eq!(unix, i32::MAX as u32);
    // 2023-11-14 22:13:20
    assert_eq!(
        timestamps(when()),
        (
            (22 << 11) | (13 << 5) | 10,
            (43 << 9) | (11 << 5) | 14,
            1_700_000_000
        )
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A relative path of one to three components that are never `.` or `..`.
fn name() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-zA-Z0-9 _éü中-]{1,10}", 1..4).prop_map(|c| c.join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn random_archives_read_back_in_python(
        entries in proptest::collection::btree_map(name(), proptest::collection::vec(any::<u8>(), 0..3000), 0..8),
        zip64 in any::<bool>(),
    ) {
        let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
        let zip = if zip64 { ZipStream::with_zip64() } else { ZipStream::new() };
        let archive = build(zip, &refs);
        let file = write_temp(&archive);
        let expected: Vec<String> = refs.iter().map(|(n, c)| expected_line(n, c)).collect();
        prop_assert_eq!(python_lines(file.path()), expected);
    }
}
