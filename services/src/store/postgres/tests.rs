//! Tests of what only the PostgreSQL stores have: URLs and Unix sockets, schemas shared by
//! several nodes, the server restarting under a store (nodes racing: `nodes_tests.rs`).
//! (What every backend does is the conformance suite's, `store/conformance/`.)
//!
//! One real server per test binary ([`cluster`]), one database per test. The server is
//! stopped when the test binary ends (see [`LocalPostgres`]).

use super::local::LocalPostgres;
use super::schema::{migrate, Component, Step};
use super::*;
use crate::store::{Assignment, BoardRecords, LogRecords, RegistrarRecords, ThrottleRecords};
use handin_core::pki::PersonId;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Barrier, OnceLock};
use std::time::Instant;

/// The test binary's PostgreSQL server, started on first use.
pub(crate) fn cluster() -> &'static LocalPostgres {
    static CLUSTER: OnceLock<LocalPostgres> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        LocalPostgres::start().unwrap_or_else(|e| panic!("starting PostgreSQL for the tests: {e}"))
    })
}

/// The URL of a new database on the test binary's server, named after `name`.
pub(crate) fn fresh_url(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let short: String = name.chars().take(50).collect();
    cluster()
        .url(&format!("{short}_{n}"))
        .unwrap_or_else(|e| panic!("creating database {name}: {e}"))
}

pub(crate) fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(s)
}

fn client(url: &str) -> Client {
    config(url).unwrap().connect(NoTls).unwrap()
}

