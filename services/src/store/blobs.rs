//! The bytes of Blackboard's submissions: files in a directory that several servers could
//! share, whatever database holds their records.
//!
//! ```text
//! DIR/files/<id>   the bytes of each submission, named by its id
//! DIR/tmp/         uploads in progress (one server on the directory)
//! DIR/tmp/<node>/  uploads in progress of the node `<node>` (several servers sharing it)
//! ```
//!
//! What makes a blob durable, in this order: written to a temporary file in `tmp/`
//! ([`BlobDir::begin_upload`], [`Upload::write`]), its size and SHA-256 checked by the caller
//! ([`Upload::written`], [`Upload::sha256`]), its data fdatasync'd ([`Upload::sync_data`]),
//! renamed into `files/` ([`BlobDir::place`]), and `files/` fsync'd ([`BlobDir::sync`]). Only
//! then may its record be committed. Upload and submission ids are random, so servers sharing
//! the directory do not collide; each node of several keeps its uploads in progress in its own
//! `tmp/<node>/` ([`BlobDir::open_node`]), so that cleaning up after a crash touches only its own.

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use data_encoding::BASE32_NOPAD;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const TOKEN_LEN: usize = 20;

/// Every this many bytes, an upload asks the kernel to start writing its data to disk, so that
/// the disk works while the rest arrives and the fdatasync before the receipt finds little left.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// The blob directory: `files/` and `tmp/`.
#[derive(Debug, Clone)]
pub struct BlobDir {
    files: PathBuf,
    tmp: PathBuf,
}

impl BlobDir {
    /// The blob directory in `dir`, creating `dir`, `files/` and `tmp/` (mode 0700) if missing.
    pub fn open(dir: &Path) -> Result<Self, (PathBuf, io::Error)> {
        let files = dir.join("files");
        let tmp = dir.join("tmp");
        for d in [dir, &files, &tmp] {
            make_dir(d).map_err(|e| (d.to_path_buf(), e))?;
        }
        Ok(Self { files, tmp })
    }

    /// The blob directory in `dir` as the node `node` of several sharing it: uploads in
    /// progress go to `tmp/<node>/`, which [`BlobDir::clean_tmp`] empties (and nothing else).
    /// `node` must be a [node name](check_node_name).
    pub fn open_node(dir: &Path, node: &str) -> Result<Self, (PathBuf, io::Error)> {
        check_node_name(node).map_err(|m| {
            (
                dir.to_path_buf(),
                io::Error::new(io::ErrorKind::InvalidInput, m),
            )
        })?;
        let mut blobs = Self::open(dir)?;
        blobs.tmp = blobs.tmp.join(node);
        make_dir(&blobs.tmp).map_err(|e| (blobs.tmp.clone(), e))?;
        Ok(blobs)
    }

    /// `files/`.
    pub fn files(&self) -> &Path {
        &self.files
    }

    /// `tmp/`.
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// Removes everything in `tmp/` (uploads that can never be committed) and returns how
    /// many entries were removed. Only for a server that holds the directory (or, opened with
    /// [`BlobDir::open_node`], its node's `tmp/<node>/`) alone.
    pub fn clean_tmp(&self) -> Result<usize, (PathBuf, io::Error)> {
        clean_dir(&self.tmp)
    }

    /// Starts an upload into a new temporary file in `tmp/` (or `tmp/<node>/`), hashing the
    /// bytes as they are written ([`Upload::sha256`]).
    pub fn begin_upload(&self) -> io::Result<Upload> {
        let (file, path) = self.upload_file()?;
        Ok(Upload::new(file, path))
    }

    /// Starts an upload whose bytes the caller checks against their SHA-256 as they arrive
    /// (the protocol's core does, for an offer that declared it): they are written without
    /// hashing them a second time, and [`Upload::sha256`] is `None`.
    pub(crate) fn begin_checked_upload(&self) -> io::Result<Upload> {
        let (file, path) = self.upload_file()?;
        let mut upload = Upload::new(file, path);
        upload.hash = None;
        Ok(upload)
    }

    fn upload_file(&self) -> io::Result<(File, PathBuf)> {
        let path = self.tmp.join(format!("upload-{}", token()?));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        Ok((file, path))
    }

