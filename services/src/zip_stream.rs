//! A sans-IO, streaming writer of zip archives of STORED (uncompressed) entries, for staff to
//! download every submission of an assignment as one file.
//!
//! Nothing about an entry but its name and date is known when it starts: each local header
//! says "sizes and CRC-32 follow the data" (general purpose bit 3) and a data descriptor after
//! the bytes gives them; the central directory at the end repeats everything. The writer
//! appends to a `Vec<u8>` the caller drains and sends; it keeps only one small record per
//! entry for the central directory (the name and a few numbers). Entries are stored, not
//! deflated: homework is mostly PDFs and images, already compressed, and the server's CPU is
//! for TLS. Names are UTF-8 (bit 11), and must be relative paths without `.`/`..` components,
//! backslashes, drive letters or NUL, so that extracting the archive cannot write outside its
//! folder (zip slip) even if a caller forgets to check.
//!
//! # ZIP64, and which readers open what
//!
//! The readers that matter are Info-ZIP `unzip`, Python's `zipfile`, Windows Explorer and
//! macOS Archive Utility. The first three trust the central directory; Archive Utility also
//! reads the local headers and data descriptors as it goes, and it refuses a local header whose
//! sizes are `0xFFFFFFFF` without a ZIP64 extra field, and older versions refuse ZIP64 archives
//! altogether. So the writer uses ZIP64 only where it is needed:
//!
//! - An entry that starts before 4 GiB into the archive is a classic entry: zero sizes in its
//!   local header, no ZIP64 extra field, a data descriptor with 4-byte sizes. An archive under
//!   4 GiB is a plain zip that every reader opens.
//! - An entry that starts at 4 GiB or later (its offset needs 8 bytes) is a ZIP64 entry from its
//!   local header on: sizes `0xFFFFFFFF` in the local header with a ZIP64 extra field holding
//!   zeros, a data descriptor with 8-byte sizes, and a ZIP64 extra field in the central
//!   directory with its sizes and offset. This is the layout other streaming writers arrived at
//!   for Archive Utility, which opens it from macOS 10.15 on.
//! - The ZIP64 end of central directory record and locator are written when a count, size or
//!   offset of the end record overflows (more than 65,534 entries, a central directory past
//!   4 GiB), or when any entry is ZIP64.
//! - A classic entry that grows past 4 GiB - 1 bytes (its local header could not know) gets an
//!   8-byte data descriptor and the ZIP64 extra field in the central directory, which is what
//!   `unzip`, Python and Explorer read; readers that trust the local header may not follow. A
//!   caller that may stream an entry that large uses [`ZipStream::with_zip64`], which makes every
//!   entry a ZIP64 entry. Submissions are far below that.
//!
//! # Why not a crate
//!
//! The `zip` crate's streaming writer owns a `std::io::Write` and must be told before each
//! entry whether it will be over 4 GiB; `async_zip` writes to an `AsyncWrite` on a runtime.
//! Neither is a state machine that appends to a buffer the caller drains at its own pace, which
//! is what an event loop with back-pressure needs, and the stored-only format is small.

use std::collections::HashSet;
use std::time::SystemTime;

use time::OffsetDateTime;

#[cfg(test)]
mod tests;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const END: u32 = 0x0605_4b50;

/// Bit 3: sizes and CRC-32 are in the data descriptor. Bit 11: the name is UTF-8.
const FLAGS: u16 = 0x0008 | 0x0800;
/// "Version needed to extract": 2.0 for a stored file, 4.5 for ZIP64.
const VERSION_CLASSIC: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// "Version made by": Unix (the external attributes hold a Unix mode).
const MADE_BY_UNIX: u16 = 3 << 8;
/// A regular file, `rw-r--r--`, in the high half of the external attributes.
const EXTERNAL_ATTRIBUTES: u32 = 0o100_644 << 16;
/// The extended-timestamp extra field: the modification time in Unix seconds, UTC.
const EXTRA_TIMESTAMP: u16 = 0x5455;
const EXTRA_ZIP64: u16 = 0x0001;
/// The largest value of a 4-byte field; it also means "see the ZIP64 extra field".
const MAX32: u64 = 0xFFFF_FFFF;
/// The largest value of a 2-byte count; it also means "see the ZIP64 end record".
const MAX16: u64 = 0xFFFF;

/// Why the writer refused a call.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    /// A name that could escape the folder the archive is extracted into, or is not a file's.
    #[error("cannot put {name:?} in a zip: {reason}")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A name already in the archive.
    #[error("{0:?} is already in the zip")]
    DuplicateName(String),
    /// An entry was started or the archive finished while an entry was open.
    #[error("the zip entry {0:?} is still open")]
    EntryOpen(String),
    /// Data or an entry's end without an open entry.
    #[error("no zip entry is open")]
    NoEntry,
}

/// One entry's record for the central directory.
#[derive(Debug)]
struct Entry {
    name: Box<str>,
    offset: u64,
    dos_time: u16,
    dos_date: u16,
    unix_time: u32,
    zip64: bool,
    crc: u32,
    size: u64,
}

