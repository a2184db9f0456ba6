//! Blackboard's durable submission store: records behind [`BoardRecords`] (SQLite by default)
//! and bytes in a [`BlobDir`].
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
//! `tmp/`, only once it holds the directory's lock (`DATA/server.lock`, see
//! [`handin_files::dirlock`]), so that it never removes another running server's uploads.
//! Times are kept to the second.
//!
//! The rules (offer admission, versions, lateness, the quota, who sees what) are the core's
//! ([`handin_core::rules`]); this module applies them in the durability order above.

mod commit;
mod course;
mod location;
mod log;
mod student_view;
#[cfg(test)]
mod tests;

pub use crate::people_csv::parse_class_list;
pub use commit::{Committed, Ready};
pub use course::{Actor, AssignmentSpec, StudentStatus};
pub use location::{default_node_name, StoreLocation};
pub use log::{default_origin, LOG_KEY};
pub use student_view::{AssignmentView, CourseView};

use crate::store::blobs::is_submission_id;
use crate::store::sqlite::SqliteBoard;
use crate::store::{Assignment, BlobDir, BoardRecords, StoreError, StoredSubmission, Upload};
use handin_core::msg::UploadOffer;
use handin_core::names::BadName;
use handin_core::pki::{unix_secs, StudentId};
use handin_core::rules::course::check_may_submit;
use handin_core::rules::quota::Quota;
use handin_core::rules::visibility;
use handin_core::{Refusal, RefusalCode};
use handin_files::dirlock::{DirLock, DirLockError};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

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
        "submission database: {what}: {source}; check that the database (blackboard.db, or the \
         PostgreSQL server of --db) is reachable, writable and a handin database"
    )]
    Database {
        /// What was being done.
        what: String,
        /// The database's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database holds something this version does not understand.
    #[error("submission database: {0}; restore it from a backup or use a newer handin")]
    BadDatabase(String),
    /// The data directory does not exist, or holds no store: a typo in a path must not make a
    /// new empty store. [`Board::init`] makes one.
    #[error(
        "{}: create it with `blackboard init --data {}`, or check the path",
        if *.exists {
            format!("{} is not a Blackboard data directory (it has no blackboard.db)", .dir.display())
        } else {
            format!("the data directory {} does not exist", .dir.display())
        },
        .dir.display()
    )]
    NoStore {
        /// The directory named.
        dir: std::path::PathBuf,
        /// Whether the directory itself exists.
        exists: bool,
    },
    /// [`Board::init`] was asked for a directory that already holds a store.
    #[error("{} already holds a Blackboard store; refusing to make another (use another --data)", .0.display())]
    AlreadyInitialized(std::path::PathBuf),
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

impl From<StoreError> for BoardError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database { what, source } => Self::Database { what, source },
            StoreError::BadDatabase(m) => Self::BadDatabase(m),
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> BoardError {
    let what = what.into();
    move |source| BoardError::Io { what, source }
}

fn refused(code: RefusalCode, reason: impl Into<String>) -> BoardError {
    BoardError::Refused(Refusal::new(code, reason))
}