    /// A new submission id whose blob does not exist yet: `S` and 20 random base32 characters.
    pub fn fresh_id(&self) -> io::Result<String> {
        loop {
            let id = format!("S{}", token()?);
            match fs::symlink_metadata(self.files.join(&id)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(id),
                Err(e) => return Err(e),
                Ok(_) => continue,
            }
        }
    }

    /// Renames a finished upload into place as the blob `id`. From then on the upload no
    /// longer removes its file: [`BlobDir::remove`] does, if its record is not committed.
    pub fn place(&self, upload: &mut Upload, id: &str) -> io::Result<()> {
        fs::rename(&upload.path, self.files.join(id))?;
        upload.armed = false;
        Ok(())
    }

    /// Makes the renames into `files/` durable (fsync of the directory).
    pub fn sync(&self) -> io::Result<()> {
        File::open(&self.files)?.sync_all()
    }

    /// Removes the blob `id`.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        fs::remove_file(self.files.join(id))
    }

    /// Opens the blob `id` for reading.
    pub fn open_blob(&self, id: &str) -> io::Result<File> {
        File::open(self.files.join(id))
    }

    /// Where the blob `id` is.
    pub fn path(&self, id: &str) -> PathBuf {
        self.files.join(id)
    }
}

/// An upload in progress: a temporary file, the SHA-256 of what was written (unless the caller
/// checks it), and its size.
///
/// Dropped before it was placed, it deletes its temporary file.
pub struct Upload {
    file: File,
    path: PathBuf,
    hash: Option<digest::Context>,
    written: u64,
    /// Up to here the kernel was asked to start writing the data out.
    kicked: u64,
    failed: bool,
    armed: bool,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("path", &self.path)
            .field("written", &self.written)
            .field("failed", &self.failed)
            .finish()
    }
}

impl Upload {
    /// An upload writing to `file`, which is at `path` (removed when the upload is dropped).
    pub fn new(file: File, path: PathBuf) -> Self {
        Self {
            file,
            path,
            hash: Some(digest::Context::new(&digest::SHA256)),
            written: 0,
            kicked: 0,
            failed: false,
            armed: true,
        }
    }

    /// Appends bytes to the upload. After an error the upload is spoiled: every later write
    /// fails too, and it can only be dropped.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other("an earlier write of this upload failed"));
        }
        if let Err(e) = self.file.write_all(bytes) {
            self.failed = true;
            return Err(e);
        }
        if let Some(h) = &mut self.hash {
            h.update(bytes);
        }
        self.written += bytes.len() as u64;
        if self.written - self.kicked >= WRITEBACK_STEP {
            self.kick_writeback();
        }
        Ok(())
    }

    /// Starts writeback of what was written since the last call, without waiting for it:
    /// `POSIX_FADV_DONTNEED` on Linux starts asynchronous writeback of the range's dirty pages
    /// (and drops its clean ones, so a big upload does not crowd the page cache). Only advice:
    /// an error changes nothing (the fdatasync is what makes the data durable).
    fn kick_writeback(&mut self) {
        let len = self.written - self.kicked;
        if let Some(len) = std::num::NonZeroU64::new(len) {
            let _ = rustix::fs::fadvise(
                &self.file,
                self.kicked,
                Some(len),
                rustix::fs::Advice::DontNeed,
            );
            self.kicked = self.written;
        }
    }

    /// How many bytes were written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Whether a write failed (the file is incomplete).
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// The SHA-256 of the bytes written so far; `None` for an upload the caller checks
    /// ([`BlobDir::begin_checked_upload`]).
    pub fn sha256(&self) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.hash.as_ref()?.clone().finish().as_ref());
        Some(out)
    }

    /// Makes the bytes written durable (fdatasync).
    pub fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Where the temporary file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Abandons the upload and deletes its temporary file.
    pub fn abort(self) {
        drop(self);
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn make_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Removes the files in `dir`, but its lock file, and returns how many were removed. Folders
/// stay: in a shared `tmp/` they are other nodes' (`tmp/<node>/`), and no upload makes one.
fn clean_dir(dir: &Path) -> Result<usize, (PathBuf, io::Error)> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(|e| (dir.to_path_buf(), e))? {
        let entry = entry.map_err(|e| (dir.to_path_buf(), e))?;
        let path = entry.path();
        let is_dir = entry.file_type().map_err(|e| (path.clone(), e))?.is_dir();
        if is_dir || entry.file_name() == handin_files::dirlock::LOCK_FILE {
            continue;
        }
        fs::remove_file(&path).map_err(|e| (path.clone(), e))?;
        removed += 1;
    }
    Ok(removed)
}

