//! The audit's checks against in-memory logs served tile by tile as a log server serves them:
//! a clean log passes, and a rewritten entry, a split view, a shrunk log, a changed key and a
//! certificate the profile never held are each caught.

use super::*;
use crate::session::StudentError;
use crate::ErrorKind;
use handin_core::logs::{check_log_path, LogEntry, LogPath, LogProof, Revocation};
use handin_core::pki::{check_person_csr, new_person_key, Ca, PersonId};
use handin_core::tlog::{
    encode_entry_bundle, encode_hash_tile, inclusion_proof, leaf_hash, Checkpoint, HashSource,
    MemoryHashes, NoteSigner, TileKind, TILE_HEIGHT, TILE_WIDTH,
};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

const ORIGIN: &str = "blackboard.test/receipts";
const SEED: [u8; 32] = [7; 32];

/// A log in memory, served as a log server serves it.
pub(super) struct TestLog {
    signer: NoteSigner,
    entries: Vec<Vec<u8>>,
    hashes: MemoryHashes,
    /// Entries served in place of the logged ones (rewritten where the entries are kept).
    rewritten: HashMap<u64, Vec<u8>>,
}

impl TestLog {
    pub(super) fn new() -> Self {
        Self::with_key(&SEED)
    }

    pub(super) fn with_key(seed: &[u8]) -> Self {
        Self {
            signer: NoteSigner::from_seed(ORIGIN, seed).expect("key"),
            entries: Vec::new(),
            hashes: MemoryHashes::new(),
            rewritten: HashMap::new(),
        }
    }

    /// A log of `n` entries `entry i`.
    pub(super) fn of(n: u64) -> Self {
        let mut log = Self::new();
        for i in 0..n {
            log.append(format!("entry {i}").into_bytes());
        }
        log
    }

    pub(super) fn append(&mut self, entry: Vec<u8>) -> u64 {
        self.hashes.append(&[leaf_hash(&entry)]).expect("append");
        self.entries.push(entry);
        self.entries.len() as u64 - 1
    }

    pub(super) fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    pub(super) fn note(&self) -> String {
        Checkpoint::new(ORIGIN, self.size(), self.hashes.root())
            .sign(&self.signer)
            .expect("sign")
    }

    pub(super) fn head(&self) -> Head {
        Head::open(self.note().as_bytes(), &self.pinned().verifier).expect("own head")
    }

    pub(super) fn pinned(&self) -> Pinned {
        Pinned::parse(&self.signer.verifier().vkey()).expect("vkey")
    }

    /// Entry `index`'s proof against the current checkpoint, as a receipt carries it.
    pub(super) fn proof(&self, index: u64) -> LogProof {
        LogProof {
            index,
            hashes: inclusion_proof(&self.hashes, index, self.size()).expect("proof"),
            checkpoint: self.note(),
        }
    }

    pub(super) fn serve(&self, path: &str) -> Result<Vec<u8>, StudentError> {
        let missing = || StudentError::missing(format!("{path} is not in the log"));
        let tile = match check_log_path(path).map_err(StudentError::refused)? {
            LogPath::Checkpoint => return Ok(self.note().into_bytes()),
            LogPath::Vkey => return Ok(format!("{}\n", self.signer.verifier().vkey()).into_bytes()),
            LogPath::Tile(t) => t,
        };
        let from = tile.index * u64::from(TILE_WIDTH);
        let to = from + u64::from(tile.width);
        match tile.kind {
            TileKind::Hash(level) => {
                let hashes = (from..to)
                    .map(|i| self.hashes.hash(level * TILE_HEIGHT, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| missing())?;
                Ok(encode_hash_tile(&hashes).expect("tile"))
            }
            TileKind::Entries => {
                if to > self.size() {
                    return Err(missing());
                }
                let entries: Vec<&[u8]> = (from..to)
                    .map(|i| {
                        self.rewritten
                            .get(&i)
                            .unwrap_or(&self.entries[i as usize])
                            .as_slice()
                    })
                    .collect();
                Ok(encode_entry_bundle(&entries).expect("bundle"))
            }
        }
    }

    pub(super) fn reader(&self) -> LogReader<'_> {
        LogReader::new("Blackboard", move |path: &str| self.serve(path))
    }
}

fn is_alarm(r: Result<impl std::fmt::Debug, StudentError>, says: &str) -> String {
    let e = r.expect_err("an alarm");
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.message().contains(says), "{e}");
    e.to_string()
}

