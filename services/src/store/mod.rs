//! Storage behind traits: what Blackboard and CUHK keep, and the operations they need on it,
//! so that another database can sit beside the embedded SQLite one.
//!
//! - Blackboard: [`BoardRecords`] (assignments and submission records) with [`BoardTx`], the
//!   transaction in which a batch of submissions is recorded; the bytes live in a [`BlobDir`]
//!   (a directory that several servers could share).
//! - CUHK: [`RegistrarRecords`] (roster of students and staff and their codes, issued
//!   certificates, revocations, the CRL number and the latest CRL) with [`RegistrarTx`], the
//!   transaction in which a batch of applications is decided, and [`RegistrarView`], what a
//!   decision reads (also from a read-only connection); [`ThrottleRecords`], the wrong-code
//!   throttle shared by several CUHK nodes.
//!
//! Beside its records, each database keeps a transparency log ([`log`]): entries are appended
//! in the transaction that writes what they log ([`BoardTx::log`], [`RegistrarTx::log`]) and
//! read through [`LogRecords`]. Blackboard also keeps commitments ([`CommitmentRecord`]):
//! what a student vouched for before the due time.
//!
//! Two implementations: the embedded SQLite one ([`sqlite`], one server per database) and the
//! PostgreSQL one ([`postgres`], several servers sharing one database).
//!
//! The traits hold no rules: what to check, and in what order, is the services' (see
//! [`crate::board`] and [`crate::registrar`]), and the rules themselves are the core's
//! ([`handin_core::rules`]).

pub mod blobs;
mod commitment;
#[cfg(test)]
mod conformance;
pub mod course;
pub mod log;
mod log_rows;
pub mod postgres;
pub mod sqlite;

pub use self::postgres::{PgBoard, PgRegistrar, PgThrottle};
pub use blobs::{BlobDir, Upload};
pub use commitment::CommitmentRecord;
pub use course::{
    Change, Course, CourseRecords, Extension, FeedbackFile, Grade, LogEntry, ReleasedGrade,
};
pub use log::{LogHead, LogRecords, LogTx};

use handin_core::msg::SubmissionEntry;
use handin_core::pki::{unix_secs, PersonId, RevokedSerial, StudentId};
use handin_core::rules::course::Membership;
use handin_core::rules::enrollment::CertStanding;
use handin_core::rules::quota::Usage;
use handin_core::rules::window::Window;
use handin_core::ReceiptBody;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be read or written.
    #[error("{what}: {source}")]
    Database {
        /// What was being done.
        what: String,
        /// The database's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database holds something this version does not understand.
    #[error("{0}")]
    BadDatabase(String),
}

/// The error of [`RegistrarTx::mark_code_used`] when no unused code of `person` was there to
/// mark.
pub(crate) fn code_not_spent(person: &PersonId) -> StoreError {
    StoreError::Database {
        what: format!("marking the code of {} {person} used", person.kind()),
        source: "the code was used already (by another server?) or the person is not on the \
                 roster"
            .into(),
    }
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
    /// Cut-off time: an offer after it is refused (`None`: late work is taken without limit).
    pub cutoff: Option<SystemTime>,
    /// Grace after the due time for a submission committed to before it (whole seconds).
    pub grace: Duration,
    /// Open to submissions (staff may close it).
    pub open: bool,
}

impl Assignment {
    /// An open assignment without cut-off or grace.
    pub fn new(course: &str, assignment: &str, due: SystemTime, max_size: u64) -> Self {
        Self {
            course: course.to_owned(),
            assignment: assignment.to_owned(),
            due,
            max_size,
            cutoff: None,
            grace: Duration::ZERO,
            open: true,
        }
    }

    /// Its timing, as the rules read it.
    pub fn window(&self) -> Window {
        Window {
            due: unix_secs(self.due),
            cutoff: self.cutoff.map(unix_secs),
            open: self.open,
        }
    }
}

/// A submission as Blackboard keeps it: its record in the database (its bytes are the blob
/// named by `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubmission {
    /// Unique id, also the name of its blob.
    pub id: String,
    /// Who submitted it (from their certificate).
    pub student: StudentId,
    /// Course code.
    pub course: String,
    /// Assignment name.
    pub assignment: String,
    /// File name as submitted.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
    /// When Blackboard received its last byte (to the second).
    pub received_at: SystemTime,
    /// Received after the due time in force for the student.
    pub late: bool,
    /// 1 for the first submission of this file name to this assignment by this student, then
    /// 2, 3, ...
    pub version: u32,
    /// The due time in force for its student when it was stored (what its receipt says).
    pub due: SystemTime,
    /// When the student committed to these bytes, if a commitment is what made it on time.
    pub committed_at: Option<SystemTime>,
    /// The index of its receipt in Blackboard's log (`None`: recorded before logging).
    pub log_index: Option<u64>,
}

