//! CUHK's records in SQLite (`PKI/cuhk.db`). Every change that touches more than one row runs
//! in one transaction, so a crash leaves either the old records or the new ones.
//!
//! The roster holds students and members of staff: `person_id` is a student ID or a staff
//! login, and `staff` says which (1 for a staff login). A row is found only by the ID and the
//! kind it was added with. Version 1 databases (students only, `student_id` columns) are
//! upgraded in place when opened.

use super::log::{entries_in, hashes_in, head_in, log_tables, ConnLog, SqliteLogReader};
pub(crate) use super::registrar_tx::decode_hex;
pub use super::registrar_tx::SqliteRegistrarView;
use super::registrar_tx::{on_roster, SqliteRegistrarTx};
use super::{failed, open_migrating, secs, time, Migration};
use crate::store::{
    IssuedRecord, LogHead, LogRecords, RegistrarRecords, RegistrarTx, RegistrarView, RevocationLog,
    RosterEntry, StoreError, ViewOpener,
};
use handin_core::pki::{PersonId, RevokedSerial};
use handin_core::tlog::Hash;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

pub(super) const SCHEMA_VERSION: i64 = 4;
// `roster.failures` and `roster.last_failure_at` are no longer written (wrong codes are not
// counted per ID); they stay so that a database upgraded from version 1 and a new one have the
// same columns.
pub(super) const SCHEMA: &str = "
CREATE TABLE roster (
    person_id       TEXT PRIMARY KEY NOT NULL,
    added_at        INTEGER NOT NULL,
    code_salt       BLOB NOT NULL,
    code_hash       BLOB NOT NULL,
    code_used_at    INTEGER,
    failures        INTEGER NOT NULL DEFAULT 0,
    last_failure_at INTEGER,
    staff           INTEGER NOT NULL DEFAULT 0 CHECK (staff IN (0, 1))
) STRICT;
CREATE TABLE certificates (
    serial     TEXT PRIMARY KEY NOT NULL,
    person_id  TEXT NOT NULL REFERENCES roster(person_id),
    not_before INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    issued_at  INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX certificates_by_person ON certificates(person_id);
CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) STRICT;
";

/// Version 2 to 3: the latest signed CRL is kept (one row: the highest number).
pub(super) const ADD_CRLS: &str = "
CREATE TABLE crls (
    number INTEGER PRIMARY KEY NOT NULL,
    pem    BLOB NOT NULL
) STRICT;
";

/// Version 3 to 4: the log of certificates and revocations.
const ADD_LOG: &str = log_tables!();

/// Version 1 to 2: the roster keeps staff logins beside student IDs, and says which is which.
/// Every row of a version 1 roster is a student. Then 2 to 3 ([`ADD_CRLS`]), 3 to 4
/// ([`ADD_LOG`]).
const MIGRATIONS: &[Migration] = &[
    Migration {
        from: 1,
        sql: "
ALTER TABLE roster RENAME COLUMN student_id TO person_id;
ALTER TABLE certificates RENAME COLUMN student_id TO person_id;
ALTER TABLE roster ADD COLUMN staff INTEGER NOT NULL DEFAULT 0 CHECK (staff IN (0, 1));
DROP INDEX certificates_by_student;
CREATE INDEX certificates_by_person ON certificates(person_id);
",
    },
    Migration {
        from: 2,
        sql: ADD_CRLS,
    },
    Migration {
        from: 3,
        sql: ADD_LOG,
    },
];

/// The `staff` column of a person's roster row.
pub(super) fn staff_flag(id: &PersonId) -> i64 {
    i64::from(matches!(id, PersonId::Staff(_)))
}

/// CUHK's records in one SQLite database.
#[derive(Debug)]
pub struct SqliteRegistrar {
    conn: Connection,
}

