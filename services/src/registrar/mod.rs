//! CUHK's records and decisions: the roster of students and members of staff and their
//! one-time enrollment codes, the certificates issued to them, their revocations, and the CRL
//! number.
//!
//! Everyone on the roster is a [`PersonId`]: a student (a student ID) or a member of staff (a
//! staff login). The rules are the same for both; the roster keeps which is which.
//!
//! The records sit behind [`RegistrarRecords`] (one SQLite file, `PKI/cuhk.db`, by default);
//! the decisions are the core's rules ([`handin_core::rules::enrollment`]), applied here.
//! Signing is not done here: [`Registrar::redeem`] and [`Registrar::renew`] take a closure that
//! signs, and record what it returns in the same transaction that spends the code.
//! [`Registrar::decide`] does the same for a whole batch of applications in one transaction
//! (group commit), and [`RegistrarReader`] checks an application against the committed records
//! beforehand, so that certificates can be signed before the batch is decided.

mod codes;
#[cfg(test)]
mod staff_tests;
#[cfg(test)]
mod tests;

pub use handin_core::rules::enrollment::WRONG_CODE;

use crate::store::sqlite::{SqliteRegistrar, SqliteRegistrarView};
use crate::store::LogTx;
use crate::store::{
    LogRecords, RegistrarRecords, RegistrarTx, RegistrarView, RevocationLog, StoreError, ViewOpener,
};
use crate::translog::{LogBatch, LogWriter};
use codes::{code_hash, new_code, SALT_LEN};
use handin_core::logs::{certificates_origin, LogEntry, Revocation};
use handin_core::pki::{
    person_of, serial_hex, unix_secs, PersonId, PkiError, RevokedSerial, StudentId,
};
use handin_core::rules::enrollment::{self, normalize_code, CodeStanding};
use handin_core::rustls::pki_types::CertificateDer;
use handin_core::{Refusal, RefusalCode};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use crate::store::IssuedRecord;

/// What a code is compared with when its ID is not on the roster, so that it costs the same as
/// a real one.
const NO_SALT: [u8; SALT_LEN] = [0; SALT_LEN];

/// What went wrong in the registrar.
#[derive(Debug, thiserror::Error)]
pub enum RegistrarError {
    /// The request is refused; send this to the peer.
    #[error("refused: {}", .0.reason)]
    Refused(Refusal),
    /// An operator named a student or member of staff who is not on the roster.
    #[error("{}", not_on_roster(.0))]
    NotOnRoster(PersonId),
    /// The database could not be read or written.
    #[error(
        "registrar database: {what}: {source}; check that the file is a handin registrar \
         database on a writable disk"
    )]
    Database {
        /// What was being done.
        what: String,
        /// The database's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database holds something this version does not understand.
    #[error("registrar database: {0}; restore it from a backup or use a newer handin")]
    BadDatabase(String),
    /// [`Registrar::open`] found no database: a typo in a path must not make a new empty
    /// roster. [`Registrar::create`] makes one.
    #[error("there is no registrar database at {}: `cuhk init` makes one; check the path (or give --db, if the records are in PostgreSQL)", .0.display())]
    Missing(std::path::PathBuf),
    /// The system random number generator failed.
    #[error("the system random number generator failed; check the operating system")]
    Random,
}

impl RegistrarError {
    /// The refusal to send to a peer for this error: the refusal itself, or `Internal`.
    pub fn refusal(&self) -> Refusal {
        match self {
            Self::Refused(r) => r.clone(),
            Self::NotOnRoster(id) => Refusal::new(
                RefusalCode::UnknownStudent,
                format!(
                    "{} {id} is not on the roster; ask CUHK to add you",
                    id.kind()
                ),
            ),
            _ => Refusal::new(
                RefusalCode::Internal,
                "CUHK could not update its records; try again later",
            ),
        }
    }
}

