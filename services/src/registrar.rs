//! CUHK's records: the roster of students and their one-time enrollment codes, the certificates
//! issued to them, their revocations, and the CRL number.
//!
//! Everything lives in one SQLite file (`PKI/cuhk.db`). Every change that touches more than one
//! row runs in one transaction, so a crash leaves either the old records or the new ones.
//! Signing is not done here: [`Registrar::redeem`] and [`Registrar::renew`] take a closure that
//! signs, and record what it returns in the same transaction that spends the code.
//! [`Registrar::decide`] does the same for a whole batch of applications in one transaction
//! (group commit), and [`RegistrarReader`] checks an application against the committed records
//! beforehand, so that certificates can be signed before the batch is decided.

use crate::sqlite::{self, SqliteOpenError};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use handin_core::pki::{serial_hex, student_id_of, unix_secs, PkiError, RevokedSerial, StudentId};
use handin_core::rustls::pki_types::CertificateDer;
use handin_core::{Refusal, RefusalCode};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The characters of an enrollment code: no `0`/`O`, `1`/`I`/`L` to misread.
const CODE_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in an enrollment code (without the dashes).
const CODE_LEN: usize = 16;
const SALT_LEN: usize = 16;
const SCHEMA_VERSION: i64 = 1;
/// The refusal of a wrong code, and of a student ID that is not on the roster: the same words,
/// so that the answer does not tell who is on the roster.
pub const WRONG_CODE: &str =
    "wrong enrollment code, or a student ID CUHK does not know: check both and try again";
/// What an unknown student ID's code is hashed with, so that it costs the same as a real one.
const NO_SALT: [u8; SALT_LEN] = [0; SALT_LEN];

// `roster.failures` and `roster.last_failure_at` are no longer written (wrong codes are not
// counted per student ID); they stay so that existing databases keep their schema version.
const SCHEMA: &str = "
CREATE TABLE roster (
    student_id      TEXT PRIMARY KEY NOT NULL,
    added_at        INTEGER NOT NULL,
    code_salt       BLOB NOT NULL,
    code_hash       BLOB NOT NULL,
    code_used_at    INTEGER,
    failures        INTEGER NOT NULL DEFAULT 0,
    last_failure_at INTEGER
) STRICT;
CREATE TABLE certificates (
    serial     TEXT PRIMARY KEY NOT NULL,
    student_id TEXT NOT NULL REFERENCES roster(student_id),
    not_before INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    issued_at  INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX certificates_by_student ON certificates(student_id);
CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) STRICT;
";

/// What went wrong in the registrar.
#[derive(Debug, thiserror::Error)]
pub enum RegistrarError {
    /// The request is refused; send this to the peer.
    #[error("refused: {}", .0.reason)]
    Refused(Refusal),
    /// An operator named a student who is not on the roster.
    #[error("student {0} is not on the roster; add them first with `cuhk roster add`")]
    NotOnRoster(StudentId),
    /// The database could not be read or written.
    #[error(
        "registrar database: {what}: {source}; check that the file is a handin registrar \
         database on a writable disk"
    )]
    Database {
        /// What was being done.
        what: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The database holds something this version does not understand.
    #[error("registrar database: {0}; restore it from a backup or use a newer handin")]
    BadDatabase(String),
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
                format!("student {id} is not on the roster; ask CUHK to add you"),
            ),
            _ => Refusal::new(
                RefusalCode::Internal,
                "CUHK could not update its records; try again later",
            ),
        }
    }
}

impl From<SqliteOpenError> for RegistrarError {
    fn from(e: SqliteOpenError) -> Self {
        match e {
            SqliteOpenError::Database { what, source } => Self::Database { what, source },
            SqliteOpenError::BadDatabase(m) => Self::BadDatabase(m),
        }
    }
}

