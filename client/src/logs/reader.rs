//! [`LogReader`]: a served transparency log read over any connection (Blackboard's or CUHK's),
//! object by object at its C2SP tlog-tiles paths: the verifier key, the signed checkpoint, hash
//! tiles (kept for the rest of the run) and entry bundles. Nothing a log serves is trusted by
//! itself: a checkpoint is opened with the key the caller trusts, every entry bundle is checked
//! against the level-0 hash tile, and tiles only ever lead to proofs that are then verified
//! against a signed root.
//!
//! Errors are classified: a tile or bundle a signed checkpoint covers that the log says it does
//! not hold is an alarm (kind `Auth`: the log cannot back what it signed), as is an object that
//! does not parse or a proof that fails; a connection that breaks or a refusal for another
//! reason keeps its own kind (try again).

use crate::session::StudentError;
use crate::ErrorKind;
use handin_core::tlog::{
    consistency_proof, inclusion_proof, leaf_hash, parse_entry_bundle, parse_hash_tile,
    root_of_leaf_hashes, verify_consistency, verify_inclusion, Checkpoint, Hash, NoteVerifier,
    TilePath, TileSource, TlogError, TILE_WIDTH,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A log object that does not parse, or a proof that does not verify: the log is not what its
/// signed checkpoints say (exit code 5).
impl From<TlogError> for StudentError {
    fn from(e: TlogError) -> Self {
        StudentError::auth(e.to_string())
    }
}

/// What fetches one object of a log by its path (`checkpoint`, `vkey`, a tile path), as served.
pub type Fetch<'a> = dyn FnMut(&str) -> Result<Vec<u8>, StudentError> + 'a;

/// A checkpoint as served (the signed note's text) and what it says, once opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The signed note, as served.
    pub note: String,
    /// Its body: origin, size, root.
    pub checkpoint: Checkpoint,
}

impl Head {
    /// Opens a signed checkpoint `note` with `verifier` (the log's origin is the key's name).
    pub fn open(note: &[u8], verifier: &NoteVerifier) -> Result<Self, StudentError> {
        let checkpoint = Checkpoint::open(note, verifier.name(), std::slice::from_ref(verifier))?;
        let note = String::from_utf8(note.to_vec())
            .map_err(|_| StudentError::auth("the checkpoint is not UTF-8"))?;
        Ok(Self { note, checkpoint })
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.checkpoint.size
    }

    /// The root.
    pub fn root(&self) -> &Hash {
        &self.checkpoint.root
    }
}

/// An entry bundle, checked: its entries and their leaf hashes (the level-0 hash tile).
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The entries, in order.
    pub entries: Vec<Vec<u8>>,
    /// Their leaf hashes.
    pub hashes: Rc<[Hash]>,
}

/// A log read object by object; hash tiles are kept for the run (a full tile never changes,
/// and a partial one is asked for at one width per tree size).
pub struct LogReader<'a> {
    what: &'static str,
    fetch: RefCell<Box<Fetch<'a>>>,
    tiles: RefCell<HashMap<TilePath, Rc<[Hash]>>>,
}

impl std::fmt::Debug for LogReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

/// The width of tile `index` (of a level with `in_level` hashes or entries).
fn width_of(index: u64, in_level: u64) -> Option<u16> {
    let full = in_level / u64::from(TILE_WIDTH);
    if index < full {
        Some(TILE_WIDTH)
    } else if index == full && in_level % u64::from(TILE_WIDTH) != 0 {
        Some((in_level % u64::from(TILE_WIDTH)) as u16)
    } else {
        None
    }
}

impl<'a> LogReader<'a> {
    /// A reader of `what`'s log (`Blackboard`, `CUHK`: for messages), fetching with `fetch`.
    pub fn new(
        what: &'static str,
        fetch: impl FnMut(&str) -> Result<Vec<u8>, StudentError> + 'a,
    ) -> Self {
        Self {
            what,
            fetch: RefCell::new(Box::new(fetch)),
            tiles: RefCell::new(HashMap::new()),
        }
    }