impl From<StoreError> for RegistrarError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database { what, source } => Self::Database { what, source },
            StoreError::BadDatabase(m) => Self::BadDatabase(m),
        }
    }
}

/// The words of [`RegistrarError::NotOnRoster`]: what the operator runs to add them.
fn not_on_roster(id: &PersonId) -> String {
    let flag = if id.staff().is_some() { " --staff" } else { "" };
    format!(
        "{} {id} is not on the roster; add them first with `cuhk roster add{flag}`",
        id.kind()
    )
}

fn refused(code: RefusalCode, reason: impl Into<String>) -> RegistrarError {
    RegistrarError::Refused(Refusal::new(code, reason))
}

/// What a student or member of staff asks CUHK to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A first certificate, against a one-time enrollment code (as typed).
    Enroll {
        /// The code.
        code: String,
    },
    /// A new certificate, from someone holding the certificate with this serial.
    Renew {
        /// The serial of the certificate they authenticated with.
        serial: Vec<u8>,
    },
}

/// One application, as [`Registrar::decide`] takes it.
#[derive(Debug, Clone)]
pub struct Application {
    /// Who applies: a student ID or a staff login.
    pub person: PersonId,
    /// For what.
    pub request: Request,
    /// When (the record's `issued_at`, a renewal's validity check).
    pub now: SystemTime,
    /// A certificate signed before the decision (after [`RegistrarReader::would_accept`]), to
    /// record if the application is accepted; `None` to have the decision sign.
    pub signed: Option<CertificateDer<'static>>,
}

/// A certificate recorded by [`Registrar::decide`].
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate.
    pub cert: CertificateDer<'static>,
    /// Its record, as [`Registrar::issued`] will list it.
    pub record: IssuedRecord,
}

/// CUHK's records.
///
/// # Enrollment codes
///
/// [`Registrar::add_person`] (or [`Registrar::add_student`]) gives a student or a member of
/// staff a new one-time code of 16 characters from an alphabet without look-alikes, shown as
/// `XXXX-XXXX-XXXX-XXXX`. Only a salted SHA-256 of it is stored. When checking, case, dashes
/// and white space do not matter.
///
/// # Staff
///
/// A member of staff is on the roster by staff login and enrolls, renews and is revoked
/// exactly as a student is; the certificate then carries the login. Which IDs are logins is
/// kept with the roster, and an application is judged against the record of the very kind of
/// ID it names.
///
/// # Wrong codes
///
/// A wrong code, and any code for an ID that is not on the roster, is refused with `BadCode`
/// and the same words ([`WRONG_CODE`]), after the same work (a salted hash and a constant-time
/// comparison), and writes nothing: the refusal does not tell whether the ID is on the roster.
/// Nothing is counted per student ID, so nobody can lock a student out or spend their code by
/// sending wrong codes for their ID: guessing is throttled per client address and per
/// connection by the enrollment service (`cuhk::throttle`). The same goes for staff logins: the
/// refusal does not tell whether a login is on the roster either.
///
/// A code is single use: once redeemed, the right code again is refused with `CodeUsed` (a wrong
/// one still gets `BadCode`).
#[derive(Debug)]
pub struct Registrar {
    records: Box<dyn RegistrarRecords>,
    log: Arc<LogWriter>,
}

impl Registrar {
    /// Opens the registrar's SQLite database at `path`, made by [`Registrar::create`]; refuses
    /// ([`RegistrarError::Missing`]) if there is none.
    pub fn open(path: &Path) -> Result<Self, RegistrarError> {
        if path.symlink_metadata().is_err() {
            return Err(RegistrarError::Missing(path.to_path_buf()));
        }
        Self::create(path)
    }

    /// Opens the registrar's SQLite database at `path`, creating it and its schema if missing.
    pub fn create(path: &Path) -> Result<Self, RegistrarError> {
        Ok(Self::with_records(Box::new(SqliteRegistrar::open(path)?)))
    }