impl SqliteRegistrar {
    /// Opens the database at `path`, creating it and its schema if missing, and upgrading a
    /// database of an earlier version.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // A new database gets the version 2 schema and every step after it at once.
        let schema = format!("{SCHEMA}{ADD_CRLS}{ADD_LOG}");
        Ok(Self {
            conn: open_migrating(path, &schema, SCHEMA_VERSION, MIGRATIONS)?,
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
    fn put_person(
        &mut self,
        id: &PersonId,
        salt: &[u8],
        hash: &[u8],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        // A student ID and a staff login never share a spelling, so a row's kind never changes;
        // the WHERE clause keeps it that way whatever is in the file.
        let changed = self
            .conn
            .execute(
                "INSERT INTO roster (person_id, added_at, code_salt, code_hash, staff)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (person_id) DO UPDATE SET
                     code_salt = excluded.code_salt, code_hash = excluded.code_hash,
                     code_used_at = NULL, failures = 0, last_failure_at = NULL
                 WHERE staff = excluded.staff",
                params![id.as_str(), secs(now), salt, hash, staff_flag(id)],
            )
            .map_err(failed(format!("adding {} {id} to the roster", id.kind())))?;
        if changed == 0 {
            return Err(StoreError::BadDatabase(format!(
                "the roster holds {id:?} as another kind of ID than {}",
                id.kind()
            )));
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<Box<dyn RegistrarTx + '_>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed("starting a transaction"))?;
        Ok(Box::new(SqliteRegistrarTx { tx }))
    }

    fn revoke_person(
        &mut self,
        id: &PersonId,
        now: SystemTime,
        log: &mut RevocationLog<'_>,
    ) -> Result<Option<usize>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed("starting a transaction"))?;
        if !on_roster(&tx, id)? {
            return Ok(None);
        }
        let what = || format!("revoking the certificates of {id}");
        // Read and marked in the one transaction: exactly the certificates marked here.
        let serials: Vec<String> = tx
            .prepare(
                "SELECT serial FROM certificates
                 WHERE person_id = ?1 AND revoked_at IS NULL ORDER BY issued_at, rowid",
            )
            .and_then(|mut st| st.query_map([id.as_str()], |r| r.get(0))?.collect())
            .map_err(failed(what()))?;
        let n = tx
            .execute(
                "UPDATE certificates SET revoked_at = ?2
                 WHERE person_id = ?1 AND revoked_at IS NULL",
                params![id.as_str(), secs(now)],
            )
            .map_err(failed(what()))?;
        debug_assert_eq!(n, serials.len());
        // An error drops the transaction: rolled back.
        log(&mut ConnLog(&tx), &serials)?;
        tx.commit().map_err(failed(what()))?;
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

    fn issued(&self, id: &PersonId) -> Result<Vec<IssuedRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.serial, c.not_before, c.not_after, c.issued_at, c.revoked_at
                 FROM certificates c JOIN roster r ON r.person_id = c.person_id
                 WHERE c.person_id = ?1 AND r.staff = ?2 ORDER BY c.issued_at, c.rowid",
            )
            .map_err(failed("listing issued certificates"))?;
        let rows = stmt
            .query_map(params![id.as_str(), staff_flag(id)], |r| {
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

    fn on_roster(&self, id: &PersonId) -> Result<bool, StoreError> {
        on_roster(&self.conn, id)
    }

    fn put_people(
        &mut self,
        people: &[(PersonId, Vec<u8>, Vec<u8>)],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed("starting the roster import"))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO roster (person_id, added_at, code_salt, code_hash, staff)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(failed("importing the roster"))?;
            for (id, salt, hash) in people {
                st.execute(params![id.as_str(), secs(now), salt, hash, staff_flag(id)])
                    .map_err(failed(format!("adding {} {id} to the roster", id.kind())))?;
            }
        }
        tx.commit().map_err(failed("committing the roster import"))
    }

    fn roster(&self) -> Result<Vec<RosterEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT r.person_id, r.added_at, r.code_used_at,
                     (SELECT COUNT(*) FROM certificates c WHERE c.person_id = r.person_id),
                     (SELECT COUNT(*) FROM certificates c
                      WHERE c.person_id = r.person_id AND c.revoked_at IS NOT NULL)
                 FROM roster r ORDER BY r.staff, r.person_id",
            )
            .map_err(failed("listing the roster"))?;
        let rows = st
            .query_map([], |r| {
                let id: String = r.get(0)?;
                let used: Option<i64> = r.get(2)?;
                Ok((
                    id,
                    r.get::<_, i64>(1)?,
                    used,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(failed("listing the roster"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, added, used, certs, revoked) = row.map_err(failed("listing the roster"))?;
            let person = PersonId::parse(&id).map_err(|_| {
                StoreError::BadDatabase(format!("the roster holds {id:?}, which is no ID"))
            })?;
            out.push(RosterEntry {
                person,
                added_at: time(added),
                enrolled_at: used.map(time),
                certificates: u64::try_from(certs).unwrap_or(0),
                revoked: u64::try_from(revoked).unwrap_or(0),
            });
        }
        Ok(out)
    }

    fn views(&self) -> Option<ViewOpener> {
        let path = self.path()?;
        Some(Arc::new(move || {
            let view = SqliteRegistrarView::open(&path)?;
            Ok(Box::new(view) as Box<dyn RegistrarView + Send>)
        }))
    }

    fn put_crl(&mut self, number: u64, pem: &[u8]) -> Result<(), StoreError> {
        let number = i64::try_from(number).map_err(|_| {
            StoreError::BadDatabase(format!("the CRL number {number} does not fit the database"))
        })?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed("keeping the CRL"))?;
        tx.execute(
            "INSERT INTO crls (number, pem) VALUES (?1, ?2)
             ON CONFLICT (number) DO UPDATE SET pem = excluded.pem",
            params![number, pem],
        )
        .map_err(failed("keeping the CRL"))?;
        tx.execute(
            "DELETE FROM crls WHERE number < (SELECT MAX(number) FROM crls)",
            [],
        )
        .map_err(failed("keeping the CRL"))?;
        tx.commit().map_err(failed("keeping the CRL"))
    }

    fn latest_crl(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let found: Option<(i64, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT number, pem FROM crls ORDER BY number DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(failed("reading the latest CRL"))?;
        found
            .map(|(n, pem)| {
                u64::try_from(n)
                    .map(|n| (n, pem))
                    .map_err(|_| StoreError::BadDatabase(format!("the CRL number {n} is negative")))
            })
            .transpose()
    }

    fn log_reader(&self) -> Result<Arc<dyn LogRecords + Send + Sync>, StoreError> {
        let path = self.path().ok_or_else(|| {
            StoreError::BadDatabase("the registrar's database is not a file".into())
        })?;
        Ok(Arc::new(SqliteLogReader::open(&path, SCHEMA_VERSION)?))
    }
}

impl LogRecords for SqliteRegistrar {
    fn log_head(&self) -> Result<Option<LogHead>, StoreError> {
        head_in(&self.conn)
    }

    fn log_entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        entries_in(&self.conn, from, to)
    }

    fn log_hashes(&self, level: u8, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        hashes_in(&self.conn, level, from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RegistrarRecords;

    #[test]
    fn a_version_2_database_is_upgraded_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cuhk.db");
        let v2 = crate::store::sqlite::open(&path, SCHEMA, 2).unwrap();
        v2.execute_batch(
            "INSERT INTO roster (person_id, added_at, code_salt, code_hash, code_used_at, staff)
             VALUES ('1155000001', 10, x'01', x'02', 20, 0), ('lee', 10, x'03', x'04', NULL, 1);
             INSERT INTO certificates (serial, person_id, not_before, not_after, issued_at)
             VALUES ('0A', '1155000001', 20, 30, 20);
             INSERT INTO counters (name, value) VALUES ('crl_number', 7);",
        )
        .unwrap();
        drop(v2);
        let mut reg = SqliteRegistrar::open(&path).unwrap();
        let version: i64 = reg
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let roster = reg.roster().unwrap();
        let ids: Vec<&str> = roster.iter().map(|e| e.person.as_str()).collect();
        assert_eq!(ids, ["1155000001", "lee"]);
        assert_eq!(roster[0].certificates, 1);
        assert_eq!(roster[0].enrolled_at, Some(time(20)));
        assert_eq!(reg.next_crl_number().unwrap(), 8);
        assert_eq!(reg.latest_crl().unwrap(), None);
        assert_eq!(reg.log_head().unwrap(), None);
        reg.put_crl(8, b"crl").unwrap();
        drop(reg);
        // It reopens as it is, with the CRL kept.
        let reg = SqliteRegistrar::open(&path).unwrap();
        assert_eq!(reg.latest_crl().unwrap(), Some((8, b"crl".to_vec())));
        // A reader opens it at the new version.
        assert!(SqliteRegistrarView::open(&path).is_ok());
    }
}