/// Wraps a SQLite error with what was being done (made into a `String` only on error).
fn db(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> RegistrarError {
    move |source| RegistrarError::Database {
        what: what.into(),
        source,
    }
}

fn refused(code: RefusalCode, reason: impl Into<String>) -> RegistrarError {
    RegistrarError::Refused(Refusal::new(code, reason))
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

/// What a student asks CUHK to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A first certificate, against a one-time enrollment code (as typed).
    Enroll {
        /// The code.
        code: String,
    },
    /// A new certificate, from a student holding the certificate with this serial.
    Renew {
        /// The serial of the certificate the student authenticated with.
        serial: Vec<u8>,
    },
}

/// One student's application, as [`Registrar::decide`] takes it.
#[derive(Debug, Clone)]
pub struct Application {
    /// Who applies.
    pub student: StudentId,
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

/// CUHK's records, in one SQLite database.
///
/// # Enrollment codes
///
/// [`Registrar::add_student`] gives a student a new one-time code of 16 characters from an
/// alphabet without look-alikes, shown as `XXXX-XXXX-XXXX-XXXX`. Only a salted SHA-256 of it
/// is stored. When checking, case, dashes and white space do not matter.
///
/// # Wrong codes
///
/// A wrong code, and any code for an ID that is not on the roster, is refused with `BadCode`
/// and the same words ([`WRONG_CODE`]), after the same work (a salted hash and a constant-time
/// comparison), and writes nothing: the refusal does not tell whether the ID is on the roster.
/// Nothing is counted per student ID, so nobody can lock a student out or spend their code by
/// sending wrong codes for their ID: guessing is throttled per client address and per
/// connection by the enrollment service (`cuhk::throttle`).
///
/// A code is single use: once redeemed, the right code again is refused with `CodeUsed` (a wrong
/// one still gets `BadCode`).
#[derive(Debug)]
pub struct Registrar {
    conn: Connection,
}

impl Registrar {
    /// Opens the registrar database at `path`, creating it and its schema if missing.
    pub fn open(path: &Path) -> Result<Self, RegistrarError> {
        let conn = sqlite::open(path, SCHEMA, SCHEMA_VERSION)?;
        Ok(Self { conn })
    }

    /// The database file, for opening a [`RegistrarReader`] on it.
    pub fn path(&self) -> Option<PathBuf> {
        self.conn
            .path()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    }

    /// Puts the student on the roster with a new one-time code, replacing any earlier code and
    /// resetting the count of wrong attempts, and returns the code (`XXXX-XXXX-XXXX-XXXX`).
    pub fn add_student(
        &mut self,
        id: &StudentId,
        now: SystemTime,
    ) -> Result<String, RegistrarError> {
        let rng = SystemRandom::new();
        let code = new_code(&rng)?;
        let mut salt = [0u8; SALT_LEN];
        rng.fill(&mut salt).map_err(|_| RegistrarError::Random)?;
        let hash = code_hash(&salt, &normalize_code(&code));
        self.conn
            .execute(
                "INSERT INTO roster (student_id, added_at, code_salt, code_hash)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (student_id) DO UPDATE SET
                     code_salt = excluded.code_salt, code_hash = excluded.code_hash,
                     code_used_at = NULL, failures = 0, last_failure_at = NULL",
                params![id.as_str(), secs(now), &salt[..], &hash[..]],
            )
            .map_err(db(format!("adding student {id} to the roster")))?;
        Ok(code)
    }

    /// Redeems a one-time code and, if it is right, has `sign` issue the certificate.
    ///
    /// In one transaction: the student must be on the roster and the code right (else
    /// `BadCode`, the same refusal for both), and the code unused (`CodeUsed`). Then `sign` runs
    /// (a failure is refused as `Internal` and changes nothing), the certificate is recorded,
    /// the code is marked used.
    pub fn redeem(
        &mut self,
        id: &StudentId,
        code: &str,
        now: SystemTime,
        sign: impl FnOnce() -> Result<CertificateDer<'static>, PkiError>,
    ) -> Result<CertificateDer<'static>, RegistrarError> {
        let request = Request::Enroll {
            code: code.to_owned(),
        };
        self.decide_one(id, request, now, sign)
    }

    /// Records a renewal: the student must hold an unrevoked, unexpired certificate with serial
    /// `current_serial` (else `NotAuthenticated`, `Revoked` or `Expired`); then `sign` runs and
    /// the new certificate is recorded, in one transaction. The old certificate stays valid
    /// until it expires.
    pub fn renew(
        &mut self,
        id: &StudentId,
        current_serial: &[u8],
        now: SystemTime,
        sign: impl FnOnce() -> Result<CertificateDer<'static>, PkiError>,
    ) -> Result<CertificateDer<'static>, RegistrarError> {
        let request = Request::Renew {
            serial: current_serial.to_vec(),
        };
        self.decide_one(id, request, now, sign)
    }

    fn decide_one(
        &mut self,
        id: &StudentId,
        request: Request,
        now: SystemTime,
        sign: impl FnOnce() -> Result<CertificateDer<'static>, PkiError>,
    ) -> Result<CertificateDer<'static>, RegistrarError> {
        let application = Application {
            student: id.clone(),
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
    /// signed beforehand is recorded only if it names the student.
    ///
    /// Returns one outcome per application, in order, only once the transaction committed. A
    /// database error anywhere rolls the whole batch back and is returned instead: nothing was
    /// recorded and no certificate of the batch may be handed out.
    pub fn decide(
        &mut self,
        applications: &[Application],
        mut sign: impl FnMut(usize) -> Result<CertificateDer<'static>, PkiError>,
    ) -> Result<Vec<Result<Issued, Refusal>>, RegistrarError> {
        let tx = begin(&mut self.conn)?;
        let mut outcomes = Vec::with_capacity(applications.len());
        for (i, application) in applications.iter().enumerate() {
            let outcome = check(&tx, application).and_then(|()| {
                record(&tx, application, || match &application.signed {
                    Some(cert) => Ok(cert.clone()),
                    None => sign(i),
                })
            });
            outcomes.push(match outcome {
                Ok(issued) => Ok(issued),
                Err(RegistrarError::Refused(refusal)) => Err(refusal),
                Err(RegistrarError::Database { what, source }) => {
                    return Err(RegistrarError::Database {
                        what: format!(
                            "{what} (the batch of {} was rolled back)",
                            applications.len()
                        ),
                        source,
                    });
                }
                Err(e) => return Err(e),
            });
        }
        tx.commit().map_err(|source| RegistrarError::Database {
            what: format!(
                "committing a batch of {} application(s) (nothing was recorded)",
                applications.len()
            ),
            source,
        })?;
        Ok(outcomes)
    }

    /// Marks every unrevoked certificate of the student revoked at `now` and returns how many.
    pub fn revoke_student(
        &mut self,
        id: &StudentId,
        now: SystemTime,
    ) -> Result<usize, RegistrarError> {
        let tx = begin(&mut self.conn)?;
        if !on_roster(&tx, id)? {
            return Err(RegistrarError::NotOnRoster(id.clone()));
        }
        let n = tx
            .execute(
                "UPDATE certificates SET revoked_at = ?2
                 WHERE student_id = ?1 AND revoked_at IS NULL",
                params![id.as_str(), secs(now)],
            )
            .map_err(db(format!("revoking the certificates of {id}")))?;
        tx.commit()
            .map_err(db(format!("revoking the certificates of {id}")))?;
        Ok(n)
    }

    /// Every revoked certificate, oldest revocation first, for [`handin_core::pki::Ca::crl`].
    pub fn revoked(&self) -> Result<Vec<RevokedSerial>, RegistrarError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT serial, revoked_at FROM certificates
                 WHERE revoked_at IS NOT NULL ORDER BY revoked_at, serial",
            )
            .map_err(db("listing revoked certificates"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(db("listing revoked certificates"))?;
        let mut out = Vec::new();
        for row in rows {
            let (serial, at) = row.map_err(db("listing revoked certificates"))?;
            out.push(RevokedSerial {
                serial: decode_hex(&serial)?,
                revoked_at: time(at),
            });
        }
        Ok(out)
    }

    /// Increments and returns the CRL number (1 the first time; persisted).
    pub fn next_crl_number(&mut self) -> Result<u64, RegistrarError> {
        let n: i64 = self
            .conn
            .query_row(
                "INSERT INTO counters (name, value) VALUES ('crl_number', 1)
                 ON CONFLICT (name) DO UPDATE SET value = value + 1
                 RETURNING value",
                [],
                |r| r.get(0),
            )
            .map_err(db("incrementing the CRL number"))?;
        u64::try_from(n)
            .map_err(|_| RegistrarError::BadDatabase(format!("the CRL number {n} is negative")))
    }

    /// The certificates issued to a student, oldest first.
    pub fn issued(&self, id: &StudentId) -> Result<Vec<IssuedRecord>, RegistrarError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT serial, not_before, not_after, issued_at, revoked_at FROM certificates
                 WHERE student_id = ?1 ORDER BY issued_at, rowid",
            )
            .map_err(db("listing issued certificates"))?;
        let rows = stmt
            .query_map([id.as_str()], |r| {
                Ok(IssuedRecord {
                    serial_hex: r.get(0)?,
                    not_before: time(r.get(1)?),
                    not_after: time(r.get(2)?),
                    issued_at: time(r.get(3)?),
                    revoked_at: r.get::<_, Option<i64>>(4)?.map(time),
                })
            })
            .map_err(db("listing issued certificates"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("listing issued certificates"))
    }

    /// Whether the student is on the roster.
    pub fn on_roster(&self, id: &StudentId) -> Result<bool, RegistrarError> {
        on_roster(&self.conn, id)
    }
}