#[test]
fn a_clean_log_passes_every_check() {
    // 600 entries: two full bundles, a partial one, and a partial tile at level 1.
    let mut log = TestLog::of(300);
    let old = log.head();
    let receipt = log.proof(123);
    for i in 300..600 {
        log.append(format!("entry {i}").into_bytes());
    }
    let reader = log.reader();
    let pinned = log.pinned();
    let checked = check_head(&reader, Log::Blackboard, Some(&pinned), Some(&old)).expect("head");
    assert_eq!(checked.since, Since::Grew { from: 300 });
    assert!(!checked.pinned_now);
    let index = check_statement(
        &reader,
        &pinned,
        &checked.head,
        b"entry 123",
        &pinned.vkey,
        &receipt,
    )
    .expect("the receipt is still in the log");
    assert_eq!(index, 123);
    let mut seen = 0;
    reader
        .replay(&checked.head, |i, e| {
            assert_eq!(e, format!("entry {i}").as_bytes());
            seen += 1;
        })
        .expect("replay");
    assert_eq!(seen, 600);
    assert_eq!(
        compare_checkpoint(&reader, &checked.head, &old).expect("consistent"),
        Compared::Consistent
    );
    assert_eq!(
        compare_checkpoint(&reader, &old, &checked.head).expect("newer"),
        Compared::NewerConsistent
    );
    // First use: the key served is pinned; the same head again is the same.
    let first = check_head(&reader, Log::Blackboard, None, None).expect("first");
    assert!(first.pinned_now);
    assert_eq!(first.since, Since::First);
    let again = check_head(&reader, Log::Blackboard, Some(&pinned), Some(&first.head));
    assert_eq!(again.expect("same").since, Since::Same);
}

#[test]
fn an_empty_log_is_consistent_with_anything_it_grows_into() {
    let empty = TestLog::new();
    let old = empty.head();
    let log = TestLog::of(3);
    let checked = check_head(&log.reader(), Log::Cuhk, Some(&log.pinned()), Some(&old));
    assert_eq!(checked.expect("grew").since, Since::Grew { from: 0 });
    empty
        .reader()
        .replay(&old, |_, _| panic!("no entry"))
        .expect("empty");
}

#[test]
fn a_rewritten_entry_is_caught() {
    let mut log = TestLog::of(300);
    let receipt = log.proof(257);
    log.rewritten.insert(257, b"entry 257, but later".to_vec());
    let reader = log.reader();
    let pinned = log.pinned();
    let head = log.head();
    let said = is_alarm(
        check_statement(
            &reader,
            &pinned,
            &head,
            b"entry 257",
            &pinned.vkey,
            &receipt,
        ),
        "entry 257",
    );
    assert!(said.contains("rewritten"), "{said}");
    is_alarm(reader.replay(&head, |_, _| {}), "rewritten");

    // Rewritten in the hashes too: the root the entries make is not the signed one.
    let mut forged = TestLog::of(300);
    forged.rewritten.insert(5, b"forged".to_vec());
    let forged_hashes = {
        let mut h = MemoryHashes::new();
        for i in 0..300u64 {
            let e = forged
                .rewritten
                .get(&i)
                .cloned()
                .unwrap_or(forged.entries[i as usize].clone());
            h.append(&[leaf_hash(&e)]).expect("append");
        }
        h
    };
    let head = forged.head();
    forged.hashes = forged_hashes;
    is_alarm(
        forged.reader().replay(&head, |_, _| {}),
        "do not make the root",
    );
    // And the receipt of entry 5 is no longer included at that root.
    let honest = TestLog::of(300);
    is_alarm(
        check_statement(
            &forged.reader(),
            &honest.pinned(),
            &head,
            b"forged",
            &honest.pinned().vkey,
            &LogProof {
                index: 5,
                hashes: honest.proof(5).hashes,
                checkpoint: honest.note(),
            },
        ),
        "",
    );
}

#[test]
fn a_split_view_is_caught() {
    // Two logs under one key: the same 200 entries, then each its own.
    let mut a = TestLog::of(200);
    let mut b = TestLog::of(200);
    a.append(b"what the student was shown".to_vec());
    b.append(b"what the others were shown".to_vec());
    let pinned = a.pinned();
    assert_eq!(pinned.vkey, b.pinned().vkey, "one key");
    // Same size, other root: against the saved head, and as someone else's checkpoint.
    is_alarm(
        check_head(&b.reader(), Log::Blackboard, Some(&pinned), Some(&a.head())),
        "different history",
    );
    is_alarm(
        compare_checkpoint(&b.reader(), &b.head(), &a.head()),
        "SPLIT VIEW",
    );
    // A smaller checkpoint the current one does not continue.
    let seen = a.head();
    for i in 0..60 {
        b.append(format!("more {i}").into_bytes());
    }
    is_alarm(
        check_head(&b.reader(), Log::Blackboard, Some(&pinned), Some(&seen)),
        "not consistent",
    );
    is_alarm(
        compare_checkpoint(&b.reader(), &b.head(), &seen),
        "SPLIT VIEW",
    );
    // A receipt the student holds from the other branch.
    let receipt = a.proof(200);
    is_alarm(
        check_statement(
            &b.reader(),
            &pinned,
            &b.head(),
            b"what the student was shown",
            &pinned.vkey,
            &receipt,
        ),
        "",
    );
}

