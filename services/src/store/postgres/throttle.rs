//! The wrong-code throttle's state in PostgreSQL ([`PgThrottle`]), shared by every CUHK node:
//! one row per source address with the time its count of wrong codes is back to zero, kept in
//! milliseconds since the Unix epoch. Every call is one SQL statement, so nodes never race.

use super::schema::migrate;
use super::tables::CUHK;
use super::Pool;
use crate::store::{StoreError, ThrottleRecords};
use std::time::{Duration, SystemTime};

/// The throttle table of a PostgreSQL database that several CUHK nodes share.
#[derive(Debug)]
pub struct PgThrottle {
    pool: Pool,
}

impl PgThrottle {
    /// Connects to the database at `url` (`postgres://...`), creating or upgrading CUHK's
    /// tables (the throttle's among them).
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let pool = Pool::open(url)?;
        migrate(pool.get()?.client(), &CUHK)?;
        Ok(Self { pool })
    }
}

/// Milliseconds since the Unix epoch (0 before it, the largest number after year 292 million).
fn millis(t: SystemTime) -> i64 {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A time kept in milliseconds since the Unix epoch.
fn from_millis(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl ThrottleRecords for PgThrottle {
    fn until(&self, source: &str) -> Result<Option<SystemTime>, StoreError> {
        let mut conn = self.pool.get()?;
        let row = conn.client().query_opt(
            "SELECT until_ms FROM throttle WHERE source = $1",
            &[&source],
        );
        let ms: Option<i64> = row
            .and_then(|r| r.map(|r| r.try_get(0)).transpose())
            .map_err(conn.failed("reading the throttle"))?;
        Ok(ms.map(from_millis))
    }

    fn push(
        &self,
        source: &str,
        now: SystemTime,
        interval: Duration,
    ) -> Result<SystemTime, StoreError> {
        let interval = i64::try_from(interval.as_millis()).map_err(|_| {
            StoreError::BadDatabase(format!("the throttle interval {interval:?} is too long"))
        })?;
        let mut conn = self.pool.get()?;
        let row = conn.client().query_one(
            "INSERT INTO throttle (source, until_ms) VALUES ($1, $2::BIGINT + $3::BIGINT)
             ON CONFLICT (source) DO UPDATE
                 SET until_ms = GREATEST(throttle.until_ms, $2::BIGINT) + $3::BIGINT
             RETURNING until_ms",
            &[&source, &millis(now), &interval],
        );
        let ms: i64 = row
            .and_then(|r| r.try_get(0))
            .map_err(conn.failed(format!("throttling {source}")))?;
        Ok(from_millis(ms))
    }

    fn forget_before(&self, now: SystemTime) -> Result<usize, StoreError> {
        let mut conn = self.pool.get()?;
        let n = conn
            .client()
            .execute("DELETE FROM throttle WHERE until_ms < $1", &[&millis(now)]);
        let n = n.map_err(conn.failed("forgetting throttled sources"))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