/// A read-only connection to the registrar, for checking an application against the last
/// committed records without waiting for the writer (so that only applications that would
/// pass are signed before the decision). Its answer is advice: [`Registrar::decide`] checks
/// again and decides.
#[derive(Debug)]
pub struct RegistrarReader {
    conn: Connection,
}

impl RegistrarReader {
    /// Opens the existing registrar database at `path` for reading.
    pub fn open(path: &Path) -> Result<Self, RegistrarError> {
        let conn = sqlite::open_read_only(path, SCHEMA_VERSION)?;
        Ok(Self { conn })
    }

    /// Whether `application` would be accepted by the records as last committed. A wrong
    /// code or any other refusal is `false`; only a database failure is an error.
    pub fn would_accept(&self, application: &Application) -> Result<bool, RegistrarError> {
        match check(&self.conn, application) {
            Ok(()) => Ok(true),
            Err(RegistrarError::Refused(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn begin(conn: &mut Connection) -> Result<Transaction<'_>, RegistrarError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting a transaction"))
}

fn on_roster(conn: &Connection, id: &StudentId) -> Result<bool, RegistrarError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM roster WHERE student_id = ?1)",
        [id.as_str()],
        |r| r.get(0),
    )
    .map_err(db("reading the roster"))
}

/// Judges an application against the records as `conn` sees them, without writing anything:
/// `Ok` if every rule passes (sign, if not done yet, and record), else the refusal (unknown
/// student or wrong code, used code, a revoked, expired or unknown certificate) as
/// [`RegistrarError::Refused`].
fn check(conn: &Connection, application: &Application) -> Result<(), RegistrarError> {
    let id = &application.student;
    let now_s = secs(application.now);
    match &application.request {
        Request::Enroll { code } => {
            let row = conn
                .prepare_cached(
                    "SELECT code_salt, code_hash, code_used_at FROM roster WHERE student_id = ?1",
                )
                .and_then(|mut stmt| {
                    stmt.query_row([id.as_str()], |r| {
                        Ok((
                            r.get::<_, Vec<u8>>(0)?,
                            r.get::<_, Vec<u8>>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                        ))
                    })
                    .optional()
                })
                .map_err(db("reading the roster"))?;
            // An unknown ID gets the same work and the same answer as a wrong code.
            let known = row.is_some();
            let (salt, hash, used_at) =
                row.unwrap_or_else(|| (NO_SALT.to_vec(), vec![0; 32], None));
            let given = code_hash(&salt, &normalize_code(code));
            let right = verify_slices_are_equal(&given, &hash).is_ok();
            if !(known && right) {
                return Err(refused(RefusalCode::BadCode, WRONG_CODE));
            }
            if used_at.is_some() {
                return Err(refused(
                    RefusalCode::CodeUsed,
                    "this enrollment code was already used; ask CUHK for a new code",
                ));
            }
            Ok(())
        }
        Request::Renew { serial } => {
            let serial = serial_hex(serial);
            let row = conn
                .prepare_cached(
                    "SELECT not_before, not_after, revoked_at FROM certificates
                     WHERE serial = ?1 AND student_id = ?2",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![serial, id.as_str()], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                        ))
                    })
                    .optional()
                })
                .map_err(db("reading the certificate records"))?;
            let Some((not_before, not_after, revoked_at)) = row else {
                return Err(refused(
                    RefusalCode::NotAuthenticated,
                    format!(
                        "CUHK has no record of certificate {serial} for student {id}; enroll \
                         again with a new code"
                    ),
                ));
            };
            if revoked_at.is_some() {
                return Err(refused(
                    RefusalCode::Revoked,
                    "your certificate was revoked; ask CUHK for a new enrollment code",
                ));
            }
            if now_s < not_before || now_s > not_after {
                return Err(refused(
                    RefusalCode::Expired,
                    "your certificate is expired or not yet valid; enroll again with a new code",
                ));
            }
            Ok(())
        }
    }
}

