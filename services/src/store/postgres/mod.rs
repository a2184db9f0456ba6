//! The PostgreSQL implementations of the storage traits, for several server processes
//! ("nodes") sharing one database: [`PgBoard`] (Blackboard), [`PgRegistrar`] (CUHK) and
//! [`PgThrottle`] (CUHK's wrong-code throttle).
//!
//! This file holds what they share: reading a `postgres://` or `postgresql://` URL
//! ([`is_postgres_url`]), a small connection pool that recovers by itself after PostgreSQL
//! restarts, and the mapping of errors into [`StoreError`]. The schemas are in `tables.rs`, their
//! migrations in `schema.rs`, each component's transparency log in `log.rs`.
//!
//! Connections are made without TLS: the database is expected on a Unix socket
//! (`postgres://handin@/handin?host=/run/postgresql`) or on loopback. A URL asking for TLS
//! (`sslmode=require`) fails to connect.
//!
//! Nodes stay correct together because every transaction that must not interleave with
//! another node's takes a PostgreSQL advisory lock first (the same as SQLite's
//! `BEGIN IMMEDIATE`, across processes): a batch of submissions, a batch of enrollments, a
//! schema check.

mod board;
mod commitments;
mod course;
mod facts;
#[cfg(any(test, feature = "local-postgres"))]
pub mod local;
mod log;
#[cfg(test)]
mod nodes_tests;
mod registrar;
pub(crate) mod schema;
mod tables;
#[cfg(test)]
pub(crate) mod tests;
mod throttle;

pub use board::PgBoard;
pub use log::PgLogReader;
pub use registrar::{PgRegistrar, PgRegistrarView};
pub use throttle::PgThrottle;

use super::StoreError;
use postgres::{Client, Config, NoTls, Statement};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// How long connecting may take before it is given up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections a pool keeps at most; more are closed when returned.
const MAX_IDLE: usize = 64;

/// Whether `s` names a PostgreSQL database (a `postgres://` or `postgresql://` URL) rather than
/// a file.
pub fn is_postgres_url(s: &str) -> bool {
    let lower = s.get(..13).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// Wraps a PostgreSQL error with what was being done.
fn failed(what: impl Into<String>) -> impl FnOnce(postgres::Error) -> StoreError {
    move |source| StoreError::Database {
        what: what.into(),
        source: Box::new(PgError(source)),
    }
}

/// A PostgreSQL error that says what went wrong in its message: the server's message and
/// SQLSTATE, or the client's error and its cause (the client's own message is often only
/// "db error").
#[derive(Debug)]
struct PgError(postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(db) = self.0.as_db_error() {
            return write!(
                f,
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
        }
        write!(f, "{}", self.0)?;
        match std::error::Error::source(&self.0) {
            Some(cause) => write!(f, ": {cause}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for PgError {}

/// Seconds since the Unix epoch, as the database keeps times.
fn secs(t: SystemTime) -> i64 {
    i64::try_from(handin_core::pki::unix_secs(t)).unwrap_or(i64::MAX)
}

/// A time kept as seconds since the Unix epoch.
fn time(secs: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// A column that must hold a number that is not negative.
fn unsigned(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::BadDatabase(format!("the database holds {what} {value}")))
}

/// A number to store in a BIGINT column.
fn signed(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::BadDatabase(format!("{what} {value} does not fit the database")))
}

/// Reads a connection URL into the client's configuration, with handin's connect timeout and
/// application name.
fn config(url: &str) -> Result<Config, StoreError> {
    if !is_postgres_url(url) {
        return Err(StoreError::BadDatabase(format!(
            "{url:?} is not a PostgreSQL URL (postgres://user@host/database)"
        )));
    }
    let mut config: Config = url.parse().map_err(failed("reading the PostgreSQL URL"))?;
    config.connect_timeout(CONNECT_TIMEOUT);
    // A server that vanished without closing (a machine lost) is noticed by TCP keepalives,
    // and no statement (a batch waiting for the lock a hung node holds, say) waits forever:
    // it fails, and the request is refused with "try again".
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30));
    if config.get_options().is_none() {
        config.options("-c lock_timeout=30s -c statement_timeout=120s");
    }
    if config.get_application_name().is_none() {
        config.application_name("handin");
    }
    Ok(config)
}

/// Where a configuration points, for messages (never the password).
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!(
        "database {} on {}",
        config.get_dbname().unwrap_or("(default)"),
        if hosts.is_empty() {
            "(default host)".to_owned()
        } else {
            hosts.join(",")
        }
    )
}

/// A few connections to one database, opened on demand. A connection that was closed, or
/// that failed in any way, is not reused: the next use opens a new one, so that the pool
/// recovers by itself after PostgreSQL restarts. One that sat idle for [`CHECK_AFTER`] is asked
/// first whether it still works (a server restarted meanwhile closed it without the client
/// knowing), so that a restart during a quiet moment costs no request a refusal.
pub(crate) struct Pool {
    config: Config,
    idle: Mutex<Vec<Idle>>,
}

/// The statements a connection has prepared, by their text: the frequent queries are parsed
/// and planned once per connection, and then take one round trip each instead of two.
type Statements = HashMap<&'static str, Statement>;

/// An idle connection, its prepared statements, and since when it is idle.
type Idle = (Client, Statements, Instant);

/// How long a connection may sit idle before it is checked when taken again.
const CHECK_AFTER: Duration = Duration::from_secs(1);
/// How long that check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("target", &describe(&self.config))
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool for the database at `url`; connects once to check that it can.
    pub(crate) fn open(url: &str) -> Result<Self, StoreError> {
        let pool = Self::with_config(config(url)?);
        drop(pool.get()?);
        Ok(pool)
    }

    /// A pool for the database `config` names, connecting only when first used.
    pub(crate) fn with_config(config: Config) -> Self {
        Self {
            config,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The configuration its connections are made with.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// A connection: an idle one that is still open (and, after a pause, still answers), else
    /// a new one.
    pub(crate) fn get(&self) -> Result<Conn<'_>, StoreError> {
        let reused = loop {
            let next = {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                idle.retain(|(c, _, _)| !c.is_closed());
                idle.pop()
            };
            match next {
                Some((mut c, statements, since)) => {
                    if since.elapsed() < CHECK_AFTER || c.is_valid(CHECK_TIMEOUT).is_ok() {
                        break Some((c, statements));
                    }
                    // One gone: the server restarted or is unreachable, and the other idle
                    // ones with it; a new connection says which, without checking each.
                    self.idle
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clear();
                }
                None => break None,
            }
        };
        let (client, statements) = match reused {
            Some(reused) => reused,
            None => (
                self.config
                    .connect(NoTls)
                    .map_err(failed(format!("connecting to {}", describe(&self.config))))?,
                Statements::new(),
            ),
        };
        Ok(Conn {
            pool: self,
            client: Some(client),
            statements,
            broken: Cell::new(false),
        })
    }
}

/// A connection taken from a [`Pool`], given back when dropped unless it failed.
pub(crate) struct Conn<'a> {
    pool: &'a Pool,
    client: Option<Client>,
    statements: Statements,
    broken: Cell<bool>,
}

