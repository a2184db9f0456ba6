//! CUHK's records in PostgreSQL ([`PgRegistrar`]): the roster of students and staff with their
//! code hashes, issued certificates, the CRL number and the latest CRL, with the same meaning
//! as the SQLite database. The wrong-code throttle's table belongs to the same schema
//! (`throttle.rs`).
//!
//! A batch of applications ([`RegistrarRecords::begin`]) holds the CUHK advisory lock for its
//! transaction, so batches of several nodes are decided one after the other and a one-time
//! code is spent once: marking it used also requires it unused, and fails otherwise.

use super::board::get;
use super::log::{append_in, entries_in, hashes_in, head_in, ConnLog, PgLogReader, CUHK_LOG};
use super::schema::{check, migrate};
use super::tables::CUHK;
use super::{begin_locked, rollback, secs, signed, time, unsigned, Conn, Pool};
use crate::store::{
    CodeRecord, IssuedRecord, LogHead, LogRecords, LogTx, RegistrarRecords, RegistrarTx,
    RegistrarView, RevocationLog, RosterEntry, StoreError, ViewOpener,
};
use handin_core::pki::{unix_secs, PersonId, RevokedSerial};
use handin_core::rules::enrollment::CertStanding;
use handin_core::tlog::{Hash, Node};
use postgres::Row;
use std::sync::Arc;
use std::time::SystemTime;

/// The advisory lock a batch of applications holds.
const CUHK_LOCK: i64 = 0x6861_6e64_696e_0003;

/// CUHK's records in a PostgreSQL database that several nodes may share.
#[derive(Debug)]
pub struct PgRegistrar {
    pool: Pool,
}

impl PgRegistrar {
    /// Connects to the database at `url` (`postgres://...`), creating or upgrading CUHK's
    /// tables.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let pool = Pool::open(url)?;
        migrate(pool.get()?.client(), &CUHK)?;
        Ok(Self { pool })
    }
}

impl RegistrarRecords for PgRegistrar {
    fn put_person(
        &mut self,
        id: &PersonId,
        salt: &[u8],
        hash: &[u8],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        // Under the lock the batches take, so that a new code never lands between a batch
        // reading the old one and marking it used. A row's kind never changes: the WHERE
        // clause keeps it that way whatever is stored.
        let what = format!("adding {} {id} to the roster", id.kind());
        let changed = conn.transaction(what, Some(CUHK_LOCK), |c| {
            c.execute(
                "INSERT INTO roster (person_id, added_at, code_salt, code_hash, staff)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (person_id) DO UPDATE SET
                     code_salt = excluded.code_salt, code_hash = excluded.code_hash,
                     code_used_at = NULL
                 WHERE roster.staff = excluded.staff",
                &[&id.as_str(), &secs(now), &salt, &hash, &is_staff(id)],
            )
        })?;
        if changed == 0 {
            return Err(StoreError::BadDatabase(format!(
                "the roster holds {id:?} as another kind of ID than {}",
                id.kind()
            )));
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<Box<dyn RegistrarTx + '_>, StoreError> {
        let mut conn = self.pool.get()?;
        let started = conn.client().batch_execute("BEGIN").and_then(|()| {
            conn.client()
                .execute("SELECT pg_advisory_xact_lock($1)", &[&CUHK_LOCK])
        });
        started.map_err(conn.failed("starting a batch of applications"))?;
        Ok(Box::new(PgRegistrarTx { conn, open: true }))
    }

    fn revoke_person(
        &mut self,
        id: &PersonId,
        now: SystemTime,
        log: &mut RevocationLog<'_>,
    ) -> Result<Option<usize>, StoreError> {
        let what = format!("revoking the certificates of {id}");
        // Under the lock the batches take: a renewal decided in a batch is then either refused
        // (its certificate already revoked) or revoked here with the others.
        let mut conn = begin_locked(&self.pool, CUHK_LOCK, &what)?;
        match revoke_in(&mut conn, id, now, log) {
            Ok(Some(n)) => {
                let done = conn.client().batch_execute("COMMIT");
                done.map_err(conn.failed(what))?;
                Ok(Some(n))
            }
            other => {
                rollback(&mut conn, true, "a revocation");
                other
            }
        }
    }

    fn revoked(&self) -> Result<Vec<RevokedSerial>, StoreError> {
        let mut conn = self.pool.get()?;
        let rows = conn.client().query(
            "SELECT serial, revoked_at FROM certificates
             WHERE revoked_at IS NOT NULL ORDER BY revoked_at, serial",
            &[],
        );
        let rows = rows.map_err(conn.failed("listing revoked certificates"))?;
        rows.iter()
            .map(|r| {
                Ok(RevokedSerial {
                    serial: crate::store::sqlite::registrar::decode_hex(get(r, 0)?)?,
                    revoked_at: time(get(r, 1)?),
                })
            })
            .collect()
    }

    fn next_crl_number(&mut self) -> Result<u64, StoreError> {
        let mut conn = self.pool.get()?;
        let row = conn.client().query_one(
            "INSERT INTO counters (name, value) VALUES ('crl_number', 1)
             ON CONFLICT (name) DO UPDATE SET value = counters.value + 1
             RETURNING value",
            &[],
        );
        let n: i64 = row
            .and_then(|r| r.try_get(0))
            .map_err(conn.failed("incrementing the CRL number"))?;
        unsigned(n, "the CRL number")
    }

    fn issued(&self, id: &PersonId) -> Result<Vec<IssuedRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        let rows = conn.client().query(
            "SELECT c.serial, c.not_before, c.not_after, c.issued_at, c.revoked_at
             FROM certificates c JOIN roster r ON r.person_id = c.person_id
             WHERE c.person_id = $1 AND r.staff = $2 ORDER BY c.issued_at, c.seq",
            &[&id.as_str(), &is_staff(id)],
        );
        let rows = rows.map_err(conn.failed("listing issued certificates"))?;
        rows.iter()
            .map(|r| {
                Ok(IssuedRecord {
                    serial_hex: get(r, 0)?,
                    not_before: time(get(r, 1)?),
                    not_after: time(get(r, 2)?),
                    issued_at: time(get(r, 3)?),
                    revoked_at: get::<Option<i64>>(r, 4)?.map(time),
                })
            })
            .collect()
    }