/// Gets the certificate from `sign`, checks that it is this student's, records it, and for an
/// enrollment marks the code used. Nothing is written unless every check passed.
fn record(
    conn: &Connection,
    application: &Application,
    sign: impl FnOnce() -> Result<CertificateDer<'static>, PkiError>,
) -> Result<Issued, RegistrarError> {
    let id = &application.student;
    let now_s = secs(application.now);
    let internal = |what: String| {
        refused(
            RefusalCode::Internal,
            format!("CUHK could not issue your certificate ({what}); try again later"),
        )
    };
    let cert = sign().map_err(|e| internal(e.to_string()))?;
    let (cert_id, info) = student_id_of(&cert).map_err(|e| internal(e.to_string()))?;
    if &cert_id != id {
        return Err(internal(format!(
            "the signed certificate names student {cert_id}, not {id}"
        )));
    }
    let record = IssuedRecord {
        serial_hex: serial_hex(&info.serial),
        not_before: time(secs(info.not_before)),
        not_after: time(secs(info.not_after)),
        issued_at: time(now_s),
        revoked_at: None,
    };
    conn.prepare_cached(
        "INSERT INTO certificates (serial, student_id, not_before, not_after, issued_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            record.serial_hex,
            id.as_str(),
            secs(info.not_before),
            secs(info.not_after),
            now_s
        ])
    })
    .map_err(db("recording the certificate"))?;
    if let Request::Enroll { .. } = application.request {
        conn.prepare_cached("UPDATE roster SET code_used_at = ?2 WHERE student_id = ?1")
            .and_then(|mut stmt| stmt.execute(params![id.as_str(), now_s]))
            .map_err(db("marking the code used"))?;
    }
    Ok(Issued { cert, record })
}

fn new_code(rng: &SystemRandom) -> Result<String, RegistrarError> {
    // Rejection sampling keeps every character equally likely: 248 = 8 * 31.
    let limit = 8 * CODE_ALPHABET.len();
    let mut code = String::with_capacity(CODE_LEN + 3);
    let mut n = 0;
    let mut buf = [0u8; 32];
    while n < CODE_LEN {
        rng.fill(&mut buf).map_err(|_| RegistrarError::Random)?;
        for b in buf.iter().map(|b| usize::from(*b)).filter(|b| *b < limit) {
            if n == CODE_LEN {
                break;
            }
            if n > 0 && n % 4 == 0 {
                code.push('-');
            }
            code.push(char::from(CODE_ALPHABET[b % CODE_ALPHABET.len()]));
            n += 1;
        }
    }
    Ok(code)
}

/// Upper case, without dashes or white space, so a loosely typed code still matches.
fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

