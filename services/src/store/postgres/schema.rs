//! Schemas in a shared PostgreSQL database: each component (`blackboard`, `cuhk`) records its
//! schema version in the table `handin_schema`, and is created or upgraded when a node opens
//! it, under an advisory lock so that nodes starting at once do not race.
//!
//! Blackboard's and CUHK's tables may live in the same database: their names differ.

use super::failed;
use crate::store::StoreError;
use postgres::Client;

/// The advisory lock held while a schema is checked, created or upgraded.
const SCHEMA_LOCK: i64 = 0x6861_6e64_696e_0001;

/// One step of a component's history: the SQL that takes it from version `from` to
/// `from + 1`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    /// The version the step starts from.
    pub from: i32,
    /// The statements.
    pub sql: &'static str,
}

/// A component's tables: its first schema (version 1), the version this program knows, and the
/// steps that bring version 1 or any later one up to it. A new database gets the first schema
/// and every step after it at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Component {
    /// The name in `handin_schema`.
    pub name: &'static str,
    /// The version this program knows.
    pub version: i32,
    /// The schema at version 1.
    pub schema: &'static str,
    /// The steps from version 1 on.
    pub steps: &'static [Step],
}

/// Creates the component's tables if it has none, or upgrades them step by step, all in one
/// transaction under the schema lock; refuses a version newer than the component's.
pub(crate) fn migrate(client: &mut Client, c: &Component) -> Result<(), StoreError> {
    let what = |doing: &str| format!("{doing} ({} schema)", c.name);
    let mut tx = client
        .transaction()
        .map_err(failed(what("starting the schema check")))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .map_err(failed(what("waiting for the schema lock")))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS handin_schema (
             component TEXT PRIMARY KEY,
             version   INTEGER NOT NULL
         )",
    )
    .map_err(failed(what("creating handin_schema")))?;
    let found: Option<i32> = tx
        .query_opt(
            "SELECT version FROM handin_schema WHERE component = $1",
            &[&c.name],
        )
        .map_err(failed(what("reading the schema version")))?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(failed(what("reading the schema version")))?;
    match found {
        None => {
            tx.batch_execute(c.schema)
                .map_err(failed(what("creating the schema")))?;
            upgrade(&mut tx, c, 1)?;
            tx.execute(
                "INSERT INTO handin_schema (component, version) VALUES ($1, $2)",
                &[&c.name, &c.version],
            )
            .map_err(failed(what("recording the schema version")))?;
        }
        Some(v) if v == c.version => {}
        Some(v) if v > c.version => return Err(newer(c, v)),
        Some(v) => {
            upgrade(&mut tx, c, v)?;
            tx.execute(
                "UPDATE handin_schema SET version = $2 WHERE component = $1",
                &[&c.name, &c.version],
            )
            .map_err(failed(what("recording the schema version")))?;
        }
    }
    tx.commit().map_err(failed(what("committing the schema")))
}

/// Runs the component's steps from version `from` up to its version, in `tx`.
fn upgrade(tx: &mut postgres::Transaction<'_>, c: &Component, from: i32) -> Result<(), StoreError> {
    let mut at = from;
    while at < c.version {
        let Some(step) = c.steps.iter().find(|s| s.from == at) else {
            return Err(StoreError::BadDatabase(format!(
                "the database's {} schema is version {from}, which cannot be upgraded past \
                 version {at} to the version {} this program knows",
                c.name, c.version
            )));
        };
        tx.batch_execute(step.sql).map_err(failed(format!(
            "upgrading the schema from version {at} to {} ({} schema)",
            at + 1,
            c.name
        )))?;
        at += 1;
    }
    Ok(())
}

/// Checks, without changing anything, that the component's schema is at its version.
pub(crate) fn check(client: &mut Client, c: &Component) -> Result<(), StoreError> {
    let found: Option<i32> = client
        .query_opt(
            "SELECT version FROM handin_schema WHERE component = $1",
            &[&c.name],
        )
        .map_err(failed(format!("reading the {} schema version", c.name)))?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(failed(format!("reading the {} schema version", c.name)))?;
    match found {
        Some(v) if v == c.version => Ok(()),
        Some(v) if v > c.version => Err(newer(c, v)),
        Some(v) => Err(StoreError::BadDatabase(format!(
            "the database's {} schema is version {v}, not the version {} this program knows",
            c.name, c.version
        ))),
        None => Err(StoreError::BadDatabase(format!(
            "the database has no {} schema",
            c.name
        ))),
    }
}

fn newer(c: &Component, found: i32) -> StoreError {
    StoreError::BadDatabase(format!(
        "the database's {} schema is version {found}, newer than the version {} this program \
         knows: upgrade handin",
        c.name, c.version
    ))
}