    /// A registrar over any records, with a log key of its own (not kept: for tests; see
    /// [`Registrar::with_log`]).
    pub fn with_records(records: Box<dyn RegistrarRecords>) -> Self {
        let signer = handin_core::tlog::NoteSigner::generate(&certificates_origin(
            &crate::translog::host_name(),
        ))
        .expect("an Ed25519 key from the system's randomness");
        Self {
            records,
            log: Arc::new(LogWriter::new(signer)),
        }
    }

    /// Logs with this key: every certificate issued and every revocation is appended to the
    /// records' log, in the transaction that records it.
    pub fn with_log(mut self, log: Arc<LogWriter>) -> Self {
        self.log = log;
        self
    }

    /// Appends a certificate CUHK issued outside enrollment (a server certificate) to the log,
    /// in a transaction of its own; it must be logged before it is handed out.
    pub fn log_certificate(&mut self, der: &[u8]) -> Result<u64, RegistrarError> {
        let mut tx = self.records.begin()?;
        let mut batch = self.log.start(tx.log())?;
        let index = batch.push(LogEntry::Certificate(der.to_vec()).encode());
        batch.finish(tx.log())?;
        tx.commit()?;
        Ok(index)
    }

    /// The records (for reading the log before choosing its key).
    pub fn records(&self) -> &dyn RegistrarRecords {
        self.records.as_ref()
    }

    /// The log's writer (key, origin, verifier key).
    pub fn log(&self) -> &Arc<LogWriter> {
        &self.log
    }

    /// A read handle on the log for other threads (serving it).
    pub fn log_reader(&self) -> Result<Arc<dyn LogRecords + Send + Sync>, RegistrarError> {
        Ok(self.records.log_reader()?)
    }

    /// How to open read-only views of the committed records, for [`RegistrarReader`]s.
    pub fn views(&self) -> Option<ViewOpener> {
        self.records.views()
    }

    /// Puts a student or member of staff on the roster with a new one-time code, replacing
    /// any earlier code, and returns the code (`XXXX-XXXX-XXXX-XXXX`).
    pub fn add_person(
        &mut self,
        id: &(impl Clone + Into<PersonId>),
        now: SystemTime,
    ) -> Result<String, RegistrarError> {
        let id: PersonId = id.clone().into();
        let (code, salt) = new_code()?;
        let hash = code_hash(&salt, &normalize_code(&code));
        self.records.put_person(&id, &salt, &hash, now)?;
        Ok(code)
    }

    /// Puts everyone in `people` who is not on the roster yet on it, each with a new one-time
    /// code, all in one transaction; returns those added with their codes, in order. People
    /// already on the roster keep their code (give one a new code with
    /// [`Registrar::add_person`]), so an import can be run again after adding rows.
    pub fn import(
        &mut self,
        people: &[PersonId],
        now: SystemTime,
    ) -> Result<Vec<(PersonId, String)>, RegistrarError> {
        let mut rows = Vec::new();
        let mut added = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for id in people {
            if !seen.insert(id.clone()) || self.records.on_roster(id)? {
                continue;
            }
            let (code, salt) = new_code()?;
            let hash = code_hash(&salt, &normalize_code(&code));
            rows.push((id.clone(), salt.to_vec(), hash.to_vec()));
            added.push((id.clone(), code));
        }
        self.records.put_people(&rows, now)?;
        Ok(added)
    }

    /// Everyone on the roster, students first, by ID.
    pub fn roster(&self) -> Result<Vec<crate::store::RosterEntry>, RegistrarError> {
        Ok(self.records.roster()?)
    }

    /// [`Registrar::add_person`] for a student.
    pub fn add_student(
        &mut self,
        id: &StudentId,
        now: SystemTime,
    ) -> Result<String, RegistrarError> {
        self.add_person(id, now)
    }