impl StoredSubmission {
    /// What its receipt attests (without the log's key: see
    /// [`crate::board::Board::receipt`]).
    pub fn receipt_body(&self) -> ReceiptBody {
        let mut body = ReceiptBody::for_entry(&SubmissionEntry::from(self), unix_secs(self.due));
        body.committed_at = self.committed_at.map(unix_secs);
        body
    }
}

impl handin_core::rules::current::Version for StoredSubmission {
    fn file_name(&self) -> &str {
        &self.file_name
    }
    fn version(&self) -> u32 {
        self.version
    }
    fn received_at(&self) -> u64 {
        unix_secs(self.received_at)
    }
    fn committed_at(&self) -> Option<u64> {
        self.committed_at.map(unix_secs)
    }
}

impl From<&StoredSubmission> for SubmissionEntry {
    /// The record as the wire protocol lists it.
    fn from(s: &StoredSubmission) -> Self {
        SubmissionEntry {
            id: s.id.clone(),
            student_id: s.student.as_str().to_owned(),
            course: s.course.clone(),
            assignment: s.assignment.clone(),
            file_name: s.file_name.clone(),
            size: s.size,
            sha256: s.sha256,
            received_at: unix_secs(s.received_at),
            late: s.late,
            version: s.version,
        }
    }
}

/// Blackboard's records: assignments, submissions and commitments, the courses
/// ([`CourseRecords`]) and the log ([`LogRecords`]). Shared by worker threads.
pub trait BoardRecords: CourseRecords + LogRecords + Send + Sync + fmt::Debug {
    /// Adds an assignment, or updates the due time and size limit of an existing one.
    fn put_assignment(&self, assignment: &Assignment) -> Result<(), StoreError>;
    /// One assignment, if it exists.
    fn assignment(&self, course: &str, assignment: &str) -> Result<Option<Assignment>, StoreError>;
    /// Every assignment, by course and name.
    fn assignments(&self) -> Result<Vec<Assignment>, StoreError>;
    /// What `student` stores for `course`/`assignment` now.
    fn usage(
        &self,
        student: &StudentId,
        course: &str,
        assignment: &str,
    ) -> Result<Usage, StoreError>;
    /// Everything deciding on `student`'s offer for `course`/`assignment` reads, at once (a
    /// store over a network answers it in one round trip).
    fn offer_facts(
        &self,
        student: &StudentId,
        course: &str,
        assignment: &str,
    ) -> Result<OfferFacts, StoreError> {
        let person = PersonId::Student(student.clone());
        Ok(OfferFacts {
            assignment: self.assignment(course, assignment)?,
            membership: self.membership(&person, course)?,
            extension: self.extension(course, assignment, student)?,
            usage: self.usage(student, course, assignment)?,
        })
    }
    /// Starts the transaction in which a batch of submissions is recorded. Only one is open
    /// at a time: the next waits for it.
    fn begin(&self) -> Result<Box<dyn BoardTx + '_>, StoreError>;
    /// This student's submissions, optionally of one course only, oldest first.
    fn list(
        &self,
        student: &StudentId,
        course: Option<&str>,
    ) -> Result<Vec<StoredSubmission>, StoreError>;
    /// The submission with this id, whoever's it is.
    fn find(&self, id: &str) -> Result<Option<StoredSubmission>, StoreError>;
    /// Every stored submission, oldest first.
    fn all(&self) -> Result<Vec<StoredSubmission>, StoreError>;
    /// Whether a submission with this id is recorded (after a failed commit: whether it took
    /// effect all the same).
    fn is_recorded(&self, id: &str) -> Result<bool, StoreError>;
    /// The commitments to `course`/`assignment`, by student, then oldest first.
    fn commitments(
        &self,
        course: &str,
        assignment: &str,
    ) -> Result<Vec<CommitmentRecord>, StoreError>;
    /// Every commitment of `student`, oldest first.
    fn student_commitments(&self, student: &StudentId)
        -> Result<Vec<CommitmentRecord>, StoreError>;
}

/// What deciding whether to take an offer reads about it ([`BoardRecords::offer_facts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferFacts {
    /// The assignment, if it exists.
    pub assignment: Option<Assignment>,
    /// The student and the course.
    pub membership: Membership,
    /// The student's extension, if granted.
    pub extension: Option<SystemTime>,
    /// What the student stores for the assignment now.
    pub usage: Usage,
}

