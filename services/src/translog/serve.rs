//! Reading a log for its clients: the checkpoint, hash tiles and entry bundles at their C2SP
//! tlog-tiles paths (the same bytes over HTTPS and over the handin protocols), and proofs made
//! on the server from the stored tile-level hashes.

use super::LogWriter;
use crate::store::{LogRecords, StoreError};
use handin_core::logs::{check_log_path, LogPath};
use handin_core::tlog::{
    consistency_proof, encode_entry_bundle, encode_hash_tile, inclusion_proof, Hash, TileKind,
    TilePath, TileSource, TlogError, TILE_HEIGHT, TILE_WIDTH,
};

/// Why a log object could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Not a log path, or not (yet) in the log.
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TlogError> for ServeError {
    fn from(e: TlogError) -> Self {
        Self::NotFound(e.to_string())
    }
}

/// A log object and how long it may be cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// A full tile or bundle never changes: cache it forever. A checkpoint or a partial tile
    /// is replaced as the log grows.
    pub immutable: bool,
}

/// The object at `path` (`checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`).
/// A partial tile is served at any width the log has reached (a prefix of a later one never
/// changes either).
pub fn serve(
    records: &dyn LogRecords,
    writer: &LogWriter,
    path: &str,
) -> Result<Served, ServeError> {
    let tile = match check_log_path(path).map_err(ServeError::NotFound)? {
        LogPath::Checkpoint => {
            let checkpoint = match records.log_head()? {
                Some(head) => head.checkpoint,
                None => writer.empty_checkpoint()?,
            };
            return Ok(Served {
                bytes: checkpoint.into_bytes(),
                immutable: false,
            });
        }
        LogPath::Vkey => {
            return Ok(Served {
                bytes: format!("{}\n", writer.vkey()).into_bytes(),
                immutable: true,
            })
        }
        LogPath::Tile(tile) => tile,
    };
    let bytes = match tile.kind {
        TileKind::Hash(level) => encode_hash_tile(&hashes_of(records, &tile, level)?)?,
        TileKind::Entries => {
            let (from, to) = span(&tile);
            let entries = records.log_entries(from, to)?;
            if entries.len() as u64 != to - from {
                return Err(missing(&tile));
            }
            encode_entry_bundle(&entries)?
        }
    };
    Ok(Served {
        bytes,
        immutable: tile.is_full(),
    })
}

fn missing(tile: &TilePath) -> ServeError {
    ServeError::NotFound(format!("{} is not in the log (yet)", tile.to_path()))
}

fn span(tile: &TilePath) -> (u64, u64) {
    let from = tile.index.saturating_mul(u64::from(TILE_WIDTH));
    (from, from.saturating_add(u64::from(tile.width)))
}

fn hashes_of(
    records: &dyn LogRecords,
    tile: &TilePath,
    level: u8,
) -> Result<Vec<Hash>, ServeError> {
    let stored_level = level
        .checked_mul(TILE_HEIGHT)
        .filter(|l| *l < 64)
        .ok_or_else(|| missing(tile))?;
    let (from, to) = span(tile);
    let hashes = records.log_hashes(stored_level, from, to)?;
    if hashes.len() as u64 != to - from {
        return Err(missing(tile));
    }
    Ok(hashes)
}

/// The stored hashes of the tree of `size` leaves, read tile by tile.
fn source(
    records: &dyn LogRecords,
    size: u64,
) -> TileSource<impl Fn(&TilePath) -> Result<Vec<Hash>, ServeError> + '_> {
    TileSource::new(size, move |tile: &TilePath| match tile.kind {
        TileKind::Hash(level) => hashes_of(records, tile, level),
        TileKind::Entries => Err(missing(tile)),
    })
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, from the store.
pub fn proof_at(records: &dyn LogRecords, index: u64, size: u64) -> Result<Vec<Hash>, ServeError> {
    inclusion_proof(&source(records, size), index, size)
}

/// The consistency proof from size `old` to size `new`, from the store.
pub fn consistency_at(
    records: &dyn LogRecords,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ServeError> {
    consistency_proof(&source(records, new), old, new)
}