    fn on_roster(&self, id: &PersonId) -> Result<bool, StoreError> {
        let mut conn = self.pool.get()?;
        let row = conn
            .client()
            .query_one(ON_ROSTER, &[&id.as_str(), &is_staff(id)]);
        row.and_then(|r| r.try_get(0))
            .map_err(conn.failed("reading the roster"))
    }

    fn put_people(
        &mut self,
        people: &[(PersonId, Vec<u8>, Vec<u8>)],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        conn.transaction("importing the roster", Some(CUHK_LOCK), |c| {
            let st = c.prepare(
                "INSERT INTO roster (person_id, added_at, code_salt, code_hash, staff)
                 VALUES ($1, $2, $3, $4, $5)",
            )?;
            for (id, salt, hash) in people {
                c.execute(&st, &[&id.as_str(), &secs(now), salt, hash, &is_staff(id)])?;
            }
            Ok(())
        })
    }

    fn roster(&self) -> Result<Vec<RosterEntry>, StoreError> {
        let mut conn = self.pool.get()?;
        let rows = conn.client().query(
            "SELECT r.person_id, r.added_at, r.code_used_at,
                 (SELECT COUNT(*) FROM certificates c WHERE c.person_id = r.person_id),
                 (SELECT COUNT(*) FROM certificates c
                  WHERE c.person_id = r.person_id AND c.revoked_at IS NOT NULL)
             FROM roster r ORDER BY r.staff, r.person_id",
            &[],
        );
        let rows = rows.map_err(conn.failed("listing the roster"))?;
        rows.iter()
            .map(|r| {
                let id: &str = get(r, 0)?;
                let person = PersonId::parse(id).map_err(|_| {
                    StoreError::BadDatabase(format!("the roster holds {id:?}, which is no ID"))
                })?;
                Ok(RosterEntry {
                    person,
                    added_at: time(get(r, 1)?),
                    enrolled_at: get::<Option<i64>>(r, 2)?.map(time),
                    certificates: unsigned(get(r, 3)?, "a certificate count")?,
                    revoked: unsigned(get(r, 4)?, "a certificate count")?,
                })
            })
            .collect()
    }

    fn views(&self) -> Option<ViewOpener> {
        let config = self.pool.config().clone();
        Some(Arc::new(move || {
            let view = PgRegistrarView::connect(Pool::with_config(config.clone()))?;
            Ok(Box::new(view) as Box<dyn RegistrarView + Send>)
        }))
    }