/// Whether `node` may name a node sharing a blob directory: 1 to 64 of `A-Z a-z 0-9 . _ -`, not
/// starting with a dot (it names its directory `tmp/<node>/`).
pub fn check_node_name(node: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&node.len())
        && !node.starts_with('.')
        && node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{node:?} is not a node name: give 1 to 64 letters, digits, dots, dashes or \
             underscores, not starting with a dot"
        ))
    }
}

/// 20 random characters of RFC 4648 base32 (upper case, no padding), 100 bits: the first 20 of
/// the 21 that encode 13 random bytes. Submission ids and upload names use them.
pub fn token() -> io::Result<String> {
    let mut bytes = [0u8; (TOKEN_LEN * 5).div_ceil(8)];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| io::Error::other("the system random number generator failed"))?;
    let mut token = BASE32_NOPAD.encode(&bytes);
    token.truncate(TOKEN_LEN);
    Ok(token)
}

/// Whether `id` has the shape of a submission id (anything else names no blob).
pub fn is_submission_id(id: &str) -> bool {
    let symbols = BASE32_NOPAD.specification().symbols;
    id.strip_prefix('S')
        .is_some_and(|t| t.len() == TOKEN_LEN && t.chars().all(|c| symbols.contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_twenty_random_upper_case_base32_characters() {
        let tokens: Vec<String> = (0..64).map(|_| token().unwrap()).collect();
        for t in &tokens {
            assert_eq!(t.len(), TOKEN_LEN, "{t}");
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
                "{t}"
            );
            assert!(is_submission_id(&format!("S{t}")), "{t}");
        }
        // Every position is random, the last one too (all 5 of its bits).
        let last: std::collections::HashSet<u8> =
            tokens.iter().map(|t| t.as_bytes()[TOKEN_LEN - 1]).collect();
        assert!(last.len() > 4, "{last:?}");
    }

    #[test]
    fn nodes_sharing_a_directory_keep_and_clean_their_own_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let a = BlobDir::open_node(dir.path(), "node-a").unwrap();
        let b = BlobDir::open_node(dir.path(), "node-b").unwrap();
        let mut ua = a.begin_upload().unwrap();
        ua.write(b"a").unwrap();
        let mut ub = b.begin_upload().unwrap();
        ub.write(b"b").unwrap();
        assert!(ua.path().starts_with(dir.path().join("tmp/node-a")));
        assert!(ub.path().starts_with(dir.path().join("tmp/node-b")));
        std::mem::forget(ua);
        assert_eq!(a.clean_tmp().unwrap(), 1);
        assert!(
            ub.path().exists(),
            "node b's upload in progress is not node a's to remove"
        );
        // Both place into the one files/ and read each other's blobs.
        let id = b.fresh_id().unwrap();
        b.place(&mut ub, &id).unwrap();
        assert!(a.open_blob(&id).is_ok());
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", &"n".repeat(65)] {
            assert!(BlobDir::open_node(dir.path(), bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_submission_id_is_s_and_twenty_base32_characters() {
        assert!(is_submission_id("SABCDEFGHIJKLMNOPQR27"));
        for bad in [
            "",
            "S",
            "SABCDEFGHIJKLMNOPQR2",
            "SABCDEFGHIJKLMNOPQR277",
            "TABCDEFGHIJKLMNOPQR27",
            "sABCDEFGHIJKLMNOPQR27",
            "SABCDEFGHIJKLMNOPQR28",
            "SABCDEFGHIJKLMNOPQR21",
            "SABCDEFGHIJKLMNOPQR2=",
            "Sabcdefghijklmnopqr27",
            "SABCDEFGHIJKLMNOPQR2\u{e9}",
        ] {
            assert!(!is_submission_id(bad), "{bad:?}");
        }
    }
}