    /// Whose log it is, for messages.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// One object as served.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, StudentError> {
        let mut fetch = self
            .fetch
            .try_borrow_mut()
            .map_err(|_| StudentError::other("the log reader was asked twice at once"))?;
        fetch(path)
    }

    /// The log's verifier key as served (`vkey`, a line of text), checked to be a key.
    pub fn vkey(&self) -> Result<String, StudentError> {
        let bytes = self.get("vkey")?;
        let bad = |why: String| {
            StudentError::auth(format!("{} served a malformed log key: {why}", self.what))
        };
        let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
        let vkey = text.strip_suffix('\n').unwrap_or(&text);
        NoteVerifier::from_vkey(vkey).map_err(|e| bad(e.to_string()))?;
        Ok(vkey.to_owned())
    }

    /// The current checkpoint, opened with `verifier`.
    pub fn head(&self, verifier: &NoteVerifier) -> Result<Head, StudentError> {
        let note = self.get("checkpoint")?;
        Head::open(&note, verifier).map_err(|e| {
            e.context(format!(
                "{}'s current checkpoint is not signed by the log key {}",
                self.what,
                verifier.name()
            ))
        })
    }

    /// A tile or entry bundle of a tree a checkpoint signed by the log's key covers: the log
    /// answering that it does not hold it is an alarm (kind `Auth`, still
    /// [`StudentError::is_missing`]); any other failure to fetch it stays what it was.
    fn get_covered(&self, path: &str) -> Result<Vec<u8>, StudentError> {
        self.get(path).map_err(|e| {
            if e.is_missing() {
                e.with_kind(ErrorKind::Auth).context(format!(
                    "{}'s log cannot back its signed checkpoint: it does not serve {path}, which                      the checkpoint covers",
                    self.what
                ))
            } else {
                e
            }
        })
    }

    /// The hashes of a hash tile (fetched once per run).
    pub fn hashes(&self, tile: &TilePath) -> Result<Rc<[Hash]>, StudentError> {
        if let Some(h) = self.tiles.borrow().get(tile) {
            return Ok(Rc::clone(h));
        }
        let bytes = self.get_covered(&tile.to_path())?;
        let hashes: Rc<[Hash]> = parse_hash_tile(&bytes, tile.width)
            .map_err(|e| StudentError::auth(format!("{} served {tile}: {e}", self.what)))?
            .into();
        self.tiles.borrow_mut().insert(*tile, Rc::clone(&hashes));
        Ok(hashes)
    }

    /// The stored hashes of the tree of `size` leaves, from the hash tiles.
    pub fn source(
        &self,
        size: u64,
    ) -> TileSource<impl Fn(&TilePath) -> Result<Vec<Hash>, StudentError> + use<'_, 'a>> {
        TileSource::new(size, move |tile: &TilePath| {
            self.hashes(tile).map(|h| h.to_vec())
        })
    }

    /// Entry bundle `index` of the tree of `size` leaves, each entry checked against the
    /// level-0 hash tile (so that an entry rewritten where the log keeps its entries, but not
    /// in its hashes, is caught). Answers the entries and their leaf hashes.
    pub fn bundle(&self, index: u64, size: u64) -> Result<Bundle, StudentError> {
        let width = width_of(index, size).ok_or_else(|| {
            StudentError::other(format!(
                "no entry bundle {index} in a log of {size} entries"
            ))
        })?;
        let tile = TilePath::hash(0, index, width)?;
        let hashes = self.hashes(&tile)?;
        let path = TilePath::entries(index, width)?;
        let bytes = self.get_covered(&path.to_path())?;
        let entries = parse_entry_bundle(&bytes, width)
            .map_err(|e| StudentError::auth(format!("{} served {path}: {e}", self.what)))?;
        let first = index * u64::from(TILE_WIDTH);
        for (i, (entry, hash)) in entries.iter().zip(hashes.iter()).enumerate() {
            if leaf_hash(entry) != *hash {
                return Err(StudentError::auth(format!(
                    "entry {} of {}'s log as served does not match the log's hash of it: the \
                     entry was rewritten after it was logged",
                    first + i as u64,
                    self.what
                )));
            }
        }
        Ok(Bundle {
            entries: entries.into_iter().map(<[u8]>::to_vec).collect(),
            hashes,
        })
    }

    /// Entry `index` of the tree of `size` leaves, checked against the level-0 hash tile.
    pub fn entry(&self, index: u64, size: u64) -> Result<Vec<u8>, StudentError> {
        if index >= size {
            return Err(TlogError::IndexOutOfRange { index, size }.into());
        }
        let mut bundle = self.bundle(index / u64::from(TILE_WIDTH), size)?;
        let i = (index % u64::from(TILE_WIDTH)) as usize;
        Ok(bundle.entries.swap_remove(i))
    }

    /// Reads every entry of the log at `head`, bundle by bundle (each checked against the hash
    /// tiles), calls `each(index, entry)` on each, and checks that the entries make the root
    /// `head` signs.
    pub fn replay(
        &self,
        head: &Head,
        mut each: impl FnMut(u64, &[u8]),
    ) -> Result<(), StudentError> {
        let size = head.size();
        let mut leaves = Vec::with_capacity(usize::try_from(size.min(1 << 20)).unwrap_or(0));
        let bundles = size.div_ceil(u64::from(TILE_WIDTH));
        for b in 0..bundles {
            let bundle = self.bundle(b, size)?;
            for (i, entry) in bundle.entries.iter().enumerate() {
                each(b * u64::from(TILE_WIDTH) + i as u64, entry);
            }
            leaves.extend_from_slice(&bundle.hashes);
            // Bundles are read once: only the hash tiles above level 0 stay useful.
            self.tiles
                .borrow_mut()
                .retain(|t, _| !matches!(t.kind, handin_core::tlog::TileKind::Hash(0)));
        }
        if root_of_leaf_hashes(&leaves) != *head.root() {
            return Err(StudentError::auth(format!(
                "the {size} entries of {}'s log do not make the root its checkpoint signs: the \
                 log was rewritten",
                self.what
            )));
        }
        Ok(())
    }

    /// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree
    /// `head` signs: a consistency proof made from the current hash tiles, verified.
    pub fn check_consistency(
        &self,
        old_size: u64,
        old_root: &Hash,
        head: &Head,
    ) -> Result<(), StudentError> {
        let proof = consistency_proof(&self.source(head.size()), old_size, head.size())?;
        verify_consistency(old_size, head.size(), &proof, old_root, head.root())?;
        Ok(())
    }

    /// Checks that `entry` is leaf `index` of the tree `head` signs: an inclusion proof made
    /// from the current hash tiles, verified.
    pub fn check_inclusion(
        &self,
        entry: &[u8],
        index: u64,
        head: &Head,
    ) -> Result<(), StudentError> {
        let proof = inclusion_proof(&self.source(head.size()), index, head.size())?;
        verify_inclusion(&leaf_hash(entry), index, head.size(), &proof, head.root())?;
        Ok(())
    }
}