/// What recording one submission reads in its transaction ([`BoardTx::record_facts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFacts {
    /// The assignment, as it is now.
    pub assignment: Option<Assignment>,
    /// What the student stores for the assignment, this transaction's records included.
    pub usage: Usage,
    /// How many versions of the file name the student stores.
    pub versions: u32,
    /// The student's extension, if granted.
    pub extension: Option<SystemTime>,
    /// When the student first committed to these bytes (this size and SHA-256) for the
    /// assignment, if they did.
    pub committed_at: Option<SystemTime>,
}

/// The transaction recording a batch of submissions (or one commitment): reads see what it
/// wrote so far, and the log's entries are appended in it ([`log`](BoardTx::log)). Dropped
/// without [`commit`](BoardTx::commit), it is rolled back.
pub trait BoardTx {
    /// One assignment, as it is now.
    fn assignment(
        &mut self,
        course: &str,
        assignment: &str,
    ) -> Result<Option<Assignment>, StoreError>;
    /// What `student` stores for `course`/`assignment`, this transaction's records included.
    fn usage(
        &mut self,
        student: &StudentId,
        course: &str,
        assignment: &str,
    ) -> Result<Usage, StoreError>;
    /// The student's extension on `course`/`assignment`, if one was granted.
    fn extension(
        &mut self,
        course: &str,
        assignment: &str,
        student: &StudentId,
    ) -> Result<Option<SystemTime>, StoreError>;
    /// How many submissions of `file_name` `student` stores for `course`/`assignment`.
    fn versions(
        &mut self,
        student: &StudentId,
        course: &str,
        assignment: &str,
        file_name: &str,
    ) -> Result<u32, StoreError>;
    /// When `student` first committed to a file of `size` bytes with this SHA-256 for
    /// `course`/`assignment`, if they did.
    fn earliest_commitment(
        &mut self,
        student: &StudentId,
        course: &str,
        assignment: &str,
        size: u64,
        sha256: &[u8; 32],
    ) -> Result<Option<SystemTime>, StoreError>;
    /// Everything recording `student`'s `file_name` (of `size` bytes with this SHA-256) for
    /// `course`/`assignment` reads, at once (a store over a network answers it in one round
    /// trip).
    fn record_facts(
        &mut self,
        student: &StudentId,
        course: &str,
        assignment: &str,
        file_name: &str,
        size: u64,
        sha256: &[u8; 32],
    ) -> Result<RecordFacts, StoreError> {
        Ok(RecordFacts {
            assignment: self.assignment(course, assignment)?,
            usage: self.usage(student, course, assignment)?,
            versions: self.versions(student, course, assignment, file_name)?,
            extension: self.extension(course, assignment, student)?,
            committed_at: self.earliest_commitment(student, course, assignment, size, sha256)?,
        })
    }
    /// Records a submission.
    fn insert(&mut self, submission: &StoredSubmission) -> Result<(), StoreError>;
    /// Records a commitment (in a transaction of its own: one commitment, one log entry).
    fn insert_commitment(&mut self, commitment: &CommitmentRecord) -> Result<(), StoreError>;
    /// Blackboard's log, appended to in this transaction.
    fn log(&mut self) -> &mut dyn LogTx;
    /// Commits everything recorded.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// A person's enrollment code as the roster keeps it: only a salted hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    /// The salt.
    pub salt: Vec<u8>,
    /// SHA-256 of the salt and the normalized code.
    pub hash: Vec<u8>,
    /// It was redeemed.
    pub used: bool,
}

/// One certificate CUHK issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedRecord {
    /// The serial, upper-case hex without leading zeros (as `openssl x509 -serial` shows it).
    pub serial_hex: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// When CUHK issued it.
    pub issued_at: SystemTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<SystemTime>,
}

/// One person on CUHK's roster, as `cuhk roster list` shows it (codes are never shown again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The student ID or staff login.
    pub person: PersonId,
    /// When they were put on the roster (or given their latest code).
    pub added_at: SystemTime,
    /// When their code was used, if it was: they enrolled.
    pub enrolled_at: Option<SystemTime>,
    /// Certificates issued to them.
    pub certificates: u64,
    /// Of those, revoked.
    pub revoked: u64,
}

/// What a decision on an application reads.
pub trait RegistrarView {
    /// The person's code, if they are on the roster.
    fn code(&mut self, person: &PersonId) -> Result<Option<CodeRecord>, StoreError>;
    /// The standing of the person's certificate with this serial, if it is on record.
    fn certificate(
        &mut self,
        person: &PersonId,
        serial_hex: &str,
    ) -> Result<Option<CertStanding>, StoreError>;
}

