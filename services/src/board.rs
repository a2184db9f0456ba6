//! Blackboard's durable submission store.
//!
//! ```text
//! DATA/blackboard.db   SQLite: assignments and submission records
//! DATA/files/<id>      the bytes of each submission, named by its id
//! DATA/tmp/            uploads in progress
//! ```
//!
//! A submission exists only once its bytes are on disk, verified, fsync'd and renamed into
//! `files/`, the directory fsync'd, and its record committed. Submissions ready at the same
//! time share the directory fsync and the transaction ([`Board::prepare`], then
//! [`Board::commit_batch`]); [`Board::commit`] does both for one. A crash before the commit
//! leaves no record, so no receipt was sent; [`Board::open`] removes whatever was left in
//! `tmp/`, only once it holds the directory's lock (`DATA/server.lock`, see [`handin_files::dirlock`]),
//! so that it never removes another running server's uploads. Times are kept to the second.

use crate::quota::{Quota, Usage};
use crate::sqlite::{self, SqliteOpenError};
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use data_encoding::BASE32_NOPAD;
use handin_core::msg::{SubmissionEntry, UploadOffer};
use handin_core::names::{check_file_name, check_label, BadName};
use handin_core::pki::{unix_secs, StudentId};
use handin_core::{Refusal, RefusalCode};
use handin_files::dirlock::{DirLock, DirLockError};
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

const SCHEMA_VERSION: i64 = 1;
const SCHEMA: &str = "
CREATE TABLE assignments (
    course     TEXT NOT NULL,
    assignment TEXT NOT NULL,
    due        INTEGER NOT NULL,
    max_size   INTEGER NOT NULL,
    PRIMARY KEY (course, assignment)
) STRICT;
CREATE TABLE submissions (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    student_id  TEXT NOT NULL,
    course      TEXT NOT NULL,
    assignment  TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    late        INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    UNIQUE (student_id, course, assignment, file_name, version),
    FOREIGN KEY (course, assignment) REFERENCES assignments (course, assignment)
) STRICT;
CREATE INDEX submissions_by_student ON submissions (student_id, course);
";
const ENTRY_COLUMNS: &str = "id, student_id, course, assignment, file_name, size, sha256, \
                             received_at, late, version";
const TOKEN_LEN: usize = 20;
const DISK_FULL: &str = "the server's disk is full; try again later";

