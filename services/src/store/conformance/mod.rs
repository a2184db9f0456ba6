//! The storage traits' conformance suite: the same tests, written once against the traits
//! (`board.rs` for [`BoardRecords`] and [`CourseRecords`](crate::store::CourseRecords),
//! `commitments.rs` for Blackboard's commitments, `registrar.rs` for [`RegistrarRecords`],
//! `log.rs` for both stores' transparency logs), run on SQLite and on PostgreSQL (a real
//! server started for the test binary, one database per test).

mod board;
mod commitments;
mod log;
mod registrar;

use super::{BoardRecords, RegistrarRecords};
use std::any::Any;

/// What a test keeps alive while it uses a store (a temporary directory), and the store.
type Opened<T> = (Box<dyn Any>, T);

/// Defines one test per named case (`module::case`, of the suite's modules) in module
/// `$backend`, opening each store with `$opener::board(name)` / `$opener::registrar(name)`.
macro_rules! backend {
    ($backend:ident, $opener:ident;
     board: [$($bm:ident::$b:ident),* $(,)?];
     registrar: [$($rm:ident::$r:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[test]
                fn $b() {
                    let (_keep, store) = super::$opener::board(stringify!($b));
                    super::$bm::$b(store.as_ref());
                }
            )*
            $(
                #[test]
                fn $r() {
                    let (_keep, mut store) = super::$opener::registrar(stringify!($r));
                    super::$rm::$r(store.as_mut());
                }
            )*
        }
    };
}

/// The cases, for each backend.
macro_rules! every_case {
    ($backend:ident, $opener:ident) => {
        backend!($backend, $opener;
            board: [
                board::a_transaction_sees_its_own_records_and_commits_them_whole,
                board::a_transaction_dropped_without_commit_records_nothing,
                board::a_duplicate_version_or_unknown_assignment_fails_the_batch_whole,
                board::submissions_are_listed_in_the_order_recorded,
                board::assignments_are_added_changed_and_sorted_bytewise,
                board::a_change_that_fails_leaves_no_log_entry,
                board::course_records_round_trip,
                board::the_facts_read_at_once_are_the_facts_read_one_by_one,
                commitments::commitments_are_listed_by_student_and_by_assignment,
                commitments::the_earliest_matching_commitment_is_found_and_no_other,
                commitments::a_commitment_and_its_log_entry_are_committed_together,
                commitments::a_submission_keeps_its_commitment_time_and_log_index,
                log::the_board_log_is_absent_then_read_back_as_appended,
                log::a_dropped_board_transaction_leaves_the_log_as_it_was,
            ];
            registrar: [
                registrar::a_person_is_found_only_as_the_kind_of_id_added,
                registrar::a_batch_records_certificates_and_spends_codes,
                registrar::a_dropped_batch_records_nothing,
                registrar::a_code_is_spent_only_once,
                registrar::a_duplicate_serial_fails,
                registrar::revocation_marks_exactly_the_persons_certificates,
                registrar::the_crl_number_increments_and_the_latest_crl_is_kept,
                registrar::an_import_is_all_or_none_and_the_roster_is_sorted,
                registrar::a_view_sees_only_committed_records,
                log::the_registrar_log_is_read_back_also_by_a_reader_of_its_own,
                log::a_dropped_registrar_transaction_leaves_the_log_as_it_was,
                log::revocation_logs_exactly_the_serials_it_revoked,
                log::a_revocation_whose_log_fails_is_undone,
            ]);
    };
}

every_case!(sqlite, open_sqlite);
every_case!(postgres, open_postgres);

mod open_sqlite {
    use super::*;
    use crate::store::sqlite::{SqliteBoard, SqliteRegistrar};

    pub(super) fn board(_name: &str) -> Opened<Box<dyn BoardRecords>> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteBoard::open(&dir.path().join("blackboard.db")).expect("open");
        (Box::new(dir), Box::new(store))
    }

    pub(super) fn registrar(_name: &str) -> Opened<Box<dyn RegistrarRecords>> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteRegistrar::open(&dir.path().join("cuhk.db")).expect("open");
        (Box::new(dir), Box::new(store))
    }
}

mod open_postgres {
    use super::*;
    use crate::store::postgres::tests::fresh_url;
    use crate::store::{PgBoard, PgRegistrar};

    pub(super) fn board(name: &str) -> Opened<Box<dyn BoardRecords>> {
        let store = PgBoard::open(&fresh_url(&format!("b_{name}"))).expect("open");
        (Box::new(()), Box::new(store))
    }

    pub(super) fn registrar(name: &str) -> Opened<Box<dyn RegistrarRecords>> {
        let store = PgRegistrar::open(&fresh_url(&format!("r_{name}"))).expect("open");
        (Box::new(()), Box::new(store))
    }
}