#[test]
fn urls_are_told_from_paths_and_unix_sockets_work() {
    assert!(is_postgres_url(
        "postgres://handin@/handin?host=/run/postgresql"
    ));
    assert!(is_postgres_url("PostgreSQL://db.example:5432/handin"));
    assert!(!is_postgres_url("/var/lib/handin/blackboard.db"));
    assert!(!is_postgres_url("postgres"));
    assert!(!is_postgres_url("pg://x"));
    assert!(!is_postgres_url(""));
    assert!(!is_postgres_url("postgres:/ünï"));
    let url = fresh_url("urls");
    assert!(url.starts_with("postgres://handin@/urls_"), "{url}");
    assert!(url.contains(&format!("?host={}", cluster().dir().display())));
    let c = config(&url).unwrap();
    assert_eq!(c.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
    assert!(matches!(
        c.get_hosts(),
        [postgres::config::Host::Unix(p)] if p == cluster().dir()
    ));
    let mut c = client(&url);
    let n: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(n, 1);
    // An error says what the server said.
    let e = failed("reading")(c.query("SELECT * FROM no_such_table", &[]).unwrap_err());
    assert_eq!(
        e.to_string(),
        "reading: ERROR: relation \"no_such_table\" does not exist (SQLSTATE 42P01)"
    );
    match PgBoard::open("/tmp/blackboard.db") {
        Err(StoreError::BadDatabase(m)) => assert!(m.contains("not a PostgreSQL URL"), "{m}"),
        other => panic!("expected BadDatabase, got {other:?}"),
    }
    for bad in [
        "postgres://[::1",
        "postgres://h/db?connect_timeout=x",
        "postgres://h:99999/db",
        "postgresql://h/db?sslmode=bogus",
        "postgres://%zz@h/db",
    ] {
        assert!(
            matches!(PgBoard::open(bad), Err(StoreError::Database { .. })),
            "{bad}"
        );
    }
    // A socket directory with no server: a clear error, at once.
    let started = Instant::now();
    match PgBoard::open("postgres://handin@/x?host=/nonexistent-dir") {
        Err(e @ StoreError::Database { .. }) => {
            assert!(
                e.to_string()
                    .contains("connecting to database x on /nonexistent-dir"),
                "{e}"
            )
        }
        other => panic!("expected a connection error, got {other:?}"),
    }
    assert!(started.elapsed() < CONNECT_TIMEOUT);
}

#[test]
fn a_fresh_database_gets_both_schemas_and_reopening_changes_nothing() {
    let url = fresh_url("schemas");
    let board = PgBoard::open(&url).unwrap();
    let mut registrar = PgRegistrar::open(&url).unwrap();
    let throttle = PgThrottle::open(&url).unwrap();
    let versions: Vec<(String, i32)> = client(&url)
        .query(
            "SELECT component, version FROM handin_schema ORDER BY component",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        versions,
        [("blackboard".to_owned(), 2), ("cuhk".to_owned(), 2)]
    );
    board
        .put_assignment(&Assignment::new("CSCI3180", "hw1", at(2_000), 10))
        .unwrap();
    registrar
        .put_person(&PersonId::parse("lee").unwrap(), b"s", b"h", at(1))
        .unwrap();
    throttle
        .push("10.0.0.1", at(100), Duration::from_secs(6))
        .unwrap();
    drop((board, registrar, throttle));
    // Reopening finds everything as it was.
    let board = PgBoard::open(&url).unwrap();
    let registrar = PgRegistrar::open(&url).unwrap();
    assert_eq!(board.assignments().unwrap().len(), 1);
    assert!(registrar
        .on_roster(&PersonId::parse("lee").unwrap())
        .unwrap());
    let tables: i64 = client(&url)
        .query_one(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    // handin_schema, Blackboard's ten tables and three of its log, CUHK's five and three of its
    // log: no name shared.
    assert_eq!(tables, 22);
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_message() {
    let url = fresh_url("newer");
    drop(PgBoard::open(&url).unwrap());
    drop(PgRegistrar::open(&url).unwrap());
    client(&url)
        .execute(
            "UPDATE handin_schema SET version = 7 WHERE component = 'blackboard'",
            &[],
        )
        .unwrap();
    match PgBoard::open(&url) {
        Err(StoreError::BadDatabase(m)) => assert_eq!(
            m,
            "the database's blackboard schema is version 7, newer than the version 2 this \
             program knows: upgrade handin"
        ),
        other => panic!("expected BadDatabase, got {other:?}"),
    }
    // CUHK's schema is its own.
    assert!(PgRegistrar::open(&url).is_ok());
    client(&url)
        .execute(
            "UPDATE handin_schema SET version = 3 WHERE component = 'cuhk'",
            &[],
        )
        .unwrap();
    let reg = PgRegistrar::open(&url);
    assert!(
        matches!(reg, Err(StoreError::BadDatabase(ref m)) if m.contains("cuhk schema is version 3"))
    );
}

#[test]
fn an_older_schema_is_upgraded_step_by_step_in_one_transaction() {
    let url = fresh_url("steps");
    let v1 = Component {
        name: "test",
        version: 1,
        schema: "CREATE TABLE t (x BIGINT NOT NULL);",
        steps: &[],
    };
    let mut c = client(&url);
    migrate(&mut c, &v1).unwrap();
    c.execute("INSERT INTO t (x) VALUES (5)", &[]).unwrap();
    let steps = [
        Step {
            from: 1,
            sql: "ALTER TABLE t ADD COLUMN y BIGINT NOT NULL DEFAULT 2;",
        },
        Step {
            from: 2,
            sql: "ALTER TABLE t RENAME COLUMN x TO z;",
        },
    ];
    // A failing step leaves the schema as it was.
    let broken = [
        steps[0],
        Step {
            from: 2,
            sql: "ALTER TABLE missing ADD COLUMN w BIGINT;",
        },
    ];
    let v3 = |steps: &'static [Step]| Component {
        version: 3,
        steps,
        ..v1
    };
    let broken: &'static [Step] = Box::leak(Box::new(broken));
    assert!(migrate(&mut c, &v3(broken)).is_err());
    assert!(c.query("SELECT y FROM t", &[]).is_err(), "no half upgrade");
    // A gap in the steps is refused.
    let gap: &'static [Step] = Box::leak(Box::new([steps[0]]));
    match migrate(&mut c, &v3(gap)) {
        Err(StoreError::BadDatabase(m)) => assert!(m.contains("past version 2"), "{m}"),
        other => panic!("expected BadDatabase, got {other:?}"),
    }
    let steps: &'static [Step] = Box::leak(Box::new(steps));
    migrate(&mut c, &v3(steps)).unwrap();
    let row = c.query_one("SELECT z, y FROM t", &[]).unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (5, 2));
    let v: i32 = c
        .query_one(
            "SELECT version FROM handin_schema WHERE component = 'test'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(v, 3);
    migrate(&mut c, &v3(steps)).unwrap();
    // A new database gets the first schema and every step after it.
    let mut new = client(&fresh_url("steps_new"));
    migrate(&mut new, &v3(steps)).unwrap();
    new.execute("INSERT INTO t (z) VALUES (9)", &[]).unwrap();
    let row = new.query_one("SELECT z, y FROM t", &[]).unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (9, 2));
}

#[test]
fn version_1_schemas_are_upgraded_to_the_log_and_keep_their_rows() {
    let url = fresh_url("log_upgrade");
    let mut c = client(&url);
    // The version 1 schemas as the previous program made them.
    for component in [tables::BOARD, tables::CUHK] {
        let v1 = Component {
            version: 1,
            steps: &[],
            ..component
        };
        migrate(&mut c, &v1).unwrap();
    }
    c.batch_execute(
        "INSERT INTO assignments (course, assignment, due, max_size)
         VALUES ('CSCI3180', 'hw1', 2000, 10);
         INSERT INTO submissions (id, student_id, course, assignment, file_name, size, sha256,
             received_at, late, version, due_at)
         VALUES ('S1', '1155000001', 'CSCI3180', 'hw1', 'a.txt', 3, sha256(''), 1000, FALSE,
             1, 2000);
         INSERT INTO roster (person_id, added_at, code_salt, code_hash, staff)
         VALUES ('1155000001', 10, '\\x01', '\\x02', FALSE);
         INSERT INTO certificates (serial, person_id, not_before, not_after, issued_at)
         VALUES ('0A', '1155000001', 20, 30, 20);",
    )
    .unwrap();
    let board = PgBoard::open(&url).unwrap();
    let mut registrar = PgRegistrar::open(&url).unwrap();
    let versions: Vec<i32> = c
        .query("SELECT version FROM handin_schema ORDER BY component", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [2, 2]);
    let s = board.find("S1").unwrap().unwrap();
    assert_eq!((s.due, s.committed_at, s.log_index), (at(2000), None, None));
    assert_eq!(board.log_head().unwrap(), None);
    assert!(board.commitments("CSCI3180", "hw1").unwrap().is_empty());
    let alice = PersonId::parse("1155000001").unwrap();
    assert_eq!(registrar.issued(&alice).unwrap().len(), 1);
    assert_eq!(registrar.log_head().unwrap(), None);
    let mut heard = Vec::new();
    let n = registrar
        .revoke_person(&alice, at(40), &mut |_, serials| {
            heard.extend_from_slice(serials);
            Ok(())
        })
        .unwrap();
    assert_eq!((n, heard), (Some(1), vec!["0A".to_owned()]));
    // Opened again: as it is.
    drop((board, registrar));
    assert!(PgBoard::open(&url).unwrap().find("S1").unwrap().is_some());
}

#[test]
fn nodes_opening_at_once_all_succeed() {
    let url = fresh_url("at_once");
    let start = Barrier::new(6);
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..6)
            .map(|i| {
                let (url, start) = (&url, &start);
                s.spawn(move || {
                    start.wait();
                    if i % 2 == 0 {
                        PgBoard::open(url).map(drop)
                    } else {
                        PgRegistrar::open(url).map(drop)
                    }
                })
            })
            .collect();
        for r in runs {
            r.join().unwrap().unwrap();
        }
    });
}