#[test]
fn a_shrunk_log_is_caught() {
    let big = TestLog::of(40);
    let small = TestLog::of(30);
    let said = is_alarm(
        check_head(
            &small.reader(),
            Log::Blackboard,
            Some(&small.pinned()),
            Some(&big.head()),
        ),
        "shrank",
    );
    assert!(said.contains("from 40 to 30"), "{said}");
    // A receipt whose checkpoint is past the log's current size.
    is_alarm(
        check_statement(
            &small.reader(),
            &small.pinned(),
            &small.head(),
            b"entry 35",
            &small.pinned().vkey,
            &big.proof(35),
        ),
        "shrank",
    );
}

#[test]
fn a_changed_key_and_a_receipt_of_another_log_are_caught() {
    let log = TestLog::of(10);
    let other = TestLog::with_key(&[9; 32]);
    is_alarm(
        check_head(&log.reader(), Log::Blackboard, Some(&other.pinned()), None),
        "LOG KEY CHANGED",
    );
    is_alarm(
        check_statement(
            &log.reader(),
            &log.pinned(),
            &log.head(),
            b"entry 1",
            &other.pinned().vkey,
            &log.proof(1),
        ),
        "not the one your profile pinned",
    );
    // A proof that does not lead to the entry.
    is_alarm(
        check_statement(
            &log.reader(),
            &log.pinned(),
            &log.head(),
            b"entry 2",
            &log.pinned().vkey,
            &log.proof(1),
        ),
        "own log proof",
    );
}

#[test]
fn hostile_objects_are_refused_not_trusted() {
    let log = TestLog::of(300);
    let head = log.head();
    let pinned = log.pinned();
    // A hash tile one hash short, an entry bundle with bytes after it, a checkpoint of another key.
    for (bad_path, bytes) in [
        ("tile/0/000", vec![0u8; 32 * 255]),
        ("tile/entries/000", {
            let mut b = log.serve("tile/entries/000").expect("bundle");
            b.push(0);
            b
        }),
        (
            "checkpoint",
            TestLog::with_key(&[1; 32]).note().into_bytes(),
        ),
        ("vkey", b"not a key\n".to_vec()),
    ] {
        let reader = LogReader::new("Blackboard", |path: &str| {
            if path == bad_path {
                Ok(bytes.clone())
            } else {
                log.serve(path)
            }
        });
        let r = check_head(&reader, Log::Blackboard, Some(&pinned), None)
            .map(|_| ())
            .and_then(|()| reader.replay(&head, |_, _| {}));
        let e = r.expect_err(bad_path);
        assert_eq!(e.kind(), ErrorKind::Auth, "{bad_path}: {e}");
    }
}

/// A certificate for `id` from `ca`.
fn certificate(ca: &Ca, id: &str) -> Vec<u8> {
    let id = PersonId::parse(id).expect("id");
    let key = new_person_key(&id).expect("key");
    let csr = check_person_csr(&key.csr_der, Some(&id)).expect("csr");
    ca.issue_person(&csr, SystemTime::now(), Duration::from_secs(86_400))
        .expect("issue")
        .to_vec()
}

#[test]
fn a_certificate_for_the_students_id_it_never_held_is_found() {
    let ca = Ca::generate("Test Root", SystemTime::now(), Duration::from_secs(86_400)).expect("ca");
    let mine = certificate(&ca, "1155000001");
    let renewed = certificate(&ca, "1155000001");
    let rogue = certificate(&ca, "1155000001");
    let someone_else = certificate(&ca, "1155000002");
    let mut log = TestLog::new();
    for der in [&mine, &someone_else, &renewed] {
        log.append(LogEntry::Certificate(der.clone()).encode());
    }
    let revoked_serial = handin_core::pki::serial_hex(
        &handin_core::pki::certificate_info(&mine)
            .expect("info")
            .serial,
    );
    log.append(
        LogEntry::Revocation(Revocation {
            person: "1155000001".into(),
            serial_hex: revoked_serial.clone(),
            revoked_at: 1_800_000_000,
        })
        .encode(),
    );
    let known: BTreeSet<String> = [&mine, &renewed]
        .iter()
        .map(|d| certificate_hash(d))
        .collect();
    let me = PersonId::parse("1155000001").expect("id");
    let clean = certificates_of(&log.reader(), &log.head(), &me, &known).expect("scan");
    assert_eq!(clean.len(), 2);
    assert!(clean.iter().all(|c| c.known));
    assert_eq!(clean[0].serial, revoked_serial);
    assert_eq!(clean[0].revoked_at, Some(1_800_000_000));
    assert_eq!(clean[1].revoked_at, None);
    assert_eq!(clean[1].index, 2);

    log.append(LogEntry::Certificate(rogue.clone()).encode());
    let found = certificates_of(&log.reader(), &log.head(), &me, &known).expect("scan");
    let unknown: Vec<&Issued> = found.iter().filter(|c| !c.known).collect();
    assert_eq!(unknown.len(), 1, "{found:?}");
    assert_eq!(unknown[0].sha256, certificate_hash(&rogue));
    assert_eq!(unknown[0].index, 4);
    // The other student's own scan sees only theirs.
    let other = PersonId::parse("1155000002").expect("id");
    let theirs = certificates_of(&log.reader(), &log.head(), &other, &BTreeSet::new());
    assert_eq!(theirs.expect("scan").len(), 1);
}

