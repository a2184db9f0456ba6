//! CUHK's records in SQLite (`PKI/cuhk.db`). Every change that touches more than one row runs
//! in one transaction, so a crash leaves either the old records or the new ones.

use super::{failed, open, open_read_only, secs, time};
use crate::store::{
    CodeRecord, IssuedRecord, RegistrarRecords, RegistrarTx, RegistrarView, StoreError, ViewOpener,
};
use handin_core::pki::{unix_secs, RevokedSerial, StudentId};
use handin_core::rules::enrollment::CertStanding;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

const SCHEMA_VERSION: i64 = 1;
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

/// CUHK's records in one SQLite database.
#[derive(Debug)]
pub struct SqliteRegistrar {
    conn: Connection,
}

impl SqliteRegistrar {
    /// Opens the database at `path`, creating it and its schema if missing.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            conn: open(path, &[SCHEMA])?,
        })
    }

    /// The database file, if it is one.
    pub fn path(&self) -> Option<PathBuf> {
        self.conn
            .path()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    }
}

#[cfg(test)]
impl SqliteRegistrar {
    /// The connection, for tests that plant faults in it.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl RegistrarRecords for SqliteRegistrar {
    fn put_student(
        &mut self,
        id: &StudentId,
        salt: &[u8],
        hash: &[u8],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO roster (student_id, added_at, code_salt, code_hash)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (student_id) DO UPDATE SET
                     code_salt = excluded.code_salt, code_hash = excluded.code_hash,
                     code_used_at = NULL, failures = 0, last_failure_at = NULL",
                params![id.as_str(), secs(now), salt, hash],
            )
            .map_err(failed(format!("adding student {id} to the roster")))?;
        Ok(())
    }

    fn begin(&mut self) -> Result<Box<dyn RegistrarTx + '_>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed("starting a transaction"))?;
        Ok(Box::new(SqliteRegistrarTx { tx }))
    }

    fn revoke_student(
        &mut self,
        id: &StudentId,
        now: SystemTime,
    ) -> Result<Option<usize>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed("starting a transaction"))?;
        if !on_roster(&tx, id)? {
            return Ok(None);
        }
        let n = tx
            .execute(
                "UPDATE certificates SET revoked_at = ?2
                 WHERE student_id = ?1 AND revoked_at IS NULL",
                params![id.as_str(), secs(now)],
            )
            .map_err(failed(format!("revoking the certificates of {id}")))?;
        tx.commit()
            .map_err(failed(format!("revoking the certificates of {id}")))?;
        Ok(Some(n))
    }

    fn revoked(&self) -> Result<Vec<RevokedSerial>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT serial, revoked_at FROM certificates
                 WHERE revoked_at IS NOT NULL ORDER BY revoked_at, serial",
            )
            .map_err(failed("listing revoked certificates"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(failed("listing revoked certificates"))?;
        let mut out = Vec::new();
        for row in rows {
            let (serial, at) = row.map_err(failed("listing revoked certificates"))?;
            out.push(RevokedSerial {
                serial: decode_hex(&serial)?,
                revoked_at: time(at),
            });
        }
        Ok(out)
    }

    fn next_crl_number(&mut self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row(
                "INSERT INTO counters (name, value) VALUES ('crl_number', 1)
                 ON CONFLICT (name) DO UPDATE SET value = value + 1
                 RETURNING value",
                [],
                |r| r.get(0),
            )
            .map_err(failed("incrementing the CRL number"))?;
        u64::try_from(n)
            .map_err(|_| StoreError::BadDatabase(format!("the CRL number {n} is negative")))
    }

    fn issued(&self, id: &StudentId) -> Result<Vec<IssuedRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT serial, not_before, not_after, issued_at, revoked_at FROM certificates
                 WHERE student_id = ?1 ORDER BY issued_at, rowid",
            )
            .map_err(failed("listing issued certificates"))?;
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
            .map_err(failed("listing issued certificates"))?;
        rows.collect::<Result<_, _>>()
            .map_err(failed("listing issued certificates"))
    }

    fn on_roster(&self, id: &StudentId) -> Result<bool, StoreError> {
        on_roster(&self.conn, id)
    }

    fn views(&self) -> Option<ViewOpener> {
        let path = self.path()?;
        Some(Arc::new(move || {
            let view = SqliteRegistrarView::open(&path)?;
            Ok(Box::new(view) as Box<dyn RegistrarView + Send>)
        }))
    }
}

