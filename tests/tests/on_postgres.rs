//! Chosen end-to-end scenario files run a second time with Blackboard's and CUHK's records in
//! PostgreSQL instead of SQLite, so that `cargo test --workspace` checks both stores.
//!
//! The files are compiled again here as modules (`#[path = "teaching.rs"] mod teaching;`);
//! nothing in them changes. What switches the store is this test executable's name: cargo
//! names it after this file (`on_postgres-<hash>`), and every `Campus` built in a process whose
//! executable is so named keeps its records in PostgreSQL
//! (`handin_tests::store::postgres_wanted`), whatever order the tests run in. The PostgreSQL
//! server is one for the whole process, started by the first campus, each campus with
//! databases of its own; it is stopped when the process ends.
//!
//! The same switch by hand, for any test file: `HANDIN_TEST_DB=postgres cargo test -p
//! handin-tests --test NAME`.

#[path = "teaching.rs"]
mod teaching;

#[path = "group_commit.rs"]
mod group_commit;

#[path = "json_output.rs"]
mod json_output;

#[path = "web.rs"]
mod web;

#[path = "scenario.rs"]
mod scenario;

#[path = "staff_enroll.rs"]
mod staff_enroll;

#[path = "receipt_trust.rs"]
mod receipt_trust;

#[path = "transparency.rs"]
mod transparency;

/// The switch is on in this executable: a campus here really is on PostgreSQL.
#[test]
fn the_campuses_of_this_executable_keep_their_records_in_postgresql() {
    assert!(handin_tests::store::postgres_wanted());
    let campus = handin_tests::Campus::new();
    assert!(campus.is_postgres());
    let args: Vec<String> = campus
        .store_args(&campus.data())
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(args[0], "--db", "{args:?}");
    assert!(args[1].starts_with("postgres://"), "{args:?}");
    assert!(
        !campus.data().join("blackboard.db").exists(),
        "no SQLite database is made"
    );
    assert!(
        !campus.pki().join("cuhk.db").exists(),
        "CUHK's records are not in SQLite either"
    );
}