/// The entry being written: its record so far and its running CRC-32.
#[derive(Debug)]
struct Open {
    entry: Entry,
    crc: crc32fast::Hasher,
}

/// A zip archive being written. See the [module](self) documentation.
///
/// Per entry: [`start_entry`](Self::start_entry), [`data`](Self::data) any number of times,
/// [`end_entry`](Self::end_entry); then [`finish`](Self::finish) once. Each call appends to
/// `out`, which the caller sends and clears when it likes.
#[derive(Debug, Default)]
pub struct ZipStream {
    entries: Vec<Entry>,
    names: HashSet<Box<str>>,
    open: Option<Open>,
    /// Bytes written so far: the offset of whatever comes next.
    offset: u64,
    zip64_always: bool,
}

impl ZipStream {
    /// A writer that uses ZIP64 only where it is needed (see the module documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer that makes every entry, and the end record, ZIP64: for entries that may be
    /// over 4 GiB - 1 bytes.
    pub fn with_zip64() -> Self {
        Self {
            zip64_always: true,
            ..Self::default()
        }
    }

    /// Bytes appended so far, over all calls.
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// Starts an entry named `name` (a relative path such as `1155123456/report.pdf`) last
    /// modified at `modified`, appending its local header.
    pub fn start_entry(
        &mut self,
        name: &str,
        modified: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<(), ZipError> {
        if let Some(open) = &self.open {
            return Err(ZipError::EntryOpen(open.entry.name.to_string()));
        }
        check_name(name)?;
        if self.names.contains(name) {
            return Err(ZipError::DuplicateName(name.to_owned()));
        }
        let (dos_time, dos_date, unix_time) = timestamps(modified);
        let zip64 = self.zip64_always || self.offset >= MAX32;
        let start = out.len();
        put32(out, LOCAL_HEADER);
        put16(
            out,
            if zip64 {
                VERSION_ZIP64
            } else {
                VERSION_CLASSIC
            },
        );
        put16(out, FLAGS);
        put16(out, 0); // stored
        put16(out, dos_time);
        put16(out, dos_date);
        put32(out, 0); // CRC-32: in the data descriptor
        let unknown = if zip64 { u32::MAX } else { 0 };
        put32(out, unknown); // compressed size
        put32(out, unknown); // uncompressed size
        put16(out, len16(name.len()));
        put16(out, if zip64 { 20 + 9 } else { 9 });
        out.extend_from_slice(name.as_bytes());
        if zip64 {
            put16(out, EXTRA_ZIP64);
            put16(out, 16);
            put64(out, 0);
            put64(out, 0);
        }
        put_timestamp_extra(out, unix_time);
        let entry = Entry {
            name: name.into(),
            offset: self.offset,
            dos_time,
            dos_date,
            unix_time,
            zip64,
            crc: 0,
            size: 0,
        };
        self.offset += (out.len() - start) as u64;
        self.names.insert(name.into());
        self.open = Some(Open {
            entry,
            crc: crc32fast::Hasher::new(),
        });
        Ok(())
    }

    /// Appends the next bytes of the open entry.
    pub fn data(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), ZipError> {
        let open = self.open.as_mut().ok_or(ZipError::NoEntry)?;
        open.crc.update(bytes);
        open.entry.size += bytes.len() as u64;
        out.extend_from_slice(bytes);
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Ends the open entry, appending its data descriptor.
    pub fn end_entry(&mut self, out: &mut Vec<u8>) -> Result<(), ZipError> {
        let Open { mut entry, crc } = self.open.take().ok_or(ZipError::NoEntry)?;
        entry.crc = crc.finalize();
        let start = out.len();
        put32(out, DATA_DESCRIPTOR);
        put32(out, entry.crc);
        if entry.zip64 || entry.size >= MAX32 {
            put64(out, entry.size); // compressed: stored, the same
            put64(out, entry.size);
        } else {
            put32(out, entry.size as u32);
            put32(out, entry.size as u32);
        }
        self.offset += (out.len() - start) as u64;
        self.entries.push(entry);
        Ok(())
    }

    /// Appends the central directory and the end records. The archive is then complete.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), ZipError> {
        if let Some(open) = &self.open {
            return Err(ZipError::EntryOpen(open.entry.name.to_string()));
        }
        let directory_offset = self.offset;
        let start = out.len();
        for entry in &self.entries {
            put_central_header(out, entry);
        }
        let directory_size = (out.len() - start) as u64;
        let count = self.entries.len() as u64;
        let zip64 = self.zip64_always
            || self.entries.iter().any(|e| e.zip64)
            || count >= MAX16
            || directory_size >= MAX32
            || directory_offset >= MAX32;
        if zip64 {
            let zip64_end_offset = directory_offset + directory_size;
            put32(out, ZIP64_END);
            put64(out, 44); // the size of the rest of this record
            put16(out, MADE_BY_UNIX | VERSION_ZIP64);
            put16(out, VERSION_ZIP64);
            put32(out, 0); // this disk
            put32(out, 0); // the disk where the central directory starts
            put64(out, count); // entries on this disk
            put64(out, count); // entries in all
            put64(out, directory_size);
            put64(out, directory_offset);
            put32(out, ZIP64_LOCATOR);
            put32(out, 0); // the disk with the ZIP64 end record
            put64(out, zip64_end_offset);
            put32(out, 1); // disks in all
        }
        put32(out, END);
        put16(out, 0); // this disk
        put16(out, 0); // the disk where the central directory starts
        put16(out, count.min(MAX16) as u16);
        put16(out, count.min(MAX16) as u16);
        put32(out, directory_size.min(MAX32) as u32);
        put32(out, directory_offset.min(MAX32) as u32);
        put16(out, 0); // comment length
        Ok(())
    }
}

/// One central directory header, with a ZIP64 extra field for what does not fit in 4 bytes
/// (all of sizes and offset for a ZIP64 entry).
fn put_central_header(out: &mut Vec<u8>, e: &Entry) {
    let size_big = e.zip64 || e.size >= MAX32;
    let offset_big = e.zip64 || e.offset >= MAX32;
    let zip64_len = 16 * u16::from(size_big) + 8 * u16::from(offset_big);
    let version = if size_big || offset_big {
        VERSION_ZIP64
    } else {
        VERSION_CLASSIC
    };
    put32(out, CENTRAL_HEADER);
    put16(out, MADE_BY_UNIX | version);
    put16(out, version);
    put16(out, FLAGS);
    put16(out, 0); // stored
    put16(out, e.dos_time);
    put16(out, e.dos_date);
    put32(out, e.crc);
    let size32 = if size_big { u32::MAX } else { e.size as u32 };
    put32(out, size32);
    put32(out, size32);
    put16(out, len16(e.name.len()));
    let extra_len = if zip64_len > 0 { 4 + zip64_len } else { 0 } + 9;
    put16(out, extra_len);
    put16(out, 0); // comment length
    put16(out, 0); // disk number start
    put16(out, 0); // internal attributes
    put32(out, EXTERNAL_ATTRIBUTES);
    put32(
        out,
        if offset_big {
            u32::MAX
        } else {
            e.offset as u32
        },
    );
    out.extend_from_slice(e.name.as_bytes());
    if zip64_len > 0 {
        put16(out, EXTRA_ZIP64);
        put16(out, zip64_len);
        if size_big {
            put64(out, e.size); // uncompressed
            put64(out, e.size); // compressed
        }
        if offset_big {
            put64(out, e.offset);
        }
    }
    put_timestamp_extra(out, e.unix_time);
}

/// The extended-timestamp extra field with the modification time only (9 bytes).
fn put_timestamp_extra(out: &mut Vec<u8>, unix_time: u32) {
    put16(out, EXTRA_TIMESTAMP);
    put16(out, 5);
    out.push(1); // flags: modification time present
    put32(out, unix_time);
}

/// Refuses names that are not a plain relative path of a file.
fn check_name(name: &str) -> Result<(), ZipError> {
    let bad = |reason| {
        Err(ZipError::BadName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("the name is empty");
    }
    if name.len() > MAX16 as usize {
        return bad("the name is over 65,535 bytes");
    }
    if name.contains('\0') {
        return bad("the name has a NUL character");
    }
    if name.contains('\\') {
        return bad("the name has a backslash");
    }
    if name.starts_with('/') {
        return bad("the name is an absolute path");
    }
    let first = name.split('/').next().unwrap_or_default();
    if first.len() == 2 && first.as_bytes()[0].is_ascii_alphabetic() && first.ends_with(':') {
        return bad("the name starts with a drive letter");
    }
    for component in name.split('/') {
        match component {
            "" => return bad("the name has an empty path component or ends with '/'"),
            "." | ".." => return bad("the name has a '.' or '..' component"),
            _ => {}
        }
    }
    Ok(())
}

/// The MS-DOS time and date (local time by convention; UTC here, with the exact time in the
/// extended-timestamp field), clamped to the years DOS dates can hold, and the Unix time
/// clamped to 32 bits.
fn timestamps(modified: SystemTime) -> (u16, u16, u32) {
    let t = OffsetDateTime::from(modified);
    let unix = t.unix_timestamp().clamp(0, i64::from(i32::MAX)) as u32;
    let (dos_time, dos_date) = match t.year() {
        ..1980 => (0, (1 << 5) | 1),
        2108.. => ((23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31),
        year => (
            (u16::from(t.hour()) << 11) | (u16::from(t.minute()) << 5) | u16::from(t.second() / 2),
            ((year - 1980) as u16) << 9
                | (u16::from(u8::from(t.month())) << 5)
                | u16::from(t.day()),
        ),
    };
    (dos_time, dos_date, unix)
}

/// A name's length, which [`check_name`] has held to 16 bits.
fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