/// An I/O error while storing an upload, as the refusal the student sees.
pub fn io_refusal(e: io::Error) -> BoardError {
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

/// Blackboard's submission store. `&Board` may be shared by several worker threads.
#[derive(Debug)]
pub struct Board {
    records: Box<dyn BoardRecords>,
    blobs: BlobDir,
    leftovers_removed: usize,
    quota: Quota,
    lock: Option<DirLock>,
    log: Arc<crate::translog::LogWriter>,
}

/// The database file of the store in `dir`.
const DB: &str = "blackboard.db";

impl Board {
    /// Makes a new, empty store in `dir` (creating the directory, mode 0700): the database,
    /// `files/` and `tmp/`. Refuses a directory that already holds one.
    pub fn init(dir: &Path) -> Result<(), BoardError> {
        if dir.join(DB).symlink_metadata().is_ok() {
            return Err(BoardError::AlreadyInitialized(dir.to_path_buf()));
        }
        BlobDir::open(dir).map_err(|(at, e)| io_err(format!("creating {}", at.display()))(e))?;
        SqliteBoard::open(&dir.join(DB))?;
        Ok(())
    }

    /// Opens the store in `dir` (made by [`Board::init`]) for a server: takes the directory's lock for as long
    /// as the store lives, then deletes every leftover file in `tmp/` (an upload without a
    /// receipt never survives a restart; see [`Board::leftovers_removed`]).
    ///
    /// If another process holds the lock (another server on the same directory), nothing is
    /// touched and [`BoardError::Locked`] names the holder.
    pub fn open(dir: &Path) -> Result<Self, BoardError> {
        Self::open_with(dir, true)
    }

    /// Opens the store in `dir` (made by [`Board::init`]) for reading and changing its records (assignments,
    /// listings) while a server may be serving the same directory: unlike [`Board::open`], it
    /// leaves `tmp/` alone, so uploads in progress survive. Do not store submissions through
    /// it.
    pub fn open_records(dir: &Path) -> Result<Self, BoardError> {
        Self::open_with(dir, false)
    }

    fn open_with(dir: &Path, clean: bool) -> Result<Self, BoardError> {
        // Never a new empty store from a mistyped path: the directory and its database must
        // be there already.
        if dir.join(DB).symlink_metadata().is_err() {
            return Err(BoardError::NoStore {
                dir: dir.to_path_buf(),
                exists: dir.is_dir(),
            });
        }
        let blobs = BlobDir::open(dir)
            .map_err(|(at, e)| io_err(format!("creating {}", at.display()))(e))?;
        let lock = match clean {
            true => Some(DirLock::acquire(dir, SystemTime::now()).map_err(BoardError::Locked)?),
            false => None,
        };
        let leftovers_removed = if clean {
            blobs.clean_tmp().map_err(|(at, e)| {
                io_err(format!("removing leftover upload {}", at.display()))(e)
            })?
        } else {
            0
        };
        let records = SqliteBoard::open(&dir.join(DB))?;
        Self::with_parts(Box::new(records), blobs, lock, leftovers_removed).with_log_key()
    }

    /// A store over any records and blob directory (the caller holds whatever lock they need),
    /// with a log key of its own (not kept: for tests).
    pub fn with_parts(
        records: Box<dyn BoardRecords>,
        blobs: BlobDir,
        lock: Option<DirLock>,
        leftovers_removed: usize,
    ) -> Self {
        // A key of its own until [`Board::with_log_key`] loads the store's.
        let signer = handin_core::tlog::NoteSigner::generate(&default_origin())
            .expect("an Ed25519 key from the system's randomness");
        Self {
            records,
            blobs,
            leftovers_removed,
            lock,
            quota: Quota::default(),
            log: Arc::new(crate::translog::LogWriter::new(signer)),
        }
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

    /// The records.
    pub fn records(&self) -> &dyn BoardRecords {
        self.records.as_ref()
    }

    /// The blob directory.
    pub fn blobs(&self) -> &BlobDir {
        &self.blobs
    }

    /// Whether `student` may store one more submission of `offer.size` bytes for the offer's
    /// assignment, as the records stand now (checked again when it is recorded).
    pub fn check_quota(&self, student: &StudentId, offer: &UploadOffer) -> Result<(), BoardError> {
        let used = self
            .records
            .usage(student, &offer.course, &offer.assignment)?;
        self.quota
            .check(used, offer.size)
            .map_err(BoardError::Refused)
    }

    /// Whether `offer` from `student`, arriving at `now`, may be taken: its assignment exists
    /// and accepts its size, the student may submit to the course (its class list, if it has
    /// one), the assignment is open and its cut-off (moved by the student's extension) has not
    /// passed, and the student's quota has room. The assignment and the quota are checked
    /// again when it is recorded.
    pub fn admit(
        &self,
        student: &StudentId,
        offer: &UploadOffer,
        now: SystemTime,
    ) -> Result<(), BoardError> {
        let facts = self
            .records
            .offer_facts(student, &offer.course, &offer.assignment)?;
        handin_core::rules::submission::admit(offer, facts.assignment.as_ref().map(|a| a.max_size))
            .map_err(BoardError::Refused)?;
        let Some(assignment) = facts.assignment else {
            return Err(refused(RefusalCode::Internal, "no assignment"));
        };
        check_may_submit(student, &offer.course, facts.membership).map_err(BoardError::Refused)?;
        assignment
            .window()
            .admit(unix_secs(now), facts.extension.map(unix_secs))
            .map_err(BoardError::Refused)?;
        self.quota
            .check(facts.usage, offer.size)
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

    /// Adds an assignment, or updates the due time and size limit of an existing one (as the
    /// operator, a due time in the past allowed, no cut-off): [`Board::put_assignment`].
    pub fn add_assignment(
        &self,
        course: &str,
        assignment: &str,
        due: SystemTime,
        max_size: u64,
    ) -> Result<(), BoardError> {
        let spec = AssignmentSpec {
            course: course.to_owned(),
            assignment: assignment.to_owned(),
            due,
            max_size,
            cutoff: None,
            grace: std::time::Duration::ZERO,
        };
        self.put_assignment(&spec, true, &Actor::Operator, SystemTime::now())
    }

    /// One assignment, if it exists.
    pub fn assignment(
        &self,
        course: &str,
        assignment: &str,
    ) -> Result<Option<Assignment>, BoardError> {
        Ok(self.records.assignment(course, assignment)?)
    }

    /// Every assignment, by course and name.
    pub fn assignments(&self) -> Result<Vec<Assignment>, BoardError> {
        Ok(self.records.assignments()?)
    }

    /// Starts an upload into a new temporary file in `tmp/`.
    pub fn begin_upload(&self) -> Result<Upload, BoardError> {
        self.blobs.begin_upload().map_err(io_refusal)
    }

    /// Starts an upload whose bytes the caller checks against the offer's SHA-256 as they
    /// arrive, so they are not hashed again on their way to the disk.
    pub(crate) fn begin_checked_upload(&self) -> Result<Upload, BoardError> {
        self.blobs.begin_checked_upload().map_err(io_refusal)
    }

    /// This student's submissions, optionally of one course only, oldest first.
    pub fn list(
        &self,
        student: &StudentId,
        course: Option<&str>,
    ) -> Result<Vec<StoredSubmission>, BoardError> {
        let mut listed = self.records.list(student, course)?;
        listed.retain(|s| visibility::listed(student, course, s.student.as_str(), &s.course));
        Ok(listed)
    }

    /// One submission that `student` may see ([`visibility::may_see`]: their own). `None` if
    /// there is no such submission or it is another student's: the caller cannot tell which.
    pub fn find(
        &self,
        student: &StudentId,
        id: &str,
    ) -> Result<Option<StoredSubmission>, BoardError> {
        if !is_submission_id(id) {
            return Ok(None);
        }
        let found = self.records.find(id)?;
        Ok(found.filter(|s| visibility::may_see(student, s.student.as_str())))
    }

    /// Opens the bytes of a submission found with [`Board::find`].
    pub fn open_blob(&self, submission: &StoredSubmission) -> io::Result<std::fs::File> {
        self.blobs.open_blob(&submission.id)
    }

    /// Every stored submission, oldest first (for operators and tests).
    pub fn all(&self) -> Result<Vec<StoredSubmission>, BoardError> {
        Ok(self.records.all()?)
    }
}
