//! The transparency logs, whatever the database: Blackboard's and CUHK's, appended to in a
//! store's transaction with a real [`Frontier`] and read back through [`LogRecords`] (and
//! CUHK's through a reader of its own); a transaction dropped without commit leaves nothing;
//! a revocation logs exactly what it revoked, and is undone if logging fails.

use crate::store::log::kept;
use crate::store::{
    BoardRecords, IssuedRecord, LogHead, LogRecords, LogTx, RegistrarRecords, StoreError,
};
use handin_core::pki::PersonId;
use handin_core::tlog::{leaf_hash, root, Frontier, Hash, Node};
use std::time::{Duration, SystemTime};

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(s)
}

/// Entries `from..to`, each different.
fn entries(from: usize, to: usize) -> Vec<Vec<u8>> {
    (from..to)
        .map(|i| format!("entry {i}").into_bytes())
        .collect()
}

/// Appends `batch` through `log` as a sequencer does: from the head read in the transaction,
/// with the frontier's new complete subtrees filtered by [`kept`]. Returns the new head.
fn append(log: &mut dyn LogTx, frontier: &mut Frontier, batch: &[Vec<u8>]) -> LogHead {
    let first = log.log_head().unwrap().map_or(0, |h| h.size);
    assert_eq!(first, frontier.size());
    let leaves: Vec<Hash> = batch.iter().map(|e| leaf_hash(e)).collect();
    let appended = frontier.append(&leaves).unwrap();
    let nodes: Vec<Node> = appended.nodes.into_iter().filter(kept).collect();
    let head = LogHead {
        size: appended.size,
        frontier: frontier.nodes().to_vec(),
        checkpoint: format!("example.org/log\n{}\n{}\n", appended.size, appended.root),
    };
    log.log_append(first, batch, &nodes, &head).unwrap();
    // The transaction reads what it wrote.
    assert_eq!(log.log_head().unwrap().as_ref(), Some(&head));
    head
}

/// Everything a reader reads of a log of `all` entries (more than 256) whose head is `head`.
fn reads_back<R: LogRecords + ?Sized>(reader: &R, all: &[Vec<u8>], head: &LogHead) {
    let n = all.len() as u64;
    assert_eq!(reader.log_head().unwrap().as_ref(), Some(head));
    let frontier = Frontier::from_parts(head.size, head.frontier.clone()).unwrap();
    assert_eq!(frontier.root(), root(all));
    assert_eq!(reader.log_entries(0, n).unwrap(), all);
    assert_eq!(reader.log_entries(5, 8).unwrap(), all[5..8]);
    // Past the end: shorter, or nothing.
    assert_eq!(
        reader.log_entries(n - 3, n + 100).unwrap(),
        all[all.len() - 3..]
    );
    assert_eq!(reader.log_entries(n, n + 1).unwrap(), Vec::<Vec<u8>>::new());
    assert!(reader.log_entries(7, 7).unwrap().is_empty());
    assert!(reader.log_entries(9, 2).unwrap().is_empty());
    assert_eq!(
        reader.log_entries(n - 1, u64::MAX).unwrap(),
        all[all.len() - 1..]
    );
    // Level 0: the leaf hashes; level 8: one hash per complete 256 leaves; level 16: none yet.
    let leaves: Vec<Hash> = all.iter().map(|e| leaf_hash(e)).collect();
    assert_eq!(reader.log_hashes(0, 0, n).unwrap(), leaves);
    assert_eq!(reader.log_hashes(0, 250, 260).unwrap(), leaves[250..260]);
    assert_eq!(
        reader.log_hashes(0, n - 1, n + 9).unwrap(),
        leaves[leaves.len() - 1..]
    );
    assert_eq!(reader.log_hashes(8, 0, 10).unwrap(), [root(&all[..256])]);
    assert!(reader.log_hashes(16, 0, 10).unwrap().is_empty());
    // No hashes are kept between tile levels.
    assert!(reader.log_hashes(3, 0, 10).is_err());
}