fn code_hash(salt: &[u8], normalized: &str) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(salt);
    ctx.update(normalized.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn secs(t: SystemTime) -> i64 {
    i64::try_from(unix_secs(t)).unwrap_or(i64::MAX)
}

fn time(secs: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

fn decode_hex(s: &str) -> Result<Vec<u8>, RegistrarError> {
    data_encoding::HEXUPPER_PERMISSIVE
        .decode(s.as_bytes())
        .map_err(|_| RegistrarError::BadDatabase(format!("the serial {s:?} is not hex")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use handin_core::harness::t0;
    use handin_core::pki::{
        certificate_info, check_csr, new_student_key, Ca, Revocations, DEFAULT_STUDENT_LIFETIME,
    };
    use std::cell::Cell;
    use std::path::PathBuf;
    use tempfile::TempDir;

    const LIFETIME: Duration = Duration::from_secs(3600);

    struct Fixture {
        _dir: TempDir,
        path: PathBuf,
        ca: Ca,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cuhk.db");
        let ca = Ca::generate("CUHK Test Root", t0(), DEFAULT_STUDENT_LIFETIME * 10).unwrap();
        Fixture {
            _dir: dir,
            path,
            ca,
        }
    }

    fn sid(s: &str) -> StudentId {
        StudentId::parse(s).unwrap()
    }

    fn mins(n: u64) -> Duration {
        Duration::from_secs(60 * n)
    }

    /// A real signer: a fresh key, a CSR, checked, issued by the CA.
    fn signer<'a>(
        ca: &'a Ca,
        id: &'a StudentId,
        now: SystemTime,
    ) -> impl FnOnce() -> Result<CertificateDer<'static>, PkiError> + 'a {
        move || {
            let key = new_student_key(id)?;
            let csr = check_csr(&key.csr_der, Some(id)).map_err(|e| PkiError(e.to_string()))?;
            ca.issue_student(&csr, now, LIFETIME)
        }
    }

    fn failing_signer() -> Result<CertificateDer<'static>, PkiError> {
        Err(PkiError("the CA key is unavailable".into()))
    }

    fn refusal<T: std::fmt::Debug>(r: Result<T, RegistrarError>) -> Refusal {
        match r {
            Err(RegistrarError::Refused(r)) => r,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn failures(path: &Path, id: &StudentId) -> u32 {
        let conn = Connection::open(path).unwrap();
        conn.query_row(
            "SELECT failures FROM roster WHERE student_id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )
        .unwrap()
    }

    fn serial_of(cert: &CertificateDer<'_>) -> Vec<u8> {
        certificate_info(cert).unwrap().serial
    }

    /// Enrolls `id` at `now` and returns the certificate.
    fn enroll(reg: &mut Registrar, ca: &Ca, id: &StudentId, now: SystemTime) -> Vec<u8> {
        let code = reg.add_student(id, now).unwrap();
        let cert = reg.redeem(id, &code, now, signer(ca, id, now)).unwrap();
        cert.to_vec()
    }

    #[test]
    fn code_has_the_documented_shape_and_loose_typing_redeems_it() {
        let f = fixture();
        let mut reg = Registrar::open(&f.path).unwrap();
        let id = sid("1155000001");
        let code = reg.add_student(&id, t0()).unwrap();
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 4, "{code}");
        for g in &groups {
            assert_eq!(g.len(), 4, "{code}");
            assert!(g.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
        }
        assert!(!code.contains(['0', 'O', '1', 'I', 'L']), "{code}");
        assert_ne!(code, reg.add_student(&sid("1155000002"), t0()).unwrap());

        let loose = format!(" {} ", code.to_lowercase().replace('-', " "));
        let cert = reg
            .redeem(&id, &loose, t0(), signer(&f.ca, &id, t0()))
            .unwrap();
        let (cert_id, info) = student_id_of(&cert).unwrap();
        assert_eq!(cert_id, id);
        let issued = reg.issued(&id).unwrap();
        assert_eq!(issued.len(), 1);
        assert_eq!(issued[0].serial_hex, serial_hex(&info.serial));
        assert_eq!(issued[0].not_after, info.not_after);
        assert_eq!(issued[0].issued_at, t0());
        assert_eq!(issued[0].revoked_at, None);
    }

    #[test]
    fn code_is_stored_only_as_a_salted_hash() {
        let f = fixture();
        let mut reg = Registrar::open(&f.path).unwrap();
        let id = sid("1155000001");
        let code = reg.add_student(&id, t0()).unwrap();
        let other = reg.add_student(&sid("1155000002"), t0()).unwrap();
        drop(reg);

        let mut raw = std::fs::read(&f.path).unwrap();
        let wal = f.path.with_file_name("cuhk.db-wal");
        if let Ok(bytes) = std::fs::read(wal) {
            raw.extend(bytes);
        }
        for c in [&code, &other] {
            for form in [c.clone(), normalize_code(c)] {
                let found = raw.windows(form.len()).any(|w| w == form.as_bytes());
                assert!(!found, "the code {form} is in the database file");
            }
        }

        let conn = Connection::open(&f.path).unwrap();
        let mut stmt = conn
            .prepare("SELECT student_id, code_salt, code_hash FROM roster ORDER BY student_id")
            .unwrap();
        let rows: Vec<(String, Vec<u8>, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1.len(), SALT_LEN);
        assert_ne!(rows[0].1, rows[1].1, "salts must be random");
        assert_eq!(rows[0].2, code_hash(&rows[0].1, &normalize_code(&code)));
    }

    #[test]
    fn wrong_codes_never_lock_the_student_out_or_spend_the_code() {
        let f = fixture();
        let id = sid("1155000001");
        let code = Registrar::open(&f.path)
            .unwrap()
            .add_student(&id, t0())
            .unwrap();
        // Someone who knows the ID sends a hundred wrong codes for it, reopening as they go:
        // ten at once, then one an hour.
        let mut at = t0();
        for n in 0..100 {
            if n >= 10 {
                at += mins(60);
            }
            let mut reg = Registrar::open(&f.path).unwrap();
            let r = refusal(reg.redeem(&id, &format!("WRONG-{n}"), at, failing_signer));
            assert_eq!(r.code, RefusalCode::BadCode, "{r:?}");
            assert_eq!(r.reason, WRONG_CODE);
        }
        // Nothing was written, and the student enrolls at once with the right code.
        assert_eq!(failures(&f.path, &id), 0);
        let mut reg = Registrar::open(&f.path).unwrap();
        let cert = reg.redeem(&id, &code, at, signer(&f.ca, &id, at));
        assert!(cert.is_ok(), "{cert:?}");
    }

    #[test]
    fn a_new_code_replaces_the_old_one() {
        let f = fixture();
        let mut reg = Registrar::open(&f.path).unwrap();
        let id = sid("1155000001");
        let old = reg.add_student(&id, t0()).unwrap();
        let fresh = reg.add_student(&id, t0()).unwrap();
        assert_ne!(old, fresh);
        let r = refusal(reg.redeem(&id, &old, t0(), failing_signer));
        assert_eq!(
            (r.code, r.reason.as_str()),
            (RefusalCode::BadCode, WRONG_CODE)
        );
        assert!(reg
            .redeem(&id, &fresh, t0(), signer(&f.ca, &id, t0()))
            .is_ok());
    }

    #[test]
    fn a_used_code_is_refused_without_signing() {
        let f = fixture();
        let mut reg = Registrar::open(&f.path).unwrap();
        let id = sid("1155000001");
        let code = reg.add_student(&id, t0()).unwrap();
        reg.redeem(&id, &code, t0(), signer(&f.ca, &id, t0()))
            .unwrap();
        let called = Cell::new(false);
        let r = refusal(reg.redeem(&id, &code, t0(), || {
            called.set(true);
            failing_signer()
        }));
        assert_eq!(r.code, RefusalCode::CodeUsed);
        assert!(!called.get());
        assert_eq!(reg.issued(&id).unwrap().len(), 1);
        // Only whoever holds the code learns that it was used: a wrong one is just wrong.
        let r = refusal(reg.redeem(&id, "AAAA-AAAA-AAAA-AAAA", t0(), failing_signer));
        assert_eq!(
            (r.code, r.reason.as_str()),
            (RefusalCode::BadCode, WRONG_CODE)
        );
        drop(reg);
        let mut reg = Registrar::open(&f.path).unwrap();
        let r = refusal(reg.redeem(&id, &code, t0(), signer(&f.ca, &id, t0())));
        assert_eq!(r.code, RefusalCode::CodeUsed);
    }

    #[test]
    fn an_unknown_student_gets_the_same_refusal_as_a_wrong_code() {
        let f = fixture();
        let mut reg = Registrar::open(&f.path).unwrap();
        let known = sid("1155000001");
        let stranger = sid("1155999999");
        let code = reg.add_student(&known, t0()).unwrap();
        assert!(reg.on_roster(&known).unwrap());
        assert!(!reg.on_roster(&stranger).unwrap());
        let unknown = refusal(reg.redeem(&stranger, &code, t0(), signer(&f.ca, &stranger, t0())));
        let wrong = refusal(reg.redeem(&known, "AAAA-BBBB-CCCC-DDDD", t0(), failing_signer));
        assert_eq!(unknown, wrong);
        assert_eq!(unknown.code, RefusalCode::BadCode);
        assert!(!unknown.reason.contains("1155999999"), "{unknown:?}");
        assert!(reg.issued(&stranger).unwrap().is_empty());
        assert!(!reg.on_roster(&stranger).unwrap(), "nothing was added");
    }

    #[test]
    fn a_signing_failure_leaves_the_code_unused() {
        let f = fixture();
        let mut reg = Registrar::open(&f.path).unwrap();
        let id = sid("1155000001");
        let code = reg.add_student(&id, t0()).unwrap();
        let r = refusal(reg.redeem(&id, &code, t0(), failing_signer));
        assert_eq!(r.code, RefusalCode::Internal);
        // A certificate for somebody else is not recorded either.
        let other = sid("1155000002");
        let r = refusal(reg.redeem(&id, &code, t0(), signer(&f.ca, &other, t0())));
        assert_eq!(r.code, RefusalCode::Internal);
        assert!(r.reason.contains("1155000002"), "{r:?}");
        assert!(reg.issued(&id).unwrap().is_empty());
        assert!(reg.issued(&other).unwrap().is_empty());
        assert_eq!(failures(&f.path, &id), 0);
        assert!(reg
            .redeem(&id, &code, t0(), signer(&f.ca, &id, t0()))
            .is_ok());
    }

    #[test]
    fn revoking_a_student_lists_exactly_their_serials() {
        let f = fixture();
        let mut reg = Registrar::open(&f.path).unwrap();
        let a = sid("1155000001");
        let b = sid("1155000002");
        let a1 = enroll(&mut reg, &f.ca, &a, t0());
        let later = t0() + mins(10);
        let a2 = reg.renew(
            &a,
            &serial_of(&CertificateDer::from(a1.clone())),
            later,
            signer(&f.ca, &a, later),
        );
        let a2 = a2.unwrap().to_vec();
        let b1 = enroll(&mut reg, &f.ca, &b, t0());
        assert!(reg.revoked().unwrap().is_empty());

        let at = t0() + mins(20);
        assert_eq!(reg.revoke_student(&a, at).unwrap(), 2);
        let revoked = reg.revoked().unwrap();
        let mut got: Vec<Vec<u8>> = revoked.iter().map(|r| r.serial.clone()).collect();
        let mut want = vec![
            serial_of(&CertificateDer::from(a1)),
            serial_of(&CertificateDer::from(a2)),
        ];
        got.sort();
        want.sort();
        assert_eq!(got, want);
        assert!(revoked.iter().all(|r| r.revoked_at == at));
        assert!(reg
            .issued(&a)
            .unwrap()
            .iter()
            .all(|r| r.revoked_at == Some(at)));
        assert!(reg
            .issued(&b)
            .unwrap()
            .iter()
            .all(|r| r.revoked_at.is_none()));

        // Again: nothing new, and the first revocation time stands.
        assert_eq!(reg.revoke_student(&a, at + mins(1)).unwrap(), 0);
        assert_eq!(reg.revoked().unwrap(), revoked);
        match reg.revoke_student(&sid("1155999999"), at) {
            Err(e @ RegistrarError::NotOnRoster(_)) => {
                assert!(e.to_string().contains("1155999999"), "{e}")
            }
            other => panic!("expected NotOnRoster, got {other:?}"),
        }

        // The CA's CRL built from these records revokes A's certificates and not B's.
        let number = reg.next_crl_number().unwrap();
        let crl = f.ca.crl(&revoked, number, at, mins(60)).unwrap();
        let set = Revocations::from_crl(&crl, f.ca.cert()).unwrap();
        assert_eq!(set.len(), 2);
        for s in &want {
            assert!(set.is_revoked(s));
        }
        assert!(!set.is_revoked(&serial_of(&CertificateDer::from(b1))));
    }

    fn enrolling(id: &StudentId, code: &str) -> Application {
        Application {
            student: id.clone(),
            request: Request::Enroll { code: code.into() },
            now: t0(),
            signed: None,
        }
    }

    fn codes_of(outcomes: &[Result<Issued, Refusal>]) -> Vec<Option<RefusalCode>> {
        outcomes
            .iter()
            .map(|o| o.as_ref().err().map(|r| r.code))
            .collect()
    }

    #[test]
    fn a_batch_decides_each_application_on_its_own_in_one_transaction() {
        let f = fixture();
        let mut reg = Registrar::open(&f.path).unwrap();
        let ids: Vec<StudentId> = (1..=8).map(|i| sid(&format!("11550000{i:02}"))).collect();
        let codes: Vec<String> = ids
            .iter()
            .map(|id| reg.add_student(id, t0()).unwrap())
            .collect();
        // Before the batch: the 6th enrolled (code used), the 7th had many wrong codes sent for
        // its ID, the 8th holds a certificate to renew.
        reg.redeem(&ids[5], &codes[5], t0(), signer(&f.ca, &ids[5], t0()))
            .unwrap();
        for _ in 0..20 {
            refusal(reg.redeem(&ids[6], "wrong", t0(), failing_signer));
        }
        let held = enroll(&mut reg, &f.ca, &ids[7], t0());
        let stranger = sid("1155999999");

        let presigned = |id: &StudentId| signer(&f.ca, id, t0())().unwrap();
        let mut applications = vec![
            enrolling(&ids[0], &codes[0]), // 0: issued, signed by the decision
            enrolling(&ids[1], "AAAA-BBBB-CCCC-DDDD"), // 1: wrong code
            enrolling(&ids[2], &codes[2]), // 2: issued, signed beforehand
            enrolling(&ids[0], &codes[0]), // 3: the same code again
            enrolling(&stranger, &codes[3]), // 4: not on the roster
            enrolling(&ids[5], &codes[5]), // 5: used before the batch
            enrolling(&ids[6], &codes[6]), // 6: issued despite the wrong codes
            Application {
                request: Request::Renew {
                    serial: serial_of(&CertificateDer::from(held.clone())),
                },
                ..enrolling(&ids[7], "")
            }, // 7: renewed
            enrolling(&ids[3], &codes[3]), // 8: issued
            enrolling(&ids[4], &codes[4]), // 9: signed beforehand for somebody else
        ];
        applications[2].signed = Some(presigned(&ids[2]));
        applications[9].signed = Some(presigned(&ids[3]));
        let presigned_serial = serial_of(applications[2].signed.as_ref().unwrap());

        let asked = std::cell::RefCell::new(Vec::new());
        let outcomes = reg
            .decide(&applications, |i| {
                asked.borrow_mut().push(i);
                signer(&f.ca, &applications[i].student, t0())()
            })
            .unwrap();
        use RefusalCode::*;
        assert_eq!(
            codes_of(&outcomes),
            vec![
                None,
                Some(BadCode),
                None,
                Some(CodeUsed),
                Some(BadCode),
                Some(CodeUsed),
                None,
                None,
                None,
                Some(Internal)
            ]
        );
        // Only what was accepted and not signed beforehand was signed.
        assert_eq!(*asked.borrow(), vec![0, 6, 7, 8]);
        drop(reg);

        // Every decision is on disk, read back through a new connection.
        let mut reg = Registrar::open(&f.path).unwrap();
        for (i, id) in [(0, &ids[0]), (2, &ids[2]), (8, &ids[3])] {
            let issued = reg.issued(id).unwrap();
            assert_eq!(issued.len(), 1, "{id}");
            let got = outcomes[i].as_ref().unwrap();
            assert_eq!(issued[0], got.record);
            assert_eq!(issued[0].serial_hex, serial_hex(&serial_of(&got.cert)));
        }
        assert_eq!(
            reg.issued(&ids[2]).unwrap()[0].serial_hex,
            serial_hex(&presigned_serial)
        );
        assert_eq!(reg.issued(&ids[7]).unwrap().len(), 2);
        // Wrong codes write nothing.
        assert_eq!(failures(&f.path, &ids[1]), 0);
        assert!(reg.issued(&ids[1]).unwrap().is_empty());
        assert_eq!(failures(&f.path, &ids[6]), 0);
        assert_eq!(reg.issued(&ids[6]).unwrap().len(), 1);
        assert!(reg.issued(&ids[4]).unwrap().is_empty());
        assert!(reg.issued(&stranger).unwrap().is_empty());
        // The refused ones still hold unused codes.
        for i in [1, 4] {
            assert!(reg
                .redeem(&ids[i], &codes[i], t0(), signer(&f.ca, &ids[i], t0()))
                .is_ok());
        }
        let r = refusal(reg.redeem(&ids[0], &codes[0], t0(), failing_signer));
        assert_eq!(r.code, CodeUsed);
    }

    #[test]
    fn a_database_failure_refuses_the_whole_batch_and_records_nothing() {
        let f = fixture();
        let mut reg = Registrar::open(&f.path).unwrap();
        let ids: Vec<StudentId> = (0..200).map(|i| sid(&format!("1156{i:06}"))).collect();
        let codes: Vec<String> = ids
            .iter()
            .map(|id| reg.add_student(id, t0()).unwrap())
            .collect();
        // The disk is full: the file may not grow by a single page.
        let pages: i64 = reg
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        reg.conn
            .pragma_update(None, "max_page_count", pages)
            .unwrap();

        let mut applications: Vec<Application> = ids
            .iter()
            .zip(&codes)
            .map(|(id, code)| enrolling(id, code))
            .collect();
        applications[0] = enrolling(&ids[0], "wrong");
        let result = reg.decide(&applications, |i| {
            signer(&f.ca, &applications[i].student, t0())()
        });
        match result {
            Err(e @ RegistrarError::Database { .. }) => {
                let text = e.to_string();
                assert!(text.contains("rolled back"), "{text}");
                assert!(text.contains("full"), "{text}");
                assert_eq!(e.refusal().code, RefusalCode::Internal);
            }
            other => panic!("expected a database error, got {other:?}"),
        }
        drop(reg);

        let mut reg = Registrar::open(&f.path).unwrap();
        for id in &ids {
            assert!(reg.issued(id).unwrap().is_empty(), "{id}");
        }
        // Nothing was written, and every code still works.
        assert_eq!(failures(&f.path, &ids[0]), 0);
        let outcomes = reg
            .decide(&applications[1..], |i| {
                signer(&f.ca, &applications[i + 1].student, t0())()
            })
            .unwrap();
        assert!(outcomes.iter().all(Result::is_ok));
        assert_eq!(reg.issued(&ids[199]).unwrap().len(), 1);
    }

    #[test]
    fn a_reader_advises_from_committed_records_without_writing() {
        let f = fixture();
        let mut reg = Registrar::open(&f.path).unwrap();
        let (a, b) = (sid("1155000001"), sid("1155000002"));
        let code_a = reg.add_student(&a, t0()).unwrap();
        let code_b = reg.add_student(&b, t0()).unwrap();
        let reader = RegistrarReader::open(&reg.path().unwrap()).unwrap();
        assert!(reader.would_accept(&enrolling(&a, &code_a)).unwrap());
        assert!(!reader.would_accept(&enrolling(&a, "wrong")).unwrap());
        assert!(!reader
            .would_accept(&enrolling(&sid("1155999999"), &code_a))
            .unwrap());
        assert_eq!(failures(&f.path, &a), 0, "advice writes nothing");
        // It sees what the writer committed since.
        reg.redeem(&b, &code_b, t0(), signer(&f.ca, &b, t0()))
            .unwrap();
        assert!(!reader.would_accept(&enrolling(&b, &code_b)).unwrap());
    }

    #[test]
    fn the_crl_number_increments_and_persists() {
        let f = fixture();
        let mut reg = Registrar::open(&f.path).unwrap();
        assert_eq!(reg.next_crl_number().unwrap(), 1);
        assert_eq!(reg.next_crl_number().unwrap(), 2);
        drop(reg);
        let mut reg = Registrar::open(&f.path).unwrap();
        assert_eq!(reg.next_crl_number().unwrap(), 3);
    }

    #[test]
    fn renewal_needs_a_current_valid_certificate_of_the_same_student() {
        let f = fixture();
        let mut reg = Registrar::open(&f.path).unwrap();
        let a = sid("1155000001");
        let b = sid("1155000002");
        let a1 = serial_of(&CertificateDer::from(enroll(&mut reg, &f.ca, &a, t0())));
        let b1 = serial_of(&CertificateDer::from(enroll(&mut reg, &f.ca, &b, t0())));
        let now = t0() + mins(30);

        // Another student's serial, or one CUHK never issued.
        let r = refusal(reg.renew(&a, &b1, now, signer(&f.ca, &a, now)));
        assert_eq!(r.code, RefusalCode::NotAuthenticated);
        let r = refusal(reg.renew(&a, &[0x42; 16], now, signer(&f.ca, &a, now)));
        assert_eq!(r.code, RefusalCode::NotAuthenticated);
        // A signing failure records nothing.
        let r = refusal(reg.renew(&a, &a1, now, failing_signer));
        assert_eq!(r.code, RefusalCode::Internal);
        assert_eq!(reg.issued(&a).unwrap().len(), 1);
        // Expired (the certificate lives an hour).
        let late = t0() + LIFETIME + Duration::from_secs(1);
        let r = refusal(reg.renew(&a, &a1, late, signer(&f.ca, &a, late)));
        assert_eq!(r.code, RefusalCode::Expired);

        // Valid: a new certificate is recorded; a leading zero byte in the serial is fine.
        let mut padded = vec![0u8];
        padded.extend(&a1);
        let cert = reg.renew(&a, &padded, now, signer(&f.ca, &a, now)).unwrap();
        let a2 = serial_of(&cert);
        assert_ne!(a2, a1);
        let issued = reg.issued(&a).unwrap();
        assert_eq!(issued.len(), 2);
        assert_eq!(issued[1].serial_hex, serial_hex(&a2));
        assert_eq!(issued[1].issued_at, now);

        // Revoked.
        reg.revoke_student(&a, now).unwrap();
        let r = refusal(reg.renew(&a, &a2, now, signer(&f.ca, &a, now)));
        assert_eq!(r.code, RefusalCode::Revoked);
        assert_eq!(reg.issued(&a).unwrap().len(), 2);
    }

    #[test]
    fn a_stored_serial_is_read_back_from_hex_of_either_case() {
        assert_eq!(decode_hex("0ABCDE").unwrap(), [0x0a, 0xbc, 0xde]);
        assert_eq!(decode_hex("0abcde").unwrap(), [0x0a, 0xbc, 0xde]);
        assert_eq!(
            decode_hex(&serial_hex(&[0x7f, 0x01])).unwrap(),
            [0x7f, 0x01]
        );
        for bad in ["ABC", "0G", "é0"] {
            match decode_hex(bad) {
                Err(e @ RegistrarError::BadDatabase(_)) => assert_eq!(
                    e.to_string(),
                    format!(
                        "registrar database: the serial {bad:?} is not hex; restore it from a \
                         backup or use a newer handin"
                    )
                ),
                other => panic!("{bad:?}: expected BadDatabase, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_newer_schema_is_refused_and_an_existing_one_reopens() {
        let f = fixture();
        let id = sid("1155000001");
        Registrar::open(&f.path)
            .unwrap()
            .add_student(&id, t0())
            .unwrap();
        let reg = Registrar::open(&f.path).unwrap();
        assert!(reg.on_roster(&id).unwrap());
        drop(reg);
        Connection::open(&f.path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        match Registrar::open(&f.path) {
            Err(e @ RegistrarError::BadDatabase(_)) => assert!(e.to_string().contains("99")),
            other => panic!("expected BadDatabase, got {other:?}"),
        }
    }
}