#[test]
fn after_postgres_restarts_the_same_stores_work_again() {
    // A server of its own: the others' tests must not see it stop.
    let pg = LocalPostgres::start().unwrap();
    let url = pg.url("restart").unwrap();
    let board = PgBoard::open(&url).unwrap();
    let mut registrar = PgRegistrar::open(&url).unwrap();
    let throttle = PgThrottle::open(&url).unwrap();
    let lee = PersonId::parse("lee").unwrap();
    registrar.put_person(&lee, b"s", b"h", at(1)).unwrap();
    let views = registrar.views().unwrap();
    let mut view = views().unwrap();
    assert!(view.code(&lee).unwrap().is_some());

    // Stopped: every operation fails with an error, soon.
    pg.stop().unwrap();
    let started = Instant::now();
    assert!(matches!(
        board.assignments(),
        Err(StoreError::Database { .. })
    ));
    assert!(board.begin().is_err());
    assert!(registrar.on_roster(&lee).is_err());
    assert!(registrar.begin().is_err());
    assert!(view.code(&lee).is_err());
    assert!(throttle.until("10.0.0.1").is_err());
    assert!(views().is_err());
    assert!(started.elapsed() < CONNECT_TIMEOUT);

    // Started again: the same objects work again.
    pg.start_again().unwrap();
    assert!(board.assignments().unwrap().is_empty());
    let mut tx = board.begin().unwrap();
    assert_eq!(tx.assignment("CSCI3180", "hw1").unwrap(), None);
    drop(tx);
    assert!(registrar.on_roster(&lee).unwrap());
    assert!(view.code(&lee).unwrap().is_some());
    throttle
        .push("10.0.0.1", at(1), Duration::from_secs(1))
        .unwrap();

    // Restarted while idle: a pooled connection that sat idle is checked before it is used
    // again, so no call fails once the server is back.
    pg.restart().unwrap();
    std::thread::sleep(super::CHECK_AFTER);
    board
        .assignments()
        .expect("the first use after the restart");
    assert_eq!(registrar.next_crl_number().unwrap(), 1);
    assert!(view.code(&lee).unwrap().is_some());

    // Dropped: the server is stopped and its directory gone.
    let dir = pg.dir().to_owned();
    drop(pg);
    assert!(!dir.exists());
    assert!(board.assignments().is_err());
}