    /// Redeems a one-time code and, if it is right, has `sign` issue the certificate.
    ///
    /// In one transaction: `id` (a student ID or staff login) must be on the roster and the
    /// code right (else `BadCode`, the same refusal for both), and the code unused
    /// (`CodeUsed`). Then `sign` runs (a failure is refused as `Internal` and changes nothing),
    /// the certificate is recorded, the code is marked used.
    pub fn redeem(
        &mut self,
        id: &(impl Clone + Into<PersonId>),
        code: &str,
        now: SystemTime,
        sign: impl FnOnce() -> Result<CertificateDer<'static>, PkiError>,
    ) -> Result<CertificateDer<'static>, RegistrarError> {
        let request = Request::Enroll {
            code: code.to_owned(),
        };
        self.decide_one(id.clone().into(), request, now, sign)
    }

    /// Records a renewal: `id` must hold an unrevoked, unexpired certificate with serial
    /// `current_serial` (else `NotAuthenticated`, `Revoked` or `Expired`); then `sign` runs and
    /// the new certificate is recorded, in one transaction. The old certificate stays valid
    /// until it expires.
    pub fn renew(
        &mut self,
        id: &(impl Clone + Into<PersonId>),
        current_serial: &[u8],
        now: SystemTime,
        sign: impl FnOnce() -> Result<CertificateDer<'static>, PkiError>,
    ) -> Result<CertificateDer<'static>, RegistrarError> {
        let request = Request::Renew {
            serial: current_serial.to_vec(),
        };
        self.decide_one(id.clone().into(), request, now, sign)
    }

    fn decide_one(
        &mut self,
        id: PersonId,
        request: Request,
        now: SystemTime,
        sign: impl FnOnce() -> Result<CertificateDer<'static>, PkiError>,
    ) -> Result<CertificateDer<'static>, RegistrarError> {
        let application = Application {
            person: id,
            request,
            now,
            signed: None,
        };
        let mut sign = Some(sign);
        let mut outcomes =
            self.decide(std::slice::from_ref(&application), |_| match sign.take() {
                Some(sign) => sign(),
                None => Err(PkiError("asked to sign twice".into())),
            })?;
        match outcomes.pop() {
            Some(Ok(issued)) => Ok(issued.cert),
            Some(Err(refusal)) => Err(RegistrarError::Refused(refusal)),
            None => Err(RegistrarError::BadDatabase(
                "a decision went missing".into(),
            )),
        }
    }

    /// Decides a batch of applications and records every decision in ONE transaction (group
    /// commit): one write to the disk for the whole batch.
    ///
    /// Each application is judged by the same rules as [`Registrar::redeem`] and
    /// [`Registrar::renew`], in order, against the records as the earlier applications of the
    /// batch left them (two uses of one code: the first wins, the second is refused as
    /// `CodeUsed`). Every check runs before anything is written for an application, so a
    /// refusal (unknown student or wrong code, used code, revoked or expired certificate, a
    /// signing failure) touches only that application and writes nothing. An accepted
    /// application without a certificate signed beforehand has `sign(i)` sign it; a certificate
    /// signed beforehand is recorded only if it names the applicant.
    ///
    /// Returns one outcome per application, in order, only once the transaction committed. A
    /// database error anywhere rolls the whole batch back and is returned instead: nothing was
    /// recorded and no certificate of the batch may be handed out.
    pub fn decide(
        &mut self,
        applications: &[Application],
        mut sign: impl FnMut(usize) -> Result<CertificateDer<'static>, PkiError>,
    ) -> Result<Vec<Result<Issued, Refusal>>, RegistrarError> {
        let n = applications.len();
        let mut tx = self.records.begin()?;
        let mut log = self.log.start(tx.log())?;
        let mut outcomes = Vec::with_capacity(n);
        for (i, application) in applications.iter().enumerate() {
            let outcome = check(tx.as_mut(), application).and_then(|()| {
                record(tx.as_mut(), &mut log, application, || {
                    match &application.signed {
                        Some(cert) => Ok(cert.clone()),
                        None => sign(i),
                    }
                })
            });
            outcomes.push(match outcome {
                Ok(issued) => Ok(issued),
                Err(RegistrarError::Refused(refusal)) => Err(refusal),
                Err(RegistrarError::Database { what, source }) => {
                    return Err(RegistrarError::Database {
                        what: format!("{what} (the batch of {n} was rolled back)"),
                        source,
                    });
                }
                Err(e) => return Err(e),
            });
        }
        // Every certificate of the batch in the log, under one checkpoint, in this transaction.
        log.finish(tx.log())?;
        tx.commit().map_err(|e| match e {
            StoreError::Database { source, .. } => RegistrarError::Database {
                what: format!("committing a batch of {n} application(s) (nothing was recorded)"),
                source,
            },
            other => other.into(),
        })?;
        Ok(outcomes)
    }

    /// Marks every unrevoked certificate of a student or member of staff revoked at `now` and
    /// returns how many ([`RegistrarError::NotOnRoster`] if they are not on the roster).
    ///
    /// In the same transaction, `log` is called with the serials revoked (possibly none) to
    /// append them to CUHK's log; its error undoes the revocation
    /// ([`RegistrarRecords::revoke_person`]).
    ///
    /// Each revocation is appended to the log in the same transaction.
    pub fn revoke_person(
        &mut self,
        id: &(impl Clone + Into<PersonId>),
        now: SystemTime,
    ) -> Result<usize, RegistrarError> {
        let id: PersonId = id.clone().into();
        let writer = self.log.clone();
        let person = id.as_str().to_owned();
        let revoked_at = unix_secs(now);
        let mut log: Box<RevocationLog<'_>> =
            Box::new(move |tx: &mut dyn LogTx, serials: &[String]| {
                let mut batch = writer.start(tx)?;
                for serial_hex in serials {
                    batch.push(
                        LogEntry::Revocation(Revocation {
                            person: person.clone(),
                            serial_hex: serial_hex.clone(),
                            revoked_at,
                        })
                        .encode(),
                    );
                }
                batch.finish(tx).map(|_| ())
            });
        self.records
            .revoke_person(&id, now, log.as_mut())?
            .ok_or(RegistrarError::NotOnRoster(id))
    }

    /// [`Registrar::revoke_person`] for a student.
    pub fn revoke_student(
        &mut self,
        id: &StudentId,
        now: SystemTime,
    ) -> Result<usize, RegistrarError> {
        self.revoke_person(id, now)
    }

    /// Every revoked certificate, oldest revocation first, for [`handin_core::pki::Ca::crl`].
    pub fn revoked(&self) -> Result<Vec<RevokedSerial>, RegistrarError> {
        Ok(self.records.revoked()?)
    }

    /// Increments and returns the CRL number (1 the first time; persisted).
    pub fn next_crl_number(&mut self) -> Result<u64, RegistrarError> {
        Ok(self.records.next_crl_number()?)
    }

    /// Keeps the signed CRL numbered `number` as the latest (for every node to serve).
    pub fn put_crl(&mut self, number: u64, pem: &[u8]) -> Result<(), RegistrarError> {
        Ok(self.records.put_crl(number, pem)?)
    }

    /// The latest signed CRL kept, with its number.
    pub fn latest_crl(&self) -> Result<Option<(u64, Vec<u8>)>, RegistrarError> {
        Ok(self.records.latest_crl()?)
    }

    /// The certificates issued to a student or member of staff, oldest first.
    pub fn issued(
        &self,
        id: &(impl Clone + Into<PersonId>),
    ) -> Result<Vec<IssuedRecord>, RegistrarError> {
        Ok(self.records.issued(&id.clone().into())?)
    }

    /// Whether a student or member of staff is on the roster (as that kind of ID).
    pub fn on_roster(&self, id: &(impl Clone + Into<PersonId>)) -> Result<bool, RegistrarError> {
        Ok(self.records.on_roster(&id.clone().into())?)
    }
}

