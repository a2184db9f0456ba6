//! CUHK's batch transaction ([`SqliteRegistrarTx`]) and read-only view
//! ([`SqliteRegistrarView`]) on SQLite, and the reads they share with the registrar.

use super::log::ConnLog;
use super::open_read_only;
use super::registrar::{staff_flag, SCHEMA_VERSION};
use super::{failed, secs, time};
use crate::store::{
    CodeRecord, IssuedRecord, LogHead, LogTx, RegistrarTx, RegistrarView, StoreError,
};
use handin_core::pki::{unix_secs, PersonId};
use handin_core::rules::enrollment::CertStanding;
use handin_core::tlog::Node;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::time::SystemTime;

/// A batch's transaction, on the registrar's connection.
pub(super) struct SqliteRegistrarTx<'a> {
    pub(super) tx: rusqlite::Transaction<'a>,
}

impl RegistrarView for SqliteRegistrarTx<'_> {
    fn code(&mut self, id: &PersonId) -> Result<Option<CodeRecord>, StoreError> {
        code_in(&self.tx, id)
    }

    fn certificate(
        &mut self,
        id: &PersonId,
        serial_hex: &str,
    ) -> Result<Option<CertStanding>, StoreError> {
        certificate_in(&self.tx, id, serial_hex)
    }
}

impl RegistrarTx for SqliteRegistrarTx<'_> {
    fn record_certificate(
        &mut self,
        id: &PersonId,
        record: &IssuedRecord,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO certificates (serial, person_id, not_before, not_after, issued_at)
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

    fn mark_code_used(&mut self, id: &PersonId, now: SystemTime) -> Result<(), StoreError> {
        let changed = self
            .tx
            .prepare_cached(
                "UPDATE roster SET code_used_at = ?2
                 WHERE person_id = ?1 AND staff = ?3 AND code_used_at IS NULL",
            )
            .and_then(|mut stmt| stmt.execute(params![id.as_str(), secs(now), staff_flag(id)]))
            .map_err(failed("marking the code used"))?;
        if changed == 0 {
            return Err(crate::store::code_not_spent(id));
        }
        Ok(())
    }

    fn log(&mut self) -> &mut dyn LogTx {
        self
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().map_err(failed("committing"))
    }
}

impl LogTx for SqliteRegistrarTx<'_> {
    fn log_head(&mut self) -> Result<Option<LogHead>, StoreError> {
        ConnLog(&self.tx).log_head()
    }

    fn log_append(
        &mut self,
        first: u64,
        entries: &[Vec<u8>],
        nodes: &[Node],
        head: &LogHead,
    ) -> Result<(), StoreError> {
        ConnLog(&self.tx).log_append(first, entries, nodes, head)
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
    fn code(&mut self, id: &PersonId) -> Result<Option<CodeRecord>, StoreError> {
        code_in(&self.conn, id)
    }

    fn certificate(
        &mut self,
        id: &PersonId,
        serial_hex: &str,
    ) -> Result<Option<CertStanding>, StoreError> {
        certificate_in(&self.conn, id, serial_hex)
    }
}

pub(super) fn on_roster(conn: &Connection, id: &PersonId) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM roster WHERE person_id = ?1 AND staff = ?2)",
        params![id.as_str(), staff_flag(id)],
        |r| r.get(0),
    )
    .map_err(failed("reading the roster"))
}

fn code_in(conn: &Connection, id: &PersonId) -> Result<Option<CodeRecord>, StoreError> {
    conn.prepare_cached(
        "SELECT code_salt, code_hash, code_used_at FROM roster
         WHERE person_id = ?1 AND staff = ?2",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![id.as_str(), staff_flag(id)], |r| {
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
    id: &PersonId,
    serial_hex: &str,
) -> Result<Option<CertStanding>, StoreError> {
    let unsigned = |t: i64| unix_secs(time(t));
    conn.prepare_cached(
        "SELECT c.not_before, c.not_after, c.revoked_at
         FROM certificates c JOIN roster r ON r.person_id = c.person_id
         WHERE c.serial = ?1 AND c.person_id = ?2 AND r.staff = ?3",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![serial_hex, id.as_str(), staff_flag(id)], |r| {
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