/// What went wrong in the submission store.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The request is refused; send this to the peer.
    #[error("refused: {}", .0.reason)]
    Refused(Refusal),
    /// A course or assignment name is not acceptable.
    #[error("{0}")]
    InvalidName(#[source] BadName),
    /// An argument is out of range.
    #[error("{0}")]
    Invalid(String),
    /// A file or directory of the store could not be used.
    #[error(
        "submission store: {what}: {source}; check that the data directory exists, is writable \
         and has free space"
    )]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The database could not be read or written.
    #[error(
        "submission database: {what}: {source}; check that blackboard.db is a handin database \
         on a writable disk"
    )]
    Database {
        /// What was being done.
        what: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The database holds something this version does not understand.
    #[error("submission database: {0}; restore it from a backup or use a newer handin")]
    BadDatabase(String),
    /// The system random number generator failed.
    #[error("the system random number generator failed; check the operating system")]
    Random,
    /// Another server holds the data directory (or its lock could not be taken).
    #[error("{0}")]
    Locked(#[source] DirLockError),
    /// The shared commit of a batch of submissions failed (the database, or the directory
    /// fsync): none of them was stored.
    #[error("the shared commit of {size} submission(s) failed, none was stored: {cause}")]
    Batch {
        /// How many submissions the batch held.
        size: usize,
        /// What failed.
        #[source]
        cause: Arc<BoardError>,
    },
}

impl BoardError {
    /// The refusal to send to a peer for this error: the refusal itself, or `Storage` /
    /// `Internal`.
    pub fn refusal(&self) -> Refusal {
        match self {
            Self::Refused(r) => r.clone(),
            Self::Io { .. } | Self::Database { .. } | Self::Batch { .. } => Refusal::new(
                RefusalCode::Storage,
                "the server could not use its storage right now; try again later",
            ),
            _ => Refusal::new(
                RefusalCode::Internal,
                "the server could not handle the request; try again later",
            ),
        }
    }
}

impl From<SqliteOpenError> for BoardError {
    fn from(e: SqliteOpenError) -> Self {
        match e {
            SqliteOpenError::Database { what, source } => Self::Database { what, source },
            SqliteOpenError::BadDatabase(m) => Self::BadDatabase(m),
        }
    }
}

fn db(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> BoardError {
    let what = what.into();
    move |source| BoardError::Database { what, source }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> BoardError {
    let what = what.into();
    move |source| BoardError::Io { what, source }
}

fn refused(code: RefusalCode, reason: impl Into<String>) -> BoardError {
    BoardError::Refused(Refusal::new(code, reason))
}

/// An I/O error while storing an upload, as the refusal the student sees.
fn io_refusal(e: io::Error) -> BoardError {
    use io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
    if matches!(e.kind(), StorageFull | QuotaExceeded | FileTooLarge) {
        refused(RefusalCode::Storage, DISK_FULL)
    } else {
        refused(
            RefusalCode::Storage,
            format!("the server could not write your file to disk ({e}); try again later"),
        )
    }
}

fn write_chunk(file: &mut File, bytes: &[u8]) -> Result<(), BoardError> {
    file.write_all(bytes).map_err(io_refusal)
}

/// An assignment students can submit to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// Due time (to the second); a submission received after it is late.
    pub due: SystemTime,
    /// Largest file accepted, in bytes.
    pub max_size: u64,
}

/// Blackboard's submission store. `&Board` may be shared by several worker threads.
#[derive(Debug)]
pub struct Board {
    files: PathBuf,
    tmp: PathBuf,
    conn: Mutex<Connection>,
    leftovers_removed: usize,
    quota: Quota,
    lock: Option<DirLock>,
}

impl Board {
    /// Opens (creating) the store in `dir` for a server: takes the directory's lock for as long
    /// as the store lives, then deletes every leftover file in `tmp/` (an upload without a
    /// receipt never survives a restart; see [`Board::leftovers_removed`]).
    ///
    /// If another process holds the lock (another server on the same directory), nothing is
    /// touched and [`BoardError::Locked`] names the holder.
    pub fn open(dir: &Path) -> Result<Self, BoardError> {
        Self::open_with(dir, true)
    }

    /// Opens (creating) the store in `dir` for reading and changing its records (assignments,
    /// listings) while a server may be serving the same directory: unlike [`Board::open`], it
    /// leaves `tmp/` alone, so uploads in progress survive. Do not store submissions through
    /// it.
    pub fn open_records(dir: &Path) -> Result<Self, BoardError> {
        Self::open_with(dir, false)
    }

    fn open_with(dir: &Path, clean: bool) -> Result<Self, BoardError> {
        let files = dir.join("files");
        let tmp = dir.join("tmp");
        for d in [dir, &files, &tmp] {
            make_dir(d).map_err(io_err(format!("creating {}", d.display())))?;
        }
        let lock = match clean {
            true => Some(DirLock::acquire(dir, SystemTime::now()).map_err(BoardError::Locked)?),
            false => None,
        };
        let leftovers_removed = if clean { clean_dir(&tmp)? } else { 0 };
        let conn = sqlite::open(&dir.join("blackboard.db"), SCHEMA, SCHEMA_VERSION)?;
        Ok(Self {
            files,
            tmp,
            conn: Mutex::new(conn),
            leftovers_removed,
            lock,
            quota: Quota::default(),
        })
    }

    /// Bounds what one student may store per assignment (see [`Quota`]); the default is
    /// [`Quota::default`].
    pub fn with_quota(mut self, quota: Quota) -> Self {
        self.quota = quota;
        self
    }

    /// The bound per student and assignment in force.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Whether `student` may store one more submission of `offer.size` bytes for the offer's
    /// assignment, as the records stand now (checked again when it is recorded).
    pub fn check_quota(&self, student: &StudentId, offer: &UploadOffer) -> Result<(), BoardError> {
        let used = usage(&self.lock(), student, &offer.course, &offer.assignment)?;
        self.quota
            .check(used, offer.size)
            .map_err(BoardError::Refused)
    }

    /// The directory's lock, held by a store opened with [`Board::open`].
    pub fn dir_lock(&self) -> Option<&DirLock> {
        self.lock.as_ref()
    }

    /// How many leftover uploads [`Board::open`] removed from `tmp/`.
    pub fn leftovers_removed(&self) -> usize {
        self.leftovers_removed
    }

    /// Adds an assignment, or updates the due time and size limit of an existing one.
    pub fn add_assignment(
        &self,
        course: &str,
        assignment: &str,
        due: SystemTime,
        max_size: u64,
    ) -> Result<(), BoardError> {
        check_label("course", course).map_err(BoardError::InvalidName)?;
        check_label("assignment", assignment).map_err(BoardError::InvalidName)?;
        let max = i64::try_from(max_size)
            .ok()
            .filter(|m| *m > 0)
            .ok_or_else(|| {
                BoardError::Invalid(format!(
                    "the maximum size {max_size} is out of range; give at least 1 byte"
                ))
            })?;
        self.lock()
            .execute(
                "INSERT INTO assignments (course, assignment, due, max_size) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (course, assignment) DO UPDATE SET
                     due = excluded.due, max_size = excluded.max_size",
                params![course, assignment, secs(due), max],
            )
            .map_err(db(format!("adding assignment {course}/{assignment}")))?;
        Ok(())
    }

    /// One assignment, if it exists.
    pub fn assignment(
        &self,
        course: &str,
        assignment: &str,
    ) -> Result<Option<Assignment>, BoardError> {
        self.lock()
            .query_row(
                "SELECT course, assignment, due, max_size FROM assignments
                 WHERE course = ?1 AND assignment = ?2",
                [course, assignment],
                row_to_assignment,
            )
            .optional()
            .map_err(db("reading an assignment"))
    }

    /// Every assignment, by course and name.
    pub fn assignments(&self) -> Result<Vec<Assignment>, BoardError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT course, assignment, due, max_size FROM assignments
                 ORDER BY course, assignment",
            )
            .map_err(db("listing assignments"))?;
        let rows = stmt
            .query_map([], row_to_assignment)
            .map_err(db("listing assignments"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("listing assignments"))
    }

    /// Starts an upload into a new temporary file in `tmp/`.
    pub fn begin_upload(&self) -> Result<Upload, BoardError> {
        let path = self.tmp.join(format!("upload-{}", token()?));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(io_refusal)?;
        Ok(Upload::new(file, path))
    }

    /// Makes the upload a submission of `student`, or refuses it and deletes its bytes:
    /// [`Board::prepare`], then [`Board::commit_batch`] of this one submission.
    pub fn commit(
        &self,
        upload: Upload,
        student: &StudentId,
        offer: &UploadOffer,
        received_at: SystemTime,
    ) -> Result<SubmissionEntry, BoardError> {
        let ready = self.prepare(upload, student, offer, received_at)?;
        match self.commit_batch(vec![ready]).pop() {
            Some(Ok(c)) => Ok(c.entry),
            // Alone in its batch: the batch's failure is this submission's.
            Some(Err(BoardError::Batch { cause, .. })) => Err(Arc::try_unwrap(cause)
                .unwrap_or_else(|shared| BoardError::Invalid(shared.to_string()))),
            Some(Err(e)) => Err(e),
            None => Err(BoardError::Invalid("a batch of one came back empty".into())),
        }
    }

    /// Checks a finished upload and makes its bytes durable, ready for
    /// [`Board::commit_batch`]; or refuses it and deletes its bytes.
    ///
    /// In this order: the size and SHA-256 of the bytes written must match the offer
    /// (`SizeMismatch`, `HashMismatch`) and the file name must be acceptable (`BadFileName`);
    /// then the file's data is fdatasync'd. The assignment is checked by
    /// [`Board::commit_batch`], as it is when the record is written. Several uploads can be
    /// prepared at once on several threads.
    pub fn prepare(
        &self,
        upload: Upload,
        student: &StudentId,
        offer: &UploadOffer,
        received_at: SystemTime,
    ) -> Result<Ready, BoardError> {
        if upload.failed {
            return Err(refused(
                RefusalCode::Storage,
                "the server could not write your whole file; send it again",
            ));
        }
        if upload.written != offer.size {
            return Err(refused(
                RefusalCode::SizeMismatch,
                format!(
                    "received {} bytes but the offer declared {}; send the file again",
                    upload.written, offer.size
                ),
            ));
        }
        if upload.sha256() != offer.sha256 {
            return Err(refused(
                RefusalCode::HashMismatch,
                "the bytes received do not match the declared SHA-256; send the file again",
            ));
        }
        check_file_name(&offer.file_name).map_err(|e| {
            refused(
                RefusalCode::BadFileName,
                format!("{e}; rename the file and submit again"),
            )
        })?;
        upload.file.sync_data().map_err(io_refusal)?;
        Ok(Ready {
            upload,
            student: student.clone(),
            offer: offer.clone(),
            received_at,
        })
    }

    /// Stores prepared submissions together: one result per submission, in the same order.
    ///
    /// In one transaction, each submission in turn is checked again against its assignment
    /// as it is now (`NoSuchAssignment`, `TooLarge`: that one alone is refused), given its
    /// version (1 + earlier submissions of this file name to this assignment by this student,
    /// counting those earlier in the batch) and late flag (received after the due second),
    /// renamed to `files/<id>` (if that fails, that one alone is refused) and recorded; then
    /// `files/` is fsync'd once and the transaction committed. If the database or the fsync
    /// fails, the whole batch fails with [`BoardError::Batch`] and the renamed files are
    /// removed again: no file without a record, no record without a file.
    pub fn commit_batch(&self, batch: Vec<Ready>) -> Vec<Result<Committed, BoardError>> {
        let size = batch.len();
        let mut batch = batch;
        let mut results: Vec<Option<Result<Committed, BoardError>>> =
            batch.iter().map(|_| None).collect();
        // (index in the batch, path in files/) of every file renamed into place.
        let mut renamed: Vec<(usize, PathBuf)> = Vec::new();
        let mut conn = self.lock();
        let outcome = self.record_batch(&mut conn, &mut batch, &mut results, &mut renamed);
        if let Err(cause) = outcome {
            let kept = self.undo_renames(&conn, &renamed, &cause);
            let cause = Arc::new(cause);
            for (i, r) in results.iter_mut().enumerate() {
                // A submission refused on its own stays refused for its own reason.
                let own_refusal = matches!(r, Some(Err(_)));
                if !own_refusal && !kept.contains(&i) {
                    *r = Some(Err(BoardError::Batch {
                        size,
                        cause: cause.clone(),
                    }));
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(BoardError::Invalid(
                        "a submission of the batch was skipped".into(),
                    ))
                })
            })
            .collect()
    }

    /// The transaction of [`Board::commit_batch`]. Fills `results` for every submission (a
    /// refusal, or the entry it will have once committed) and `renamed`; an error is a failure
    /// of the whole batch.
    fn record_batch(
        &self,
        conn: &mut Connection,
        batch: &mut [Ready],
        results: &mut [Option<Result<Committed, BoardError>>],
        renamed: &mut Vec<(usize, PathBuf)>,
    ) -> Result<(), BoardError> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("starting a transaction"))?;
        for (i, item) in batch.iter_mut().enumerate() {
            let offer = &item.offer;
            let found: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT due, max_size FROM assignments WHERE course = ?1 AND assignment = ?2",
                    [&offer.course, &offer.assignment],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db("reading an assignment"))?;
            let Some((due, max_size)) = found else {
                results[i] = Some(Err(no_such_assignment(offer)));
                continue;
            };
            if let Err(e) = check_limit(offer, u64::try_from(max_size).unwrap_or(0)) {
                results[i] = Some(Err(e));
                continue;
            }
            // Counted inside the transaction: those recorded earlier in this batch count too.
            let used = usage(&tx, &item.student, &offer.course, &offer.assignment)?;
            if let Err(r) = self.quota.check(used, offer.size) {
                results[i] = Some(Err(BoardError::Refused(r)));
                continue;
            }
            let size = match i64::try_from(offer.size) {
                Ok(s) => s,
                Err(_) => {
                    results[i] = Some(Err(refused(RefusalCode::TooLarge, "the file is too large")));
                    continue;
                }
            };
            let earlier: u32 = tx
                .query_row(
                    "SELECT COUNT(*) FROM submissions
                     WHERE student_id = ?1 AND course = ?2 AND assignment = ?3 AND file_name = ?4",
                    params![
                        item.student.as_str(),
                        offer.course,
                        offer.assignment,
                        offer.file_name
                    ],
                    |r| r.get(0),
                )
                .map_err(db("counting earlier versions"))?;
            let (id, dest) = match self.fresh_destination() {
                Ok(d) => d,
                Err(e) => {
                    results[i] = Some(Err(e));
                    continue;
                }
            };
            if let Err(e) = fs::rename(&item.upload.path, &dest) {
                results[i] = Some(Err(io_refusal(e)));
                continue;
            }
            item.upload.armed = false;
            renamed.push((i, dest));
            let received = secs(item.received_at);
            let entry = SubmissionEntry {
                id,
                student_id: item.student.as_str().to_owned(),
                course: offer.course.clone(),
                assignment: offer.assignment.clone(),
                file_name: offer.file_name.clone(),
                size: offer.size,
                sha256: offer.sha256,
                received_at: unix_secs(item.received_at),
                late: received > due,
                version: earlier + 1,
            };
            tx.execute(
                &format!("INSERT INTO submissions ({ENTRY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    entry.id,
                    entry.student_id,
                    entry.course,
                    entry.assignment,
                    entry.file_name,
                    size,
                    &entry.sha256[..],
                    received,
                    entry.late,
                    entry.version
                ],
            )
            .map_err(db("recording a submission"))?;
            results[i] = Some(Ok(Committed {
                entry,
                due: time(due),
            }));
        }
        if !renamed.is_empty() {
            sync_dir(&self.files).map_err(io_err(format!(
                "making the new files in {} durable (fsync)",
                self.files.display()
            )))?;
        }
        tx.commit()
            .map_err(db(format!("committing {} submission(s)", batch.len())))
    }

    /// After a failed batch: removes the renamed files whose records are not in the database,
    /// and returns the batch indexes of those that are (a commit that reported an error but
    /// took effect). If the database cannot say, every file stays (a file without a record is
    /// never served; a record without its file would be a lost submission).
    fn undo_renames(
        &self,
        conn: &Connection,
        renamed: &[(usize, PathBuf)],
        cause: &BoardError,
    ) -> Vec<usize> {
        let mut kept = Vec::new();
        let mut removed = 0;
        for (i, path) in renamed {
            let id = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let present = conn
                .query_row("SELECT 1 FROM submissions WHERE id = ?1", [&id], |_| Ok(()))
                .optional();
            match present {
                Ok(Some(())) => kept.push(*i),
                Ok(None) => match fs::remove_file(path) {
                    Ok(()) => removed += 1,
                    Err(e) => tracing::error!(path = %path.display(), error = %e,
                        "cannot remove the file of a submission that was not recorded"),
                },
                Err(e) => tracing::error!(%id, error = %e, %cause,
                    "after a failed commit, cannot tell whether this submission was recorded: its file stays"),
            }
        }
        if removed > 0 {
            if let Err(e) = sync_dir(&self.files) {
                tracing::warn!(error = %e, "fsync of files/ after removing unrecorded files");
            }
        }
        kept
    }

    /// This student's submissions, optionally of one course only, oldest first.
    pub fn list(
        &self,
        student: &StudentId,
        course: Option<&str>,
    ) -> Result<Vec<SubmissionEntry>, BoardError> {
        self.entries(
            "WHERE student_id = ?1 AND (?2 IS NULL OR course = ?2)",
            params![student.as_str(), course],
        )
    }

    /// One submission of this student, with the path of its bytes. `None` if there is no
    /// such submission or it is another student's: the caller cannot tell which.
    pub fn find(
        &self,
        student: &StudentId,
        id: &str,
    ) -> Result<Option<(SubmissionEntry, PathBuf)>, BoardError> {
        if !is_submission_id(id) {
            return Ok(None);
        }
        let found = self.entries(
            "WHERE id = ?1 AND student_id = ?2",
            params![id, student.as_str()],
        )?;
        Ok(found.into_iter().next().map(|e| {
            let path = self.files.join(&e.id);
            (e, path)
        }))
    }

    /// Every stored submission, oldest first (for operators and tests).
    pub fn all(&self) -> Result<Vec<SubmissionEntry>, BoardError> {
        self.entries("", params![])
    }

    fn entries(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<SubmissionEntry>, BoardError> {
        let conn = self.lock();
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM submissions {filter} ORDER BY seq");
        let mut stmt = conn.prepare(&sql).map_err(db("listing submissions"))?;
        let rows = stmt
            .query_map(args, row_to_entry)
            .map_err(db("listing submissions"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("listing submissions"))
    }

    /// A new submission id and its path in `files/`, not yet taken.
    fn fresh_destination(&self) -> Result<(String, PathBuf), BoardError> {
        loop {
            let id = format!("S{}", token()?);
            let dest = self.files.join(&id);
            match fs::symlink_metadata(&dest) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((id, dest)),
                Err(e) => return Err(io_refusal(e)),
                Ok(_) => continue,
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no open transaction (it rolls back on drop),
        // so the connection is still good.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An upload in progress: a temporary file, the SHA-256 of what was written, and its size.
///
/// Dropped without [`Board::commit`], it deletes its temporary file.
pub struct Upload {
    file: File,
    path: PathBuf,
    hash: digest::Context,
    written: u64,
    /// Up to here the kernel was asked to start writing the data out.
    kicked: u64,
    failed: bool,
    armed: bool,
}

/// Every this many bytes, an upload asks the kernel to start writing its data to disk, so that
/// the disk works while the rest arrives and the fdatasync before the receipt finds little left.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

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
    fn new(file: File, path: PathBuf) -> Self {
        Self {
            file,
            path,
            hash: digest::Context::new(&digest::SHA256),
            written: 0,
            kicked: 0,
            failed: false,
            armed: true,
        }
    }

    /// Starts writeback of what was written since the last call, without waiting for it:
    /// `POSIX_FADV_DONTNEED` on Linux starts asynchronous writeback of the range's dirty pages
    /// (and drops its clean ones, so a big upload does not crowd the page cache). Only advice:
    /// an error changes nothing (the fdatasync in `prepare` is what makes the data durable).
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

    /// Appends bytes to the upload. An I/O error is a `Storage` refusal, and the upload can
    /// then only be dropped.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), BoardError> {
        if self.failed {
            return Err(refused(
                RefusalCode::Storage,
                "an earlier write of this upload failed; send the file again",
            ));
        }
        if let Err(e) = write_chunk(&mut self.file, bytes) {
            self.failed = true;
            return Err(e);
        }
        self.hash.update(bytes);
        self.written += bytes.len() as u64;
        if self.written - self.kicked >= WRITEBACK_STEP {
            self.kick_writeback();
        }
        Ok(())
    }

    /// How many bytes were written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Abandons the upload and deletes its temporary file.
    pub fn abort(self) {
        drop(self);
    }

    fn sha256(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.hash.clone().finish().as_ref());
        out
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A finished upload, checked and fdatasync'd by [`Board::prepare`], waiting for
/// [`Board::commit_batch`]. Dropped without being committed, it deletes its file.
#[derive(Debug)]
pub struct Ready {
    upload: Upload,
    student: StudentId,
    offer: UploadOffer,
    received_at: SystemTime,
}

impl Ready {
    /// Who submitted it.
    pub fn student(&self) -> &StudentId {
        &self.student
    }

    /// What was offered.
    pub fn offer(&self) -> &UploadOffer {
        &self.offer
    }
}

/// A submission [`Board::commit_batch`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Its record.
    pub entry: SubmissionEntry,
    /// The due time of its assignment when it was committed.
    pub due: SystemTime,
}

fn check_limit(offer: &UploadOffer, max_size: u64) -> Result<(), BoardError> {
    if offer.size > max_size {
        return Err(refused(
            RefusalCode::TooLarge,
            format!(
                "the file is {} bytes but {}/{} accepts at most {}",
                offer.size, offer.course, offer.assignment, max_size
            ),
        ));
    }
    Ok(())
}

/// What `student` stores for `course`/`assignment` now.
fn usage(
    conn: &Connection,
    student: &StudentId,
    course: &str,
    assignment: &str,
) -> Result<Usage, BoardError> {
    let (count, bytes): (i64, i64) = conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM submissions
             WHERE student_id = ?1 AND course = ?2 AND assignment = ?3",
        )
        .and_then(|mut st| {
            st.query_row(params![student.as_str(), course, assignment], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .map_err(db("reading a student's storage for an assignment"))?;
    Ok(Usage {
        submissions: u64::try_from(count).unwrap_or(0),
        bytes: u64::try_from(bytes).unwrap_or(0),
    })
}

fn no_such_assignment(offer: &UploadOffer) -> BoardError {
    refused(
        RefusalCode::NoSuchAssignment,
        format!(
            "there is no assignment {} in course {}; check the names with your instructor",
            offer.assignment, offer.course
        ),
    )
}

fn make_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Removes everything in `dir` and returns how many entries were removed.
fn clean_dir(dir: &Path) -> Result<usize, BoardError> {
    let what = || format!("removing leftover uploads from {}", dir.display());
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(io_err(what()))? {
        let entry = entry.map_err(io_err(what()))?;
        let path = entry.path();
        let is_dir = entry.file_type().map_err(io_err(what()))?.is_dir();
        if is_dir {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        }
        .map_err(io_err(format!(
            "removing leftover upload {}",
            path.display()
        )))?;
        removed += 1;
    }
    Ok(removed)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// 20 random characters of RFC 4648 base32 (upper case, no padding), 100 bits: the first 20 of
/// the 21 that encode 13 random bytes. Submission ids and upload names use them.
fn token() -> Result<String, BoardError> {
    let mut bytes = [0u8; (TOKEN_LEN * 5).div_ceil(8)];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| BoardError::Random)?;
    let mut token = BASE32_NOPAD.encode(&bytes);
    token.truncate(TOKEN_LEN);
    Ok(token)
}

fn is_submission_id(id: &str) -> bool {
    let symbols = BASE32_NOPAD.specification().symbols;
    id.strip_prefix('S')
        .is_some_and(|t| t.len() == TOKEN_LEN && t.chars().all(|c| symbols.contains(c)))
}

fn secs(t: SystemTime) -> i64 {
    i64::try_from(unix_secs(t)).unwrap_or(i64::MAX)
}

fn time(secs: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

fn get_u64(r: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = r.get(idx)?;
    u64::try_from(v)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Integer, e.into()))
}

fn row_to_assignment(r: &Row<'_>) -> rusqlite::Result<Assignment> {
    Ok(Assignment {
        course: r.get(0)?,
        assignment: r.get(1)?,
        due: time(r.get(2)?),
        max_size: get_u64(r, 3)?,
    })
}

fn row_to_entry(r: &Row<'_>) -> rusqlite::Result<SubmissionEntry> {
    let sha: Vec<u8> = r.get(6)?;
    let sha256 = <[u8; 32]>::try_from(sha.as_slice())
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(6, Type::Blob, e.into()))?;
    Ok(SubmissionEntry {
        id: r.get(0)?,
        student_id: r.get(1)?,
        course: r.get(2)?,
        assignment: r.get(3)?,
        file_name: r.get(4)?,
        size: get_u64(r, 5)?,
        sha256,
        received_at: get_u64(r, 7)?,
        late: r.get(8)?,
        version: r.get(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use handin_core::harness::t0;
    use handin_core::submit::sha256;
    use tempfile::TempDir;

    const MAX: u64 = 1 << 20;

    fn sid(s: &str) -> StudentId {
        StudentId::parse(s).unwrap()
    }

    fn alice() -> StudentId {
        sid("1155000001")
    }

    fn bob() -> StudentId {
        sid("1155000002")
    }

    fn due() -> SystemTime {
        t0() + Duration::from_secs(7 * 24 * 3600)
    }

    /// A store with CSCI3180/hw1 and CSCI3150/lab1, both due a week after t0.
    fn store() -> (TempDir, Board) {
        let dir = tempfile::tempdir().unwrap();
        let board = Board::open(dir.path()).unwrap();
        board.add_assignment("CSCI3180", "hw1", due(), MAX).unwrap();
        board
            .add_assignment("CSCI3150", "lab1", due(), MAX)
            .unwrap();
        (dir, board)
    }

    fn offer(course: &str, assignment: &str, name: &str, bytes: &[u8]) -> UploadOffer {
        UploadOffer {
            course: course.into(),
            assignment: assignment.into(),
            file_name: name.into(),
            size: bytes.len() as u64,
            sha256: sha256(bytes),
        }
    }

    fn submit(
        board: &Board,
        student: &StudentId,
        offer: &UploadOffer,
        bytes: &[u8],
        at: SystemTime,
    ) -> Result<SubmissionEntry, BoardError> {
        let mut up = board.begin_upload()?;
        for chunk in bytes.chunks(7) {
            up.write(chunk)?;
        }
        board.commit(up, student, offer, at)
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn refusal<T: fmt::Debug>(r: Result<T, BoardError>) -> Refusal {
        match r {
            Err(BoardError::Refused(r)) => r,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// Nothing in tmp/ or files/, and no record.
    fn assert_nothing_stored(dir: &TempDir, board: &Board) {
        assert_eq!(names_in(&dir.path().join("tmp")), Vec::<String>::new());
        assert_eq!(names_in(&dir.path().join("files")), Vec::<String>::new());
        assert!(board.all().unwrap().is_empty());
    }

    /// Every record's file exists with the recorded size and SHA-256, and every file has a
    /// record.
    fn assert_consistent(dir: &Path, board: &Board) {
        let all = board.all().unwrap();
        for e in &all {
            let bytes = fs::read(dir.join("files").join(&e.id)).unwrap();
            assert_eq!(bytes.len() as u64, e.size, "{}", e.id);
            assert_eq!(sha256(&bytes), e.sha256, "{}", e.id);
        }
        let mut ids: Vec<String> = all.into_iter().map(|e| e.id).collect();
        ids.sort();
        assert_eq!(names_in(&dir.join("files")), ids);
    }

    #[test]
    fn a_submission_round_trips() {
        let (dir, board) = store();
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let o = offer("CSCI3180", "hw1", "report.pdf", &bytes);
        let mut up = board.begin_upload().unwrap();
        up.write(&bytes[..10]).unwrap();
        up.write(&[]).unwrap();
        up.write(&bytes[10..999]).unwrap();
        up.write(&bytes[999..]).unwrap();
        assert_eq!(up.written(), 1000);
        let at = t0() + Duration::from_millis(1500);
        let entry = board.commit(up, &alice(), &o, at).unwrap();

        assert!(is_submission_id(&entry.id), "{}", entry.id);
        assert_eq!(entry.student_id, "1155000001");
        assert_eq!(
            (entry.course.as_str(), entry.assignment.as_str()),
            ("CSCI3180", "hw1")
        );
        assert_eq!(entry.file_name, "report.pdf");
        assert_eq!(entry.size, 1000);
        assert_eq!(entry.sha256, sha256(&bytes));
        assert_eq!(entry.received_at, unix_secs(t0()) + 1);
        assert!(!entry.late);
        assert_eq!(entry.version, 1);

        assert_eq!(board.list(&alice(), None).unwrap(), vec![entry.clone()]);
        assert_eq!(board.all().unwrap(), vec![entry.clone()]);
        let (found, path) = board.find(&alice(), &entry.id).unwrap().unwrap();
        assert_eq!(found, entry);
        assert_eq!(path, dir.path().join("files").join(&entry.id));
        assert_eq!(fs::read(&path).unwrap(), bytes);
        assert!(names_in(&dir.path().join("tmp")).is_empty());
        assert_consistent(dir.path(), &board);
    }

    #[test]
    fn a_size_mismatch_is_refused_and_leaves_nothing() {
        let (dir, board) = store();
        let bytes = b"hello, world".to_vec();
        let mut o = offer("CSCI3180", "hw1", "a.txt", &bytes);
        o.size += 1;
        let r = refusal(submit(&board, &alice(), &o, &bytes, t0()));
        assert_eq!(r.code, RefusalCode::SizeMismatch);
        assert!(r.reason.contains("12") && r.reason.contains("13"), "{r:?}");
        assert_nothing_stored(&dir, &board);
    }

    #[test]
    fn a_hash_mismatch_is_refused_and_leaves_nothing() {
        let (dir, board) = store();
        let bytes = b"hello, world".to_vec();
        let o = offer("CSCI3180", "hw1", "a.txt", b"hello, World");
        let r = refusal(submit(&board, &alice(), &o, &bytes, t0()));
        assert_eq!(r.code, RefusalCode::HashMismatch);
        assert_nothing_stored(&dir, &board);
    }

    #[test]
    fn other_refusals_leave_nothing() {
        let (dir, board) = store();
        let bytes = vec![7u8; 100];
        let o = offer("CSCI9999", "hw1", "a.txt", &bytes);
        let r = refusal(submit(&board, &alice(), &o, &bytes, t0()));
        assert_eq!(r.code, RefusalCode::NoSuchAssignment);
        assert!(r.reason.contains("CSCI9999"), "{r:?}");
        let o = offer("CSCI3180", "hw9", "a.txt", &bytes);
        let r = refusal(submit(&board, &alice(), &o, &bytes, t0()));
        assert_eq!(r.code, RefusalCode::NoSuchAssignment);
        let o = offer("CSCI3180", "hw1", "../a.txt", &bytes);
        let r = refusal(submit(&board, &alice(), &o, &bytes, t0()));
        assert_eq!(r.code, RefusalCode::BadFileName);
        board.add_assignment("CSCI3180", "hw1", due(), 99).unwrap();
        let o = offer("CSCI3180", "hw1", "a.txt", &bytes);
        let r = refusal(submit(&board, &alice(), &o, &bytes, t0()));
        assert_eq!(r.code, RefusalCode::TooLarge);
        assert_nothing_stored(&dir, &board);
    }

    #[test]
    fn a_resubmission_is_a_new_version_and_nothing_is_overwritten() {
        let (dir, board) = store();
        let o1 = offer("CSCI3180", "hw1", "a.txt", b"first");
        let o2 = offer("CSCI3180", "hw1", "a.txt", b"second");
        let e1 = submit(&board, &alice(), &o1, b"first", t0()).unwrap();
        let e2 = submit(&board, &alice(), &o2, b"second", t0()).unwrap();
        assert_eq!((e1.version, e2.version), (1, 2));
        assert_ne!(e1.id, e2.id);
        // Another file name, another assignment, another student: each starts at 1.
        let o3 = offer("CSCI3180", "hw1", "b.txt", b"first");
        let o4 = offer("CSCI3150", "lab1", "a.txt", b"first");
        assert_eq!(
            submit(&board, &alice(), &o3, b"first", t0())
                .unwrap()
                .version,
            1
        );
        assert_eq!(
            submit(&board, &alice(), &o4, b"first", t0())
                .unwrap()
                .version,
            1
        );
        assert_eq!(
            submit(&board, &bob(), &o1, b"first", t0()).unwrap().version,
            1
        );
        assert_eq!(
            submit(&board, &alice(), &o1, b"first", t0())
                .unwrap()
                .version,
            3
        );

        let list = board.list(&alice(), Some("CSCI3180")).unwrap();
        assert_eq!(list.len(), 4);
        assert_eq!(list[..2], [e1.clone(), e2.clone()]);
        let (_, p1) = board.find(&alice(), &e1.id).unwrap().unwrap();
        let (_, p2) = board.find(&alice(), &e2.id).unwrap().unwrap();
        assert_eq!(fs::read(p1).unwrap(), b"first");
        assert_eq!(fs::read(p2).unwrap(), b"second");
        assert_consistent(dir.path(), &board);
    }

    #[test]
    fn a_submission_after_the_due_second_is_late() {
        let (_dir, board) = store();
        let o = offer("CSCI3180", "hw1", "a.txt", b"x");
        let on_time = submit(&board, &alice(), &o, b"x", due()).unwrap();
        assert!(!on_time.late);
        let late = submit(&board, &alice(), &o, b"x", due() + Duration::from_secs(1)).unwrap();
        assert!(late.late);
        // Moving the due date later changes later submissions, not the records.
        board
            .add_assignment("CSCI3180", "hw1", due() + Duration::from_secs(60), MAX)
            .unwrap();
        let again = submit(&board, &alice(), &o, b"x", due() + Duration::from_secs(2)).unwrap();
        assert!(!again.late);
        assert!(board.list(&alice(), None).unwrap()[1].late);
    }

    #[test]
    fn a_student_never_sees_another_students_work() {
        let (_dir, board) = store();
        let o = offer("CSCI3180", "hw1", "a.txt", b"alice's work");
        let e = submit(&board, &alice(), &o, b"alice's work", t0()).unwrap();
        assert!(board.find(&bob(), &e.id).unwrap().is_none());
        assert!(board.list(&bob(), None).unwrap().is_empty());
        assert!(board.list(&bob(), Some("CSCI3180")).unwrap().is_empty());
        assert!(board.find(&alice(), &e.id).unwrap().is_some());
        for bad in [
            "",
            "S",
            "../blackboard.db",
            "SAAAAAAAAAAAAAAAAAAAA",
            &e.id.to_lowercase(),
        ] {
            assert!(board.find(&alice(), bad).unwrap().is_none(), "{bad:?}");
        }
    }

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

    #[test]
    fn list_filters_by_course_oldest_first() {
        let (_dir, board) = store();
        let a = offer("CSCI3180", "hw1", "a.txt", b"a");
        let b = offer("CSCI3150", "lab1", "b.txt", b"b");
        // Recorded order wins even if the clock went backwards.
        let e1 = submit(&board, &alice(), &a, b"a", t0() + Duration::from_secs(10)).unwrap();
        let e2 = submit(&board, &alice(), &b, b"b", t0()).unwrap();
        let e3 = submit(&board, &alice(), &a, b"a", t0() + Duration::from_secs(20)).unwrap();
        submit(&board, &bob(), &a, b"a", t0()).unwrap();
        assert_eq!(
            board.list(&alice(), Some("CSCI3180")).unwrap(),
            vec![e1.clone(), e3.clone()]
        );
        assert_eq!(
            board.list(&alice(), Some("CSCI3150")).unwrap(),
            vec![e2.clone()]
        );
        assert_eq!(board.list(&alice(), None).unwrap(), vec![e1, e2, e3]);
        assert!(board.list(&alice(), Some("CSCI1000")).unwrap().is_empty());
        assert_eq!(board.all().unwrap().len(), 4);
    }

    #[test]
    fn leftover_uploads_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let board = Board::open(dir.path()).unwrap();
        assert_eq!(board.leftovers_removed(), 0);
        let mut up = board.begin_upload().unwrap();
        up.write(b"half a file").unwrap();
        // A crash: the upload is never dropped.
        std::mem::forget(up);
        fs::write(dir.path().join("tmp").join("stray"), b"x").unwrap();
        fs::create_dir(dir.path().join("tmp").join("stray-dir")).unwrap();
        assert_eq!(names_in(&dir.path().join("tmp")).len(), 3);
        drop(board);
        let board = Board::open(dir.path()).unwrap();
        assert_eq!(board.leftovers_removed(), 3);
        assert!(names_in(&dir.path().join("tmp")).is_empty());
    }

    #[test]
    fn a_second_server_open_is_refused_and_leaves_the_first_ones_uploads_alone() {
        let (dir, board) = store();
        let mut up = board.begin_upload().unwrap();
        up.write(b"half a file").unwrap();
        match Board::open(dir.path()) {
            Err(e @ BoardError::Locked(_)) => {
                let text = e.to_string();
                assert!(text.contains("in use by another server"), "{text}");
                assert!(
                    text.contains(&format!("pid {}", std::process::id())),
                    "{text}"
                );
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        assert_eq!(names_in(&dir.path().join("tmp")).len(), 1);
        // Records may still be read and changed alongside the server.
        let records = Board::open_records(dir.path()).unwrap();
        assert_eq!(records.leftovers_removed(), 0);
        assert_eq!(records.assignments().unwrap().len(), 2);
        up.write(b" and the rest").unwrap();
        let o = offer("CSCI3180", "hw1", "a.txt", b"half a file and the rest");
        assert!(board.commit(up, &alice(), &o, t0()).is_ok());
        drop(board);
        assert!(
            Board::open(dir.path()).is_ok(),
            "free once the first is gone"
        );
    }

    #[test]
    fn dropping_or_aborting_an_upload_removes_its_file() {
        let (dir, board) = store();
        let tmp = dir.path().join("tmp");
        let mut up = board.begin_upload().unwrap();
        up.write(b"abc").unwrap();
        assert_eq!(names_in(&tmp).len(), 1);
        drop(up);
        assert!(names_in(&tmp).is_empty());
        let up = board.begin_upload().unwrap();
        let other = board.begin_upload().unwrap();
        assert_eq!(names_in(&tmp).len(), 2);
        up.abort();
        assert_eq!(names_in(&tmp).len(), 1);
        other.abort();
        assert!(names_in(&tmp).is_empty());
    }

    #[test]
    fn records_survive_a_restart_and_stay_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let board = Board::open(dir.path()).unwrap();
        board.add_assignment("CSCI3180", "hw1", due(), MAX).unwrap();
        let mut entries = Vec::new();
        for i in 0..5u8 {
            let bytes = vec![i; 1000 * usize::from(i)];
            let o = offer("CSCI3180", "hw1", "a.bin", &bytes);
            entries.push(submit(&board, &alice(), &o, &bytes, t0()).unwrap());
        }
        let mut up = board.begin_upload().unwrap();
        up.write(b"in flight when the power went").unwrap();
        std::mem::forget(up);
        drop(board);

        let board = Board::open(dir.path()).unwrap();
        assert_eq!(board.leftovers_removed(), 1);
        assert_eq!(board.list(&alice(), None).unwrap(), entries);
        assert_eq!(
            board.assignment("CSCI3180", "hw1").unwrap().unwrap().due,
            due()
        );
        let (e, path) = board.find(&alice(), &entries[3].id).unwrap().unwrap();
        assert_eq!(e, entries[3]);
        assert_eq!(fs::read(path).unwrap(), vec![3u8; 3000]);
        assert_consistent(dir.path(), &board);
    }

    #[test]
    fn a_failed_record_insert_leaves_no_file_behind() {
        let (dir, board) = store();
        // Fault injection: make every insert into submissions fail.
        let raw = Connection::open(dir.path().join("blackboard.db")).unwrap();
        raw.execute_batch(
            "CREATE TRIGGER fail BEFORE INSERT ON submissions
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .unwrap();
        let o = offer("CSCI3180", "hw1", "a.txt", b"data");
        match submit(&board, &alice(), &o, b"data", t0()) {
            Err(e @ BoardError::Database { .. }) => {
                assert_eq!(e.refusal().code, RefusalCode::Storage)
            }
            other => panic!("expected a database error, got {other:?}"),
        }
        assert_nothing_stored(&dir, &board);
        raw.execute_batch("DROP TRIGGER fail").unwrap();
        assert!(submit(&board, &alice(), &o, b"data", t0()).is_ok());
    }

    #[test]
    fn disk_full_maps_to_a_storage_refusal() {
        for e in [
            io::Error::from(io::ErrorKind::StorageFull),
            io::Error::from(io::ErrorKind::QuotaExceeded),
            io::Error::from(io::ErrorKind::FileTooLarge),
        ] {
            let r = refusal::<()>(Err(io_refusal(e)));
            assert_eq!(
                (r.code, r.reason.as_str()),
                (RefusalCode::Storage, DISK_FULL)
            );
        }
        let r = refusal::<()>(Err(io_refusal(io::Error::other("bad sector"))));
        assert_eq!(r.code, RefusalCode::Storage);
        assert!(r.reason.contains("bad sector"), "{r:?}");

        // A real ENOSPC, through Upload::write.
        let Ok(full) = OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let (dir, board) = store();
        let placeholder = dir.path().join("tmp").join("upload-full");
        fs::write(&placeholder, b"").unwrap();
        let mut up = Upload::new(full, placeholder.clone());
        let r = refusal(up.write(&[0u8; 4096]));
        assert_eq!(
            (r.code, r.reason.as_str()),
            (RefusalCode::Storage, DISK_FULL)
        );
        assert_eq!(up.written(), 0);
        // The upload is spoiled: no more writes, no commit, and its file goes.
        assert_eq!(refusal(up.write(b"x")).code, RefusalCode::Storage);
        let o = offer("CSCI3180", "hw1", "a.txt", b"");
        assert_eq!(
            refusal(board.commit(up, &alice(), &o, t0())).code,
            RefusalCode::Storage
        );
        assert!(!placeholder.exists());
        assert_nothing_stored(&dir, &board);
    }

    #[test]
    fn assignments_are_checked_added_and_updated() {
        let dir = tempfile::tempdir().unwrap();
        let board = Board::open(dir.path()).unwrap();
        assert!(board.assignments().unwrap().is_empty());
        board.add_assignment("CSCI3180", "hw2", due(), 10).unwrap();
        board.add_assignment("CSCI3150", "lab1", due(), 20).unwrap();
        let later = due() + Duration::from_secs(3600);
        board.add_assignment("CSCI3180", "hw2", later, 30).unwrap();
        let all = board.assignments().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].course, "CSCI3150");
        assert_eq!(
            board.assignment("CSCI3180", "hw2").unwrap(),
            Some(Assignment {
                course: "CSCI3180".into(),
                assignment: "hw2".into(),
                due: later,
                max_size: 30,
            })
        );
        assert_eq!(board.assignment("CSCI3180", "hw3").unwrap(), None);
        for (c, a) in [("CSCI 3180", "hw1"), ("CSCI3180", "../hw1"), ("", "hw1")] {
            assert!(matches!(
                board.add_assignment(c, a, due(), 10),
                Err(BoardError::InvalidName(_))
            ));
        }
        assert!(matches!(
            board.add_assignment("CSCI3180", "hw1", due(), 0),
            Err(BoardError::Invalid(_))
        ));
        assert!(matches!(
            board.add_assignment("CSCI3180", "hw1", due(), u64::MAX),
            Err(BoardError::Invalid(_))
        ));
        assert_eq!(board.assignments().unwrap().len(), 2);
    }

    #[test]
    fn a_students_storage_per_assignment_is_bounded_in_count_and_bytes() {
        let (dir, board) = store();
        let board = board.with_quota(Quota {
            max_submissions: 3,
            max_bytes: 100,
        });
        let hw1 = |name: &str, bytes: &[u8]| offer("CSCI3180", "hw1", name, bytes);
        for n in 0..3 {
            let o = hw1("a.txt", &[n; 10]);
            board.check_quota(&alice(), &o).expect("fits at the offer");
            submit(&board, &alice(), &o, &[n; 10], t0()).expect("stored");
        }
        let fourth = hw1("b.txt", b"x");
        assert_eq!(
            refusal(board.check_quota(&alice(), &fourth)).code,
            RefusalCode::Quota
        );
        let r = refusal(submit(&board, &alice(), &fourth, b"x", t0()));
        assert_eq!(r.code, RefusalCode::Quota);
        // Bob, and Alice's other assignment, are not affected.
        submit(&board, &bob(), &fourth, b"x", t0()).expect("bob stores");
        let lab = offer("CSCI3150", "lab1", "b.txt", b"x");
        submit(&board, &alice(), &lab, b"x", t0()).expect("another assignment");

        // Bytes: Bob stores 1; 100 more would make 101 of 100, 99 more fit exactly.
        let big = vec![1u8; 100];
        let r = refusal(submit(&board, &bob(), &hw1("big", &big), &big, t0()));
        assert!(r.reason.contains("over the 100 bytes"), "{}", r.reason);
        submit(&board, &bob(), &hw1("big", &big[..99]), &big[..99], t0()).expect("fits exactly");
        assert_consistent(dir.path(), &board);
    }

    #[test]
    fn the_bound_counts_submissions_earlier_in_the_same_batch() {
        let (dir, board) = store();
        let board = board.with_quota(Quota {
            max_submissions: 2,
            max_bytes: 1 << 20,
        });
        // Three uploads all passed the check at their offer; the batch records two.
        let mut batch = Vec::new();
        for n in 0..3u8 {
            let bytes = [n; 5];
            let o = offer("CSCI3180", "hw1", "a.txt", &bytes);
            board.check_quota(&alice(), &o).expect("fits at the offer");
            let mut up = board.begin_upload().unwrap();
            up.write(&bytes).unwrap();
            batch.push(board.prepare(up, &alice(), &o, t0()).unwrap());
        }
        let results = board.commit_batch(batch);
        assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
        let third = results.into_iter().nth(2).expect("three results");
        assert_eq!(refusal(third).code, RefusalCode::Quota);
        assert_eq!(board.list(&alice(), None).unwrap().len(), 2);
        assert_consistent(dir.path(), &board);
    }

    #[test]
    fn concurrent_commits_from_worker_threads_get_distinct_versions() {
        fn assert_send_sync<T: Send + Sync>() {}
        fn assert_send<T: Send>() {}
        assert_send_sync::<Board>();
        assert_send::<Upload>();

        let (dir, board) = store();
        let o = offer("CSCI3180", "hw1", "a.txt", b"same");
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| submit(&board, &alice(), &o, b"same", t0()).unwrap());
            }
        });
        let mut versions: Vec<u32> = board.all().unwrap().iter().map(|e| e.version).collect();
        versions.sort();
        assert_eq!(versions, (1..=8).collect::<Vec<_>>());
        assert_consistent(dir.path(), &board);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Board::open(dir.path()).unwrap());
        Connection::open(dir.path().join("blackboard.db"))
            .unwrap()
            .pragma_update(None, "user_version", 7)
            .unwrap();
        match Board::open(dir.path()) {
            Err(e @ BoardError::BadDatabase(_)) => assert!(e.to_string().contains('7')),
            other => panic!("expected BadDatabase, got {other:?}"),
        }
    }

    fn ready(
        board: &Board,
        student: &StudentId,
        offer: &UploadOffer,
        bytes: &[u8],
        at: SystemTime,
    ) -> Ready {
        let mut up = board.begin_upload().unwrap();
        up.write(bytes).unwrap();
        board.prepare(up, student, offer, at).unwrap()
    }

    #[test]
    fn a_batch_stores_every_submission_and_refuses_only_its_own_failures() {
        let (dir, board) = store();
        let late = due() + Duration::from_secs(1);
        let o_a = offer("CSCI3180", "hw1", "a.txt", b"first");
        let o_a2 = offer("CSCI3180", "hw1", "a.txt", b"second");
        let o_big = offer("CSCI3150", "lab1", "big.bin", &[9u8; 500]);
        let o_bob = offer("CSCI3180", "hw1", "a.txt", b"bob's");
        let batch = vec![
            ready(&board, &alice(), &o_a, b"first", t0()),
            ready(&board, &alice(), &o_big, &[9u8; 500], t0()),
            ready(&board, &bob(), &o_bob, b"bob's", late),
            // The same student and file twice in one batch.
            ready(&board, &alice(), &o_a2, b"second", late),
        ];
        // The limit drops below one submission's size after it was prepared.
        board
            .add_assignment("CSCI3150", "lab1", due(), 100)
            .unwrap();
        let mut results = board.commit_batch(batch);
        assert_eq!(results.len(), 4);
        let a2 = results.pop().unwrap().unwrap();
        let b = results.pop().unwrap().unwrap();
        let r = refusal(results.pop().unwrap());
        let a1 = results.pop().unwrap().unwrap();
        assert_eq!(r.code, RefusalCode::TooLarge);
        assert!(r.reason.contains("100"), "{r:?}");
        assert_eq!((a1.entry.version, a1.entry.late), (1, false));
        assert_eq!((a2.entry.version, a2.entry.late), (2, true));
        assert_eq!((b.entry.version, b.entry.late), (1, true));
        assert_eq!(a1.due, due());
        assert_eq!(
            board.list(&alice(), None).unwrap(),
            vec![a1.entry.clone(), a2.entry.clone()]
        );
        assert_eq!(board.list(&bob(), None).unwrap(), vec![b.entry.clone()]);
        let (_, p) = board.find(&alice(), &a2.entry.id).unwrap().unwrap();
        assert_eq!(fs::read(p).unwrap(), b"second");
        assert!(names_in(&dir.path().join("tmp")).is_empty());
        assert_consistent(dir.path(), &board);

        // A later batch counts the versions already stored.
        let more = vec![
            ready(&board, &alice(), &o_a, b"first", t0()),
            ready(&board, &alice(), &o_a, b"first", t0()),
        ];
        let versions: Vec<u32> = board
            .commit_batch(more)
            .into_iter()
            .map(|r| r.unwrap().entry.version)
            .collect();
        assert_eq!(versions, [3, 4]);
        assert_consistent(dir.path(), &board);
    }

    #[test]
    fn a_file_that_cannot_be_renamed_refuses_only_its_submission() {
        let (dir, board) = store();
        let o = offer("CSCI3180", "hw1", "a.txt", b"data");
        let batch: Vec<Ready> = (0..3)
            .map(|_| ready(&board, &alice(), &o, b"data", t0()))
            .collect();
        fs::remove_file(&batch[1].upload.path).unwrap();
        let results = board.commit_batch(batch);
        assert_eq!(results[0].as_ref().unwrap().entry.version, 1);
        assert_eq!(
            refusal(board_result(&results[1])).code,
            RefusalCode::Storage
        );
        assert_eq!(results[2].as_ref().unwrap().entry.version, 2);
        assert_eq!(board.all().unwrap().len(), 2);
        assert!(names_in(&dir.path().join("tmp")).is_empty());
        assert_consistent(dir.path(), &board);
    }

    fn board_result(r: &Result<Committed, BoardError>) -> Result<(), BoardError> {
        match r {
            Ok(_) => Ok(()),
            Err(BoardError::Refused(r)) => Err(BoardError::Refused(r.clone())),
            Err(e) => Err(BoardError::Invalid(e.to_string())),
        }
    }

    #[test]
    fn a_failed_commit_refuses_the_whole_batch_and_removes_its_files() {
        let (dir, board) = store();
        let o = offer("CSCI3180", "hw1", "a.txt", b"kept");
        let kept = submit(&board, &alice(), &o, b"kept", t0()).unwrap();
        // Fault injection: every insert succeeds, but the COMMIT fails (a deferred foreign
        // key that is never satisfied), after the files were renamed and the directory synced.
        let raw = Connection::open(dir.path().join("blackboard.db")).unwrap();
        raw.execute_batch(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE fault (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TRIGGER fault AFTER INSERT ON submissions
             BEGIN INSERT INTO fault (p) VALUES (1); END;",
        )
        .unwrap();
        let o2 = offer("CSCI3180", "hw1", "b.txt", b"lost");
        let o3 = offer("CSCI3150", "lab1", "c.txt", b"also lost");
        let o_big = offer("CSCI3180", "hw1", "big.txt", &[1u8; 50]);
        let batch = vec![
            ready(&board, &alice(), &o2, b"lost", t0()),
            ready(&board, &bob(), &o3, b"also lost", t0()),
            ready(&board, &bob(), &o_big, &[1u8; 50], t0()),
        ];
        board.add_assignment("CSCI3180", "hw1", due(), 10).unwrap();
        let results = board.commit_batch(batch);
        for r in &results[..2] {
            match r {
                Err(e @ BoardError::Batch { size: 3, .. }) => {
                    assert_eq!(e.refusal().code, RefusalCode::Storage);
                    assert!(e.to_string().contains("none was stored"), "{e}");
                    assert!(e.to_string().contains("FOREIGN KEY"), "{e}");
                }
                other => panic!("expected the batch to fail, got {other:?}"),
            }
        }
        // Refused on its own, it keeps its own reason.
        assert_eq!(
            refusal(board_result(&results[2])).code,
            RefusalCode::TooLarge
        );
        assert_eq!(board.all().unwrap(), vec![kept.clone()]);
        assert!(names_in(&dir.path().join("tmp")).is_empty());
        assert_eq!(names_in(&dir.path().join("files")), vec![kept.id.clone()]);
        assert_consistent(dir.path(), &board);

        // The fault gone, the next batch is stored.
        raw.execute_batch("DROP TRIGGER fault").unwrap();
        board.add_assignment("CSCI3180", "hw1", due(), MAX).unwrap();
        let again = board.commit_batch(vec![ready(&board, &alice(), &o2, b"lost", t0())]);
        assert_eq!(again[0].as_ref().unwrap().entry.version, 1);
        assert_eq!(board.all().unwrap().len(), 2);
        assert_consistent(dir.path(), &board);
    }

    #[test]
    fn records_opened_beside_a_server_leave_its_uploads_alone() {
        let (dir, board) = store();
        let mut up = board.begin_upload().unwrap();
        up.write(b"in progress").unwrap();
        let admin = Board::open_records(dir.path()).unwrap();
        assert_eq!(admin.leftovers_removed(), 0);
        admin.add_assignment("CSCI3180", "hw1", due(), 5).unwrap();
        assert_eq!(names_in(&dir.path().join("tmp")).len(), 1);
        let o = offer("CSCI3180", "hw1", "a.txt", b"in progress");
        // The running server sees the new limit.
        assert_eq!(
            refusal(board.commit(up, &alice(), &o, t0())).code,
            RefusalCode::TooLarge
        );
        assert_nothing_stored(&dir, &board);
    }
}
