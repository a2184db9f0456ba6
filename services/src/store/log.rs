//! What a transparency log keeps beside the records it logs: its entries, the hashes of the
//! complete subtrees at the tile levels (0, 8, 16, ...: what C2SP hash tiles hold), and its
//! head (size, frontier, latest signed checkpoint). CUHK's database holds its log of
//! certificates and revocations, Blackboard's its log of receipts and commitments.
//!
//! A log is appended to only inside the transaction that writes the records it logs
//! ([`LogTx`], reached from [`BoardTx`](super::BoardTx) and
//! [`RegistrarTx`](super::RegistrarTx)), so that a record is never committed without its
//! entry nor an entry without its record; batches are serialized by the store (one writer on
//! SQLite, the advisory lock of the batch on PostgreSQL), so the head read in a transaction is
//! the one the transaction appends to. Reading ([`LogRecords`]) needs no lock: entries and
//! hashes are never changed once written, and a head only grows.

use super::StoreError;
use handin_core::tlog::{Hash, Node, TILE_HEIGHT};

/// A log's state after its last append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    /// The number of entries.
    pub size: u64,
    /// The hashes of the maximal complete subtrees, largest first (one per set bit of
    /// `size`): what appending needs.
    pub frontier: Vec<Hash>,
    /// The signed checkpoint of this size (a C2SP signed note).
    pub checkpoint: String,
}

/// Whether a complete-subtree hash is kept: only those at tile levels.
pub fn kept(node: &Node) -> bool {
    node.level % TILE_HEIGHT == 0
}

/// Appending to the log inside the transaction that writes what it logs.
pub trait LogTx {
    /// The head as this transaction sees it (`None`: nothing was ever appended).
    fn log_head(&mut self) -> Result<Option<LogHead>, StoreError>;
    /// Writes `entries` at indexes `first..`, the subtree hashes `nodes` (only those
    /// [`kept`]: the caller filters), and the new `head`. `first` must be the size of the
    /// head read in this transaction.
    fn log_append(
        &mut self,
        first: u64,
        entries: &[Vec<u8>],
        nodes: &[Node],
        head: &LogHead,
    ) -> Result<(), StoreError>;
}

/// Reading the log, for serving it and for proofs.
pub trait LogRecords {
    /// The last committed head (`None`: nothing was ever appended).
    fn log_head(&self) -> Result<Option<LogHead>, StoreError>;
    /// The entries at indexes `from..to` (fewer if the log is shorter), in order.
    fn log_entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// The kept hashes at `level` (a multiple of [`TILE_HEIGHT`]) with indexes `from..to`
    /// (fewer if there are fewer), in order.
    fn log_hashes(&self, level: u8, from: u64, to: u64) -> Result<Vec<Hash>, StoreError>;
}
