//! The flags that say where Blackboard's store is, the same on `init`, `serve` and every
//! operator's command: `--data DIR` (SQLite and the files, the default), or `--db URL` with
//! `--blobs DIR` (PostgreSQL, the files on storage the nodes share).

use crate::board_failure;
use handin::cli::{die, Failure};
use handin_services::board::StoreLocation;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct StoreArgs {
    /// The data directory: the SQLite database blackboard.db and the submitted files (made by
    /// `blackboard init --data DIR`).
    #[arg(long, required_unless_present = "db")]
    pub(crate) data: Option<PathBuf>,
    /// Keep the records in PostgreSQL instead (postgres://USER@HOST/DB, or
    /// postgres://USER@%2Frun%2Fpostgresql/DB for a Unix socket): several nodes may share it.
    /// A URL with a password belongs in the environment variable, not on the command line.
    #[arg(
        long,
        value_name = "URL",
        env = "HANDIN_BLACKBOARD_DB",
        hide_env_values = true
    )]
    pub(crate) db: Option<String>,
    /// With --db: the directory of the submitted files, shared by every node (default: --data).
    #[arg(long, value_name = "DIR", requires = "db")]
    pub(crate) blobs: Option<PathBuf>,
}

impl StoreArgs {
    /// Where the store is; a usage error (exit code 2) if the flags do not say.
    pub(crate) fn location(&self) -> StoreLocation {
        StoreLocation::from_flags(
            self.data.as_deref(),
            self.db.as_deref(),
            self.blobs.as_deref(),
        )
        .unwrap_or_else(|e| die("blackboard", Failure::usage(e)))
    }

    /// The store for an operator's command: servers may be using it, so their uploads are
    /// left alone.
    pub(crate) fn records(&self) -> handin_services::board::Board {
        handin_services::board::Board::open_records_at(&self.location())
            .unwrap_or_else(|e| die("blackboard", board_failure(e)))
    }
}