impl Conn<'_> {
    /// `sql` prepared on this connection (once; then from its cache), and the client to run it
    /// on.
    pub(crate) fn prepared(
        &mut self,
        sql: &'static str,
    ) -> Result<(&mut Client, Statement), postgres::Error> {
        let client = self
            .client
            .as_mut()
            .expect("a pooled connection holds its client until it is dropped");
        let statement = match self.statements.get(sql) {
            Some(s) => s.clone(),
            None => {
                let s = client.prepare(sql)?;
                self.statements.insert(sql, s.clone());
                s
            }
        };
        Ok((client, statement))
    }

    /// [`failed`], also marking the connection not to be reused.
    pub(crate) fn failed(
        &self,
        what: impl Into<String>,
    ) -> impl FnOnce(postgres::Error) -> StoreError + '_ {
        let what = what.into();
        move |source| {
            self.broken.set(true);
            failed(what)(source)
        }
    }

    /// Whether an operation on it failed.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.get()
    }

    /// Runs `f` in a transaction on this connection (first taking the advisory lock `lock`, if
    /// given) and commits it. On failure the connection is closed, not reused, which ends the
    /// transaction on the server.
    pub(crate) fn transaction<T>(
        &mut self,
        what: impl Into<String>,
        lock: Option<i64>,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let client = self.client();
        let done = (|| {
            client.batch_execute("BEGIN")?;
            if let Some(key) = lock {
                client.execute("SELECT pg_advisory_xact_lock($1)", &[&key])?;
            }
            let value = f(client)?;
            client.batch_execute("COMMIT")?;
            Ok(value)
        })();
        done.map_err(self.failed(what))
    }

    /// The client.
    pub(crate) fn client(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("a pooled connection holds its client until it is dropped")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if self.broken.get() || client.is_closed() {
            return;
        }
        let mut idle = self
            .pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push((client, std::mem::take(&mut self.statements), Instant::now()));
        }
    }
}

/// Takes a connection, starts a transaction on it and waits for the advisory lock `key`.
fn begin_locked<'a>(pool: &'a Pool, key: i64, what: &str) -> Result<Conn<'a>, StoreError> {
    let mut conn = pool.get()?;
    let done = conn.client().batch_execute("BEGIN");
    done.map_err(conn.failed(what))?;
    let locked = conn
        .prepared("SELECT pg_advisory_xact_lock($1)")
        .and_then(|(c, st)| c.execute(&st, &[&key]));
    locked.map_err(conn.failed(what))?;
    Ok(conn)
}

/// Rolls back the open transaction on `conn`, if it is open and the connection still good
/// (a broken connection is closed, which ends its transaction on the server).
fn rollback(conn: &mut Conn<'_>, open: bool, what: &str) {
    if open && !conn.is_broken() {
        let done = conn.client().batch_execute("ROLLBACK");
        if let Err(e) = done.map_err(conn.failed("rolling back")) {
            tracing::error!(error = %e, "rolling back {what}");
        }
    }
}