/// Two batches, the first crossing no tile and the second completing one, and a stale append
/// refused in between.
fn two_batches(
    mut log_of_batch: impl FnMut(&mut dyn FnMut(&mut dyn LogTx)),
) -> (Vec<Vec<u8>>, LogHead) {
    let mut frontier = Frontier::new();
    let first = entries(0, 200);
    let mut head = None;
    log_of_batch(&mut |log| head = Some(append(log, &mut frontier, &first)));
    let second = entries(200, 300);
    log_of_batch(&mut |log| {
        // An append that does not continue the log is refused, and writes nothing.
        let stale = LogHead {
            size: 1,
            frontier: vec![leaf_hash(b"x")],
            checkpoint: "stale".into(),
        };
        assert!(matches!(
            log.log_append(0, &[b"x".to_vec()], &[], &stale),
            Err(StoreError::BadDatabase(_))
        ));
        head = Some(append(log, &mut frontier, &second));
    });
    let all = [first, second].concat();
    (all, head.unwrap())
}

pub(super) fn the_board_log_is_absent_then_read_back_as_appended(records: &dyn BoardRecords) {
    assert_eq!(records.log_head().unwrap(), None);
    assert!(records.log_entries(0, 10).unwrap().is_empty());
    assert!(records.log_hashes(0, 0, 10).unwrap().is_empty());
    let (all, head) = two_batches(|f| {
        let mut tx = records.begin().unwrap();
        f(tx.log());
        tx.commit().unwrap();
    });
    assert_eq!(head.size, 300);
    reads_back(records, &all, &head);
}

pub(super) fn a_dropped_board_transaction_leaves_the_log_as_it_was(records: &dyn BoardRecords) {
    let mut frontier = Frontier::new();
    {
        let mut tx = records.begin().unwrap();
        append(tx.log(), &mut frontier, &entries(0, 300));
    }
    assert_eq!(records.log_head().unwrap(), None);
    assert!(records.log_entries(0, 300).unwrap().is_empty());
    assert!(records.log_hashes(0, 0, 300).unwrap().is_empty());
    assert!(records.log_hashes(8, 0, 1).unwrap().is_empty());
    // After a committed batch, a dropped one leaves the head, entries and hashes as they were.
    let mut frontier = Frontier::new();
    let mut tx = records.begin().unwrap();
    let head = append(tx.log(), &mut frontier, &entries(0, 3));
    tx.commit().unwrap();
    {
        let mut tx = records.begin().unwrap();
        append(tx.log(), &mut frontier.clone(), &entries(3, 300));
    }
    assert_eq!(records.log_head().unwrap(), Some(head));
    assert_eq!(records.log_entries(0, 300).unwrap(), entries(0, 3));
    assert_eq!(records.log_hashes(0, 0, 300).unwrap().len(), 3);
    assert!(records.log_hashes(8, 0, 1).unwrap().is_empty());
}

pub(super) fn the_registrar_log_is_read_back_also_by_a_reader_of_its_own(
    records: &mut dyn RegistrarRecords,
) {
    let reader = records.log_reader().unwrap();
    assert_eq!(records.log_head().unwrap(), None);
    assert_eq!(reader.log_head().unwrap(), None);
    let (all, head) = two_batches(|f| {
        let mut tx = records.begin().unwrap();
        f(tx.log());
        tx.commit().unwrap();
    });
    reads_back(records, &all, &head);
    reads_back(reader.as_ref(), &all, &head);
    // While a batch is open, the reader (on another thread) sees the last commit.
    let mut tx = records.begin().unwrap();
    let mut frontier = Frontier::from_parts(head.size, head.frontier.clone()).unwrap();
    let next = append(tx.log(), &mut frontier, &entries(300, 301));
    std::thread::scope(|s| {
        let seen = s.spawn(|| reader.log_head().unwrap()).join().unwrap();
        assert_eq!(seen.as_ref(), Some(&head));
    });
    tx.commit().unwrap();
    assert_eq!(reader.log_head().unwrap(), Some(next));
    assert_eq!(reader.log_entries(300, 400).unwrap(), entries(300, 301));
}

pub(super) fn a_dropped_registrar_transaction_leaves_the_log_as_it_was(
    records: &mut dyn RegistrarRecords,
) {
    {
        let mut tx = records.begin().unwrap();
        append(tx.log(), &mut Frontier::new(), &entries(0, 260));
    }
    assert_eq!(records.log_head().unwrap(), None);
    assert!(records.log_entries(0, 300).unwrap().is_empty());
    assert!(records.log_hashes(0, 0, 300).unwrap().is_empty());
    assert!(records.log_hashes(8, 0, 1).unwrap().is_empty());
    let reader = records.log_reader().unwrap();
    assert_eq!(reader.log_head().unwrap(), None);
    assert!(reader.log_entries(0, 300).unwrap().is_empty());
}