    fn put_crl(&mut self, number: u64, pem: &[u8]) -> Result<(), StoreError> {
        let number = signed(number, "the CRL number")?;
        let mut conn = self.pool.get()?;
        conn.transaction("keeping the CRL", Some(CUHK_LOCK), |c| {
            c.execute(
                "INSERT INTO crls (number, pem) VALUES ($1, $2)
                 ON CONFLICT (number) DO UPDATE SET pem = excluded.pem",
                &[&number, &pem],
            )?;
            c.execute(
                "DELETE FROM crls WHERE number < (SELECT MAX(number) FROM crls)",
                &[],
            )?;
            Ok(())
        })
    }

    fn latest_crl(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let mut conn = self.pool.get()?;
        let row = conn.client().query_opt(
            "SELECT number, pem FROM crls ORDER BY number DESC LIMIT 1",
            &[],
        );
        let row = row.map_err(conn.failed("reading the latest CRL"))?;
        row.map(|r| Ok((unsigned(get(&r, 0)?, "the CRL number")?, get(&r, 1)?)))
            .transpose()
    }

    fn log_reader(&self) -> Result<Arc<dyn LogRecords + Send + Sync>, StoreError> {
        let pool = Pool::with_config(self.pool.config().clone());
        Ok(Arc::new(PgLogReader::new(pool, &CUHK_LOG)))
    }
}

impl LogRecords for PgRegistrar {
    fn log_head(&self) -> Result<Option<LogHead>, StoreError> {
        head_in(&mut self.pool.get()?, &CUHK_LOG)
    }

    fn log_entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        entries_in(&mut self.pool.get()?, &CUHK_LOG, from, to)
    }

    fn log_hashes(&self, level: u8, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        hashes_in(&mut self.pool.get()?, &CUHK_LOG, level, from, to)
    }
}

/// [`RegistrarRecords::revoke_person`] in the transaction on `conn`, up to its commit.
fn revoke_in(
    conn: &mut Conn<'_>,
    id: &PersonId,
    now: SystemTime,
    log: &mut RevocationLog<'_>,
) -> Result<Option<usize>, StoreError> {
    let what = || format!("revoking the certificates of {id}");
    let on_roster = conn
        .client()
        .query_one(ON_ROSTER, &[&id.as_str(), &is_staff(id)])
        .and_then(|r| r.try_get::<_, bool>(0));
    if !on_roster.map_err(conn.failed(what()))? {
        return Ok(None);
    }
    let rows = conn.client().query(
        "UPDATE certificates SET revoked_at = $2
         WHERE person_id = $1 AND revoked_at IS NULL
         RETURNING serial, issued_at, seq",
        &[&id.as_str(), &secs(now)],
    );
    let rows = rows.map_err(conn.failed(what()))?;
    let mut revoked = rows
        .iter()
        .map(|r| Ok((get::<i64>(r, 1)?, get::<i64>(r, 2)?, get::<String>(r, 0)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    // In the order they were issued, as the SQLite store says them.
    revoked.sort();
    let serials: Vec<String> = revoked.into_iter().map(|(_, _, s)| s).collect();
    log(
        &mut ConnLog {
            conn,
            sql: &CUHK_LOG,
        },
        &serials,
    )?;
    Ok(Some(serials.len()))
}

const ON_ROSTER: &str = "SELECT EXISTS (SELECT 1 FROM roster WHERE person_id = $1 AND staff = $2)";

/// The `staff` column of a person's roster row.
fn is_staff(id: &PersonId) -> bool {
    matches!(id, PersonId::Staff(_))
}

/// A batch's transaction, on the connection it holds for its whole life.
struct PgRegistrarTx<'a> {
    conn: Conn<'a>,
    /// Not committed nor rolled back yet.
    open: bool,
}

impl RegistrarView for PgRegistrarTx<'_> {
    fn code(&mut self, id: &PersonId) -> Result<Option<CodeRecord>, StoreError> {
        code_in(&mut self.conn, id)
    }

    fn certificate(
        &mut self,
        id: &PersonId,
        serial_hex: &str,
    ) -> Result<Option<CertStanding>, StoreError> {
        certificate_in(&mut self.conn, id, serial_hex)
    }
}

impl RegistrarTx for PgRegistrarTx<'_> {
    fn record_certificate(
        &mut self,
        id: &PersonId,
        record: &IssuedRecord,
    ) -> Result<(), StoreError> {
        let done = self.conn.client().execute(
            "INSERT INTO certificates (serial, person_id, not_before, not_after, issued_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &record.serial_hex,
                &id.as_str(),
                &secs(record.not_before),
                &secs(record.not_after),
                &secs(record.issued_at),
            ],
        );
        done.map_err(self.conn.failed("recording the certificate"))?;
        Ok(())
    }

    fn mark_code_used(&mut self, id: &PersonId, now: SystemTime) -> Result<(), StoreError> {
        let changed = self.conn.client().execute(
            "UPDATE roster SET code_used_at = $2
             WHERE person_id = $1 AND staff = $3 AND code_used_at IS NULL",
            &[&id.as_str(), &secs(now), &is_staff(id)],
        );
        let changed = changed.map_err(self.conn.failed("marking the code used"))?;
        if changed == 0 {
            return Err(crate::store::code_not_spent(id));
        }
        Ok(())
    }

    fn log(&mut self) -> &mut dyn LogTx {
        self
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.open = false;
        let done = self.conn.client().batch_execute("COMMIT");
        done.map_err(self.conn.failed("committing"))
    }
}