/// A read-only view of the registrar, for checking an application against the last committed
/// records without waiting for the writer (so that only applications that would pass are
/// signed before the decision). Its answer is advice: [`Registrar::decide`] checks again and
/// decides.
pub struct RegistrarReader {
    view: Box<dyn RegistrarView + Send>,
}

impl std::fmt::Debug for RegistrarReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistrarReader")
    }
}

impl RegistrarReader {
    /// Opens the existing SQLite registrar database at `path` for reading.
    pub fn open(path: &Path) -> Result<Self, RegistrarError> {
        Ok(Self::with_view(Box::new(SqliteRegistrarView::open(path)?)))
    }

    /// A reader over any view of the records.
    pub fn with_view(view: Box<dyn RegistrarView + Send>) -> Self {
        Self { view }
    }

    /// Whether `application` would be accepted by the records as last committed. A wrong
    /// code or any other refusal is `false`; only a database failure is an error.
    pub fn would_accept(&mut self, application: &Application) -> Result<bool, RegistrarError> {
        match check(self.view.as_mut(), application) {
            Ok(()) => Ok(true),
            Err(RegistrarError::Refused(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Judges an application against the records as `view` sees them, without writing anything:
/// `Ok` if every rule passes (sign, if not done yet, and record), else the refusal (unknown
/// ID or wrong code, used code, a revoked, expired or unknown certificate) as
/// [`RegistrarError::Refused`].
fn check(view: &mut dyn RegistrarView, application: &Application) -> Result<(), RegistrarError> {
    let id = &application.person;
    let verdict = match &application.request {
        Request::Enroll { code } => {
            let row = view.code(id)?;
            // An unknown ID gets the same work and the same answer as a wrong code.
            let known = row.is_some();
            let (salt, hash, used) = match row {
                Some(r) => (r.salt, r.hash, r.used),
                None => (NO_SALT.to_vec(), vec![0; 32], false),
            };
            let matches = codes::same(&code_hash(&salt, &normalize_code(code)), &hash);
            enrollment::judge_code(CodeStanding {
                matches: known && matches,
                used,
            })
        }
        Request::Renew { serial } => {
            let serial = serial_hex(serial);
            let standing = view.certificate(id, &serial)?;
            enrollment::judge_renewal(id, &serial, standing, unix_secs(application.now))
        }
    };
    verdict.map_err(RegistrarError::Refused)
}

/// Gets the certificate from `sign`, checks that it is this applicant's (the same ID, of the
/// same kind), records it, and for an enrollment marks the code used. Nothing is written unless
/// every check passed.
fn record(
    tx: &mut dyn RegistrarTx,
    log: &mut LogBatch<'_>,
    application: &Application,
    sign: impl FnOnce() -> Result<CertificateDer<'static>, PkiError>,
) -> Result<Issued, RegistrarError> {
    let id = &application.person;
    let internal = |what: String| {
        refused(
            RefusalCode::Internal,
            format!("CUHK could not issue your certificate ({what}); try again later"),
        )
    };
    let cert = sign().map_err(|e| internal(e.to_string()))?;
    let (cert_id, info) = person_of(&cert).map_err(|e| internal(e.to_string()))?;
    if &cert_id != id {
        return Err(internal(format!(
            "the signed certificate names {} {cert_id}, not {id}",
            cert_id.kind()
        )));
    }
    let record = IssuedRecord {
        serial_hex: serial_hex(&info.serial),
        not_before: to_second(info.not_before),
        not_after: to_second(info.not_after),
        issued_at: to_second(application.now),
        revoked_at: None,
    };
    tx.record_certificate(id, &record)?;
    if let Request::Enroll { .. } = application.request {
        tx.mark_code_used(id, application.now)?;
    }
    log.push(LogEntry::Certificate(cert.to_vec()).encode());
    Ok(Issued { cert, record })
}

/// `t` to the second, as the records keep it.
fn to_second(t: SystemTime) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(unix_secs(t))
}
