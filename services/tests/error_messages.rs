//! The services' error messages, word for word: operators and tests read them.

use handin_core::names::BadName;
use handin_core::pki::StudentId;
use handin_core::{Refusal, RefusalCode};
use handin_services::board::BoardError;
use handin_services::registrar::RegistrarError;
use handin_services::store::sqlite::SqliteOpenError;
use std::error::Error as _;
use std::sync::Arc;

fn db_error() -> rusqlite::Error {
    rusqlite::Error::QueryReturnedNoRows
}

#[test]
fn board_errors_read_as_before() {
    let refused = BoardError::Refused(Refusal::new(RefusalCode::TooLarge, "too big"));
    assert_eq!(refused.to_string(), "refused: too big");
    let name = BoardError::InvalidName(BadName("file name \"\" is empty".into()));
    assert_eq!(name.to_string(), "file name \"\" is empty");
    assert!(name.source().is_some());
    assert_eq!(
        BoardError::Invalid("out of range".into()).to_string(),
        "out of range"
    );
    let io = BoardError::Io {
        what: "creating files/".into(),
        source: std::io::Error::other("disk gone"),
    };
    assert_eq!(
        io.to_string(),
        "submission store: creating files/: disk gone; check that the data directory exists, \
         is writable and has free space"
    );
    assert!(io.source().is_some());
    let database = BoardError::Database {
        what: "listing".into(),
        source: Box::new(db_error()),
    };
    assert_eq!(
        database.to_string(),
        "submission database: listing: Query returned no rows; check that the database \
         (blackboard.db, or the PostgreSQL server of --db) is reachable, writable and a handin \
         database"
    );
    assert_eq!(
        BoardError::BadDatabase("schema version 9".into()).to_string(),
        "submission database: schema version 9; restore it from a backup or use a newer handin"
    );
    let batch = BoardError::Batch {
        size: 3,
        cause: Arc::new(database),
    };
    assert_eq!(
        batch.to_string(),
        "the shared commit of 3 submission(s) failed, none was stored: submission database: \
         listing: Query returned no rows; check that the database (blackboard.db, or the \
         PostgreSQL server of --db) is reachable, writable and a handin database"
    );
    assert!(batch.source().is_some());
}

#[test]
fn registrar_errors_read_as_before() {
    let refused = RegistrarError::Refused(Refusal::new(RefusalCode::BadCode, "wrong code"));
    assert_eq!(refused.to_string(), "refused: wrong code");
    let id = StudentId::parse("1155000001").expect("an ID");
    assert_eq!(
        RegistrarError::NotOnRoster(id.into()).to_string(),
        "student 1155000001 is not on the roster; add them first with `cuhk roster add`"
    );
    let database = RegistrarError::Database {
        what: "reading the roster".into(),
        source: Box::new(db_error()),
    };
    assert_eq!(
        database.to_string(),
        "registrar database: reading the roster: Query returned no rows; check that the file is \
         a handin registrar database on a writable disk"
    );
    assert!(database.source().is_some());
    assert_eq!(
        RegistrarError::BadDatabase("schema version 9".into()).to_string(),
        "registrar database: schema version 9; restore it from a backup or use a newer handin"
    );
    assert_eq!(
        RegistrarError::Random.to_string(),
        "the system random number generator failed; check the operating system"
    );
}

#[test]
fn sqlite_open_errors_read_as_before() {
    let database = SqliteOpenError::Database {
        what: "opening x.db".into(),
        source: db_error(),
    };
    assert_eq!(database.to_string(), "opening x.db: Query returned no rows");
    assert!(database.source().is_some());
    let bad = SqliteOpenError::BadDatabase("the journal mode is delete, not WAL".into());
    assert_eq!(bad.to_string(), "the journal mode is delete, not WAL");
    assert!(bad.source().is_none());
}