impl LogTx for PgRegistrarTx<'_> {
    fn log_head(&mut self) -> Result<Option<LogHead>, StoreError> {
        head_in(&mut self.conn, &CUHK_LOG)
    }

    fn log_append(
        &mut self,
        first: u64,
        entries: &[Vec<u8>],
        nodes: &[Node],
        head: &LogHead,
    ) -> Result<(), StoreError> {
        append_in(&mut self.conn, &CUHK_LOG, first, entries, nodes, head)
    }
}

impl Drop for PgRegistrarTx<'_> {
    fn drop(&mut self) {
        super::rollback(&mut self.conn, self.open, "a batch of applications");
    }
}

/// A view of CUHK's committed records on a connection of its own (reconnecting if it drops).
#[derive(Debug)]
pub struct PgRegistrarView {
    pool: Pool,
}

impl PgRegistrarView {
    /// Connects to the database at `url`, whose CUHK schema must be at this program's version.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::connect(Pool::open(url)?)
    }

    fn connect(pool: Pool) -> Result<Self, StoreError> {
        check(pool.get()?.client(), &CUHK)?;
        Ok(Self { pool })
    }
}

impl RegistrarView for PgRegistrarView {
    fn code(&mut self, id: &PersonId) -> Result<Option<CodeRecord>, StoreError> {
        code_in(&mut self.pool.get()?, id)
    }

    fn certificate(
        &mut self,
        id: &PersonId,
        serial_hex: &str,
    ) -> Result<Option<CertStanding>, StoreError> {
        certificate_in(&mut self.pool.get()?, id, serial_hex)
    }
}

fn code_in(conn: &mut Conn<'_>, id: &PersonId) -> Result<Option<CodeRecord>, StoreError> {
    let row = conn.client().query_opt(
        "SELECT code_salt, code_hash, code_used_at FROM roster
         WHERE person_id = $1 AND staff = $2",
        &[&id.as_str(), &is_staff(id)],
    );
    let row = row.map_err(conn.failed("reading the roster"))?;
    row.map(|r: Row| {
        Ok(CodeRecord {
            salt: get(&r, 0)?,
            hash: get(&r, 1)?,
            used: get::<Option<i64>>(&r, 2)?.is_some(),
        })
    })
    .transpose()
}

fn certificate_in(
    conn: &mut Conn<'_>,
    id: &PersonId,
    serial_hex: &str,
) -> Result<Option<CertStanding>, StoreError> {
    let row = conn.client().query_opt(
        "SELECT c.not_before, c.not_after, c.revoked_at
         FROM certificates c JOIN roster r ON r.person_id = c.person_id
         WHERE c.serial = $1 AND c.person_id = $2 AND r.staff = $3",
        &[&serial_hex, &id.as_str(), &is_staff(id)],
    );
    let row = row.map_err(conn.failed("reading the certificate records"))?;
    let unsigned_time = |t: i64| unix_secs(time(t));
    row.map(|r: Row| {
        Ok(CertStanding {
            not_before: unsigned_time(get(&r, 0)?),
            not_after: unsigned_time(get(&r, 1)?),
            revoked: get::<Option<i64>>(&r, 2)?.is_some(),
        })
    })
    .transpose()
}