struct SqliteRegistrarTx<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl RegistrarView for SqliteRegistrarTx<'_> {
    fn code(&mut self, id: &StudentId) -> Result<Option<CodeRecord>, StoreError> {
        code_in(&self.tx, id)
    }

    fn certificate(
        &mut self,
        id: &StudentId,
        serial_hex: &str,
    ) -> Result<Option<CertStanding>, StoreError> {
        certificate_in(&self.tx, id, serial_hex)
    }
}

impl RegistrarTx for SqliteRegistrarTx<'_> {
    fn record_certificate(
        &mut self,
        id: &StudentId,
        record: &IssuedRecord,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO certificates (serial, student_id, not_before, not_after, issued_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    record.serial_hex,
                    id.as_str(),
                    secs(record.not_before),
                    secs(record.not_after),
                    secs(record.issued_at)
                ])
            })
            .map_err(failed("recording the certificate"))?;
        Ok(())
    }

    fn mark_code_used(&mut self, id: &StudentId, now: SystemTime) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("UPDATE roster SET code_used_at = ?2 WHERE student_id = ?1")
            .and_then(|mut stmt| stmt.execute(params![id.as_str(), secs(now)]))
            .map_err(failed("marking the code used"))?;
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().map_err(failed("committing"))
    }
}

/// A read-only connection to the registrar's database: it sees what was last committed, and
/// never waits for the writer.
#[derive(Debug)]
pub struct SqliteRegistrarView {
    conn: Connection,
}

impl SqliteRegistrarView {
    /// Opens the existing database at `path` for reading.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            conn: open_read_only(path, SCHEMA_VERSION)?,
        })
    }
}

impl RegistrarView for SqliteRegistrarView {
    fn code(&mut self, id: &StudentId) -> Result<Option<CodeRecord>, StoreError> {
        code_in(&self.conn, id)
    }

    fn certificate(
        &mut self,
        id: &StudentId,
        serial_hex: &str,
    ) -> Result<Option<CertStanding>, StoreError> {
        certificate_in(&self.conn, id, serial_hex)
    }
}

fn on_roster(conn: &Connection, id: &StudentId) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM roster WHERE student_id = ?1)",
        [id.as_str()],
        |r| r.get(0),
    )
    .map_err(failed("reading the roster"))
}

fn code_in(conn: &Connection, id: &StudentId) -> Result<Option<CodeRecord>, StoreError> {
    conn.prepare_cached(
        "SELECT code_salt, code_hash, code_used_at FROM roster WHERE student_id = ?1",
    )
    .and_then(|mut stmt| {
        stmt.query_row([id.as_str()], |r| {
            Ok(CodeRecord {
                salt: r.get(0)?,
                hash: r.get(1)?,
                used: r.get::<_, Option<i64>>(2)?.is_some(),
            })
        })
        .optional()
    })
    .map_err(failed("reading the roster"))
}

fn certificate_in(
    conn: &Connection,
    id: &StudentId,
    serial_hex: &str,
) -> Result<Option<CertStanding>, StoreError> {
    let unsigned = |t: i64| unix_secs(time(t));
    conn.prepare_cached(
        "SELECT not_before, not_after, revoked_at FROM certificates
         WHERE serial = ?1 AND student_id = ?2",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![serial_hex, id.as_str()], |r| {
            Ok(CertStanding {
                not_before: unsigned(r.get(0)?),
                not_after: unsigned(r.get(1)?),
                revoked: r.get::<_, Option<i64>>(2)?.is_some(),
            })
        })
        .optional()
    })
    .map_err(failed("reading the certificate records"))
}

pub(crate) fn decode_hex(s: &str) -> Result<Vec<u8>, StoreError> {
    data_encoding::HEXUPPER_PERMISSIVE
        .decode(s.as_bytes())
        .map_err(|_| StoreError::BadDatabase(format!("the serial {s:?} is not hex")))
}