fn id(s: &str) -> PersonId {
    PersonId::parse(s).unwrap()
}

/// Puts `person` on the roster with certificates `serials`, issued at `t`, `t + 1`, ...
fn enroll(records: &mut dyn RegistrarRecords, person: &PersonId, serials: &[&str], t: u64) {
    records.put_person(person, b"salt", b"hash", at(t)).unwrap();
    let mut tx = records.begin().unwrap();
    for (i, serial) in (0..).zip(serials) {
        let record = IssuedRecord {
            serial_hex: (*serial).into(),
            not_before: at(t + i),
            not_after: at(t + 1_000),
            issued_at: at(t + i),
            revoked_at: None,
        };
        tx.record_certificate(person, &record).unwrap();
    }
    tx.commit().unwrap();
}

/// A revocation callback appending one entry per serial, which keeps what it was given.
fn logging(
    seen: &mut Vec<Vec<String>>,
) -> impl FnMut(&mut dyn LogTx, &[String]) -> Result<(), StoreError> + '_ {
    move |log, serials| {
        seen.push(serials.to_vec());
        let mut frontier = match log.log_head()? {
            Some(h) => Frontier::from_parts(h.size, h.frontier).unwrap(),
            None => Frontier::new(),
        };
        let size = usize::try_from(frontier.size()).unwrap();
        append(log, &mut frontier, &entries(size, size + serials.len()));
        Ok(())
    }
}

pub(super) fn revocation_logs_exactly_the_serials_it_revoked(records: &mut dyn RegistrarRecords) {
    let (alice, bob) = (id("1155000001"), id("prof.lee"));
    let mut seen = Vec::new();
    // Not on the roster: nothing to log, and the callback is not called.
    let mut log = logging(&mut seen);
    assert_eq!(
        records.revoke_person(&alice, at(1), &mut log).unwrap(),
        None
    );
    drop(log);
    assert!(seen.is_empty());
    // Issued in an order their serials do not sort in.
    enroll(records, &alice, &["0B", "0A", "1C"], 10);
    enroll(records, &bob, &["2D"], 10);
    let mut log = logging(&mut seen);
    assert_eq!(
        records.revoke_person(&alice, at(50), &mut log).unwrap(),
        Some(3)
    );
    // Again: nothing left to revoke, and the callback still hears of it.
    assert_eq!(
        records.revoke_person(&alice, at(60), &mut log).unwrap(),
        Some(0)
    );
    assert_eq!(
        records.revoke_person(&bob, at(70), &mut log).unwrap(),
        Some(1)
    );
    drop(log);
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        seen,
        [strings(&["0B", "0A", "1C"]), vec![], strings(&["2D"])]
    );
    // What the callback appended was committed with the revocations.
    assert_eq!(records.log_head().unwrap().map(|h| h.size), Some(4));
    assert_eq!(records.log_entries(0, 10).unwrap(), entries(0, 4));
}

pub(super) fn a_revocation_whose_log_fails_is_undone(records: &mut dyn RegistrarRecords) {
    let alice = id("1155000001");
    enroll(records, &alice, &["0A", "0B"], 10);
    let mut appended = Vec::new();
    let refused = records.revoke_person(&alice, at(50), &mut |log, serials| {
        appended = serials.to_vec();
        append(log, &mut Frontier::new(), &entries(0, 2));
        Err(StoreError::BadDatabase("the log is full".into()))
    });
    match refused {
        Err(StoreError::BadDatabase(m)) => assert_eq!(m, "the log is full"),
        other => panic!("expected the callback's error, got {other:?}"),
    }
    assert_eq!(appended, ["0A", "0B"]);
    // Neither the revocation nor its entries are there.
    assert!(records
        .issued(&alice)
        .unwrap()
        .iter()
        .all(|c| c.revoked_at.is_none()));
    assert!(records.revoked().unwrap().is_empty());
    assert_eq!(records.log_head().unwrap(), None);
    assert!(records.log_entries(0, 2).unwrap().is_empty());
    // The store is usable again at once, and the revocation then takes.
    let mut seen = Vec::new();
    let mut log = logging(&mut seen);
    assert_eq!(
        records.revoke_person(&alice, at(60), &mut log).unwrap(),
        Some(2)
    );
    drop(log);
    assert_eq!(seen, [["0A", "0B"]]);
    assert_eq!(records.revoked().unwrap().len(), 2);
}