/// The transaction deciding a batch of applications. Dropped without
/// [`commit`](RegistrarTx::commit), it is rolled back.
pub trait RegistrarTx: RegistrarView {
    /// Records a certificate issued to `person`.
    fn record_certificate(
        &mut self,
        person: &PersonId,
        record: &IssuedRecord,
    ) -> Result<(), StoreError>;
    /// Marks the person's unused code used at `now`; fails (and the batch with it) if the code
    /// was used already, by another node or earlier in this transaction, or the person is not
    /// on the roster.
    fn mark_code_used(&mut self, person: &PersonId, now: SystemTime) -> Result<(), StoreError>;
    /// CUHK's log, appended to in this transaction.
    fn log(&mut self) -> &mut dyn LogTx;
    /// Commits every decision.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Opens read-only views of the registrar's last committed records, for checking applications
/// without waiting for the writer.
pub type ViewOpener =
    std::sync::Arc<dyn Fn() -> Result<Box<dyn RegistrarView + Send>, StoreError> + Send + Sync>;

/// What [`RegistrarRecords::revoke_person`] calls, in its transaction, with the serials it
/// revoked: it appends to the log (an error rolls the revocation back).
pub type RevocationLog<'a> = dyn FnMut(&mut dyn LogTx, &[String]) -> Result<(), StoreError> + 'a;

/// CUHK's records: roster and codes, issued certificates, revocations, the CRL number, and
/// the log ([`LogRecords`]).
///
/// The roster holds students (by student ID) and members of staff (by staff login), and keeps
/// which is which: a record is found only by the very [`PersonId`] it was added as.
pub trait RegistrarRecords: LogRecords + Send + fmt::Debug {
    /// Puts the person on the roster with a new code (its salt and hash), replacing any
    /// earlier code.
    fn put_person(
        &mut self,
        person: &PersonId,
        salt: &[u8],
        hash: &[u8],
        now: SystemTime,
    ) -> Result<(), StoreError>;
    /// Starts the transaction in which a batch of applications is decided.
    fn begin(&mut self) -> Result<Box<dyn RegistrarTx + '_>, StoreError>;
    /// Marks every unrevoked certificate of the person revoked at `now`, in one transaction;
    /// `None` if they are not on the roster (and `log` is not called).
    ///
    /// In that transaction, after marking, `log` is called with the serials of the
    /// certificates this call revoked (upper-case hex as [`IssuedRecord::serial_hex`], in the
    /// order they were issued; called even when there are none); an error from it rolls the
    /// revocation back and is returned.
    fn revoke_person(
        &mut self,
        person: &PersonId,
        now: SystemTime,
        log: &mut RevocationLog<'_>,
    ) -> Result<Option<usize>, StoreError>;
    /// Every revoked certificate, oldest revocation first.
    fn revoked(&self) -> Result<Vec<RevokedSerial>, StoreError>;
    /// Increments and returns the CRL number (1 the first time).
    fn next_crl_number(&mut self) -> Result<u64, StoreError>;
    /// The certificates issued to a person, oldest first.
    fn issued(&self, person: &PersonId) -> Result<Vec<IssuedRecord>, StoreError>;
    /// Whether the person is on the roster.
    fn on_roster(&self, person: &PersonId) -> Result<bool, StoreError>;
    /// Puts several people on the roster with their codes (salt, hash), all or none.
    fn put_people(
        &mut self,
        people: &[(PersonId, Vec<u8>, Vec<u8>)],
        now: SystemTime,
    ) -> Result<(), StoreError>;
    /// Everyone on the roster, by ID, with whether and when they enrolled.
    fn roster(&self) -> Result<Vec<RosterEntry>, StoreError>;
    /// How to open read-only views of the committed records, if the store has them.
    fn views(&self) -> Option<ViewOpener>;
    /// Keeps `pem`, the CRL signed with number `number`, if it is the latest: of all the CRLs
    /// put, only the one with the highest number is kept.
    fn put_crl(&mut self, number: u64, pem: &[u8]) -> Result<(), StoreError>;
    /// The latest CRL kept (the one with the highest number) and its number, if any.
    fn latest_crl(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError>;
    /// A handle reading the log's committed state, usable from other threads while this
    /// store writes (its own connection).
    fn log_reader(&self) -> Result<Arc<dyn LogRecords + Send + Sync>, StoreError>;
}

/// Wrong-code throttling state shared by every CUHK node (one row per source address).
pub trait ThrottleRecords: Send + Sync + fmt::Debug {
    /// When the source's count of wrong codes is back to zero, if it is remembered.
    fn until(&self, source: &str) -> Result<Option<SystemTime>, StoreError>;
    /// Atomically sets the source's time to max(its time, now) + interval; returns it.
    fn push(
        &self,
        source: &str,
        now: SystemTime,
        interval: Duration,
    ) -> Result<SystemTime, StoreError>;
    /// Forgets sources whose time is before `now`; returns how many.
    fn forget_before(&self, now: SystemTime) -> Result<usize, StoreError>;
}