#[test]
fn a_replay_counts_entries_by_kind_and_reports_what_does_not_belong() {
    let mut log = TestLog::new();
    log.append(
        LogEntry::Revocation(Revocation {
            person: "1155000001".into(),
            serial_hex: "AB".into(),
            revoked_at: 1,
        })
        .encode(),
    );
    log.append(b"handin-nothing/1 at all".to_vec());
    log.append(LogEntry::Certificate(b"not DER".to_vec()).encode());
    let r = replay(&log.reader(), Log::Cuhk, &log.head()).expect("replay");
    assert_eq!((r.revocations, r.certificates, r.receipts), (1, 1, 0));
    let indexes: Vec<u64> = r.problems.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, [1, 2], "{:?}", r.problems);
    // A revocation does not belong in Blackboard's log.
    let r = replay(&log.reader(), Log::Blackboard, &log.head()).expect("replay");
    assert!(
        r.problems[0].1.contains("revocation in Blackboard's log"),
        "{:?}",
        r.problems
    );
}

#[test]
fn the_profiles_log_state_is_read_strictly_and_kept_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = crate::session::Profile::locate(Some(dir.path().to_path_buf()));
    assert!(pinned_vkey(&profile, Log::Cuhk)
        .expect("none yet")
        .is_none());
    assert!(known_certificates(&profile).expect("none yet").is_none());
    let log = TestLog::of(3);
    let pinned = pin_vkey(&profile, Log::Cuhk, &log.pinned().vkey).expect("pinned");
    let again = pinned_vkey(&profile, Log::Cuhk)
        .expect("read")
        .expect("pinned");
    assert_eq!(again.vkey, pinned.vkey);
    save_checkpoint(&profile, Log::Cuhk, &log.head()).expect("saved");
    let saved = saved_checkpoint(&profile, Log::Cuhk, &again).expect("read");
    assert_eq!(saved, Some(log.head()));
    // A saved checkpoint another key signed, a damaged key file: file errors, not trusted.
    let other = TestLog::with_key(&[3; 32]);
    std::fs::write(profile.log_checkpoint(Log::Cuhk), other.note()).expect("write");
    let e = saved_checkpoint(&profile, Log::Cuhk, &again).expect_err("another key");
    assert_eq!(e.kind(), ErrorKind::File, "{e}");
    std::fs::write(
        profile.log_vkey(Log::Cuhk),
        "cuhk/certificates+00000000+AAAA\n",
    )
    .expect("write");
    let e = pinned_vkey(&profile, Log::Cuhk).expect_err("damaged");
    assert_eq!(e.kind(), ErrorKind::File, "{e}");
    // When the key was pinned is recorded beside it.
    let at = pinned_at(&profile, Log::Cuhk)
        .expect("read")
        .expect("pinned");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(at <= now && now - at < 600, "{at} {now}");
    assert_eq!(pinned_at(&profile, Log::Blackboard).expect("read"), None);
    // The known certificates: each kept once; lines that are no SHA-256 are ignored.
    remember_certificate(&profile, b"one").expect("remembered");
    remember_certificate(&profile, b"one").expect("remembered");
    let mut text = std::fs::read_to_string(profile.known_certificates()).expect("list");
    assert_eq!(text.lines().count(), 1);
    text.push_str("not a hash\n\u{1b}[2J\n");
    std::fs::write(profile.known_certificates(), text).expect("write");
    remember_certificate(&profile, b"two").expect("remembered");
    let known = known_certificates(&profile).expect("read").expect("a list");
    let want: BTreeSet<String> = [certificate_hash(b"one"), certificate_hash(b"two")].into();
    assert_eq!(known, want);
}
