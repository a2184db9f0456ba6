//! Where a [`Campus`](crate::Campus)'s servers keep their records: SQLite files in the data
//! and PKI directories (the default), or PostgreSQL, one database per data directory and one
//! for CUHK, with the submitted files still in the data directory (`--db URL --blobs DIR`).
//!
//! PostgreSQL is chosen for the whole test process, in one of two ways, read afresh by every
//! [`Campus`](crate::Campus) (so the order the tests run in does not matter):
//!
//! - the environment variable `HANDIN_TEST_DB=postgres` (`sqlite` or unset: SQLite; anything
//!   else is refused), to run any test file on PostgreSQL by hand;
//! - the test executable's name starting with `on_postgres` (cargo names it after the test
//!   file, `tests/tests/on_postgres.rs`), which compiles chosen scenario files a second time so
//!   that `cargo test --workspace` runs them on both stores.
//!
//! The PostgreSQL server is one per test process ([`shared_postgres`]), started when the first
//! campus needs it; each campus gets databases of its own on it. A watcher process that
//! `LocalPostgres` starts stops the server and removes its directory when the test process
//! ends, however it ends.

use handin_services::store::postgres::local::LocalPostgres;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Whether this test process keeps the campus's records in PostgreSQL (see the module docs).
pub fn postgres_wanted() -> bool {
    match std::env::var("HANDIN_TEST_DB").as_deref() {
        Ok("postgres") => return true,
        Ok("sqlite") | Ok("") | Err(_) => {}
        Ok(other) => panic!("HANDIN_TEST_DB={other:?}: give postgres or sqlite"),
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()))
        .is_some_and(|name| name.starts_with("on_postgres"))
}

/// The PostgreSQL server this test process shares between its campuses, started on first use.
pub fn shared_postgres() -> Arc<LocalPostgres> {
    static SHARED: OnceLock<Arc<LocalPostgres>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            Arc::new(LocalPostgres::start().unwrap_or_else(|e| {
                panic!("cannot start PostgreSQL for the tests (apt-get install postgresql): {e}")
            }))
        })
        .clone()
}

/// A campus's records in PostgreSQL: the server, and the databases handed out so far.
#[derive(Debug)]
pub struct PgStores {
    pg: Arc<LocalPostgres>,
    /// A prefix no other campus on this server uses.
    prefix: String,
    /// Each Blackboard data directory (its blobs) and its database's URL.
    boards: Mutex<Vec<(PathBuf, String)>>,
    /// CUHK's database URL.
    cuhk: String,
}

impl PgStores {
    /// Databases on `pg` for a new campus.
    pub fn new(pg: Arc<LocalPostgres>) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = format!("c{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let cuhk = pg
            .url(&format!("{prefix}_cuhk"))
            .unwrap_or_else(|e| panic!("creating CUHK's database: {e}"));
        Self {
            pg,
            prefix,
            boards: Mutex::new(Vec::new()),
            cuhk,
        }
    }

    /// The PostgreSQL server.
    pub fn server(&self) -> &Arc<LocalPostgres> {
        &self.pg
    }

    /// CUHK's database URL.
    pub fn cuhk_url(&self) -> &str {
        &self.cuhk
    }

    /// The database URL of the Blackboard store whose blobs are in `data` (made on first use:
    /// two data directories are two independent stores, as with SQLite).
    pub fn board_url(&self, data: &Path) -> String {
        let mut boards = self
            .boards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, url)) = boards.iter().find(|(d, _)| d == data) {
            return url.clone();
        }
        let name = format!("{}_bb{}", self.prefix, boards.len());
        let url = self
            .pg
            .url(&name)
            .unwrap_or_else(|e| panic!("creating Blackboard's database {name}: {e}"));
        boards.push((data.to_path_buf(), url.clone()));
        url
    }

    /// `--db URL --blobs DATA`.
    pub fn board_args(&self, data: &Path) -> Vec<OsString> {
        vec![
            "--db".into(),
            self.board_url(data).into(),
            "--blobs".into(),
            data.into(),
        ]
    }
}
