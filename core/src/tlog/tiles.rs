//! C2SP tiled logs (<https://c2sp.org/tlog-tiles>): tile paths, the content of hash tiles and
//! entry bundles, which tiles a tree size needs, and [`TileSource`], which answers
//! [`HashSource`] from hash tiles so that proofs can be made from them.
//!
//! A hash tile at tile level `L` holds up to 256 consecutive hashes of tree level `8 * L`:
//! level 0 tiles hold leaf hashes, level 1 tiles the roots of full level 0 tiles, and so on. A
//! full tile holds 256 hashes; the rightmost tile of each level is partial (`.p/<W>`, `W` of
//! 1..=255 hashes). An entry bundle holds the entries whose leaf hashes make the level 0 tile of
//! the same index, each as a big-endian u16 length and the bytes.
//!
//! Paths are `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, `N` written in groups of
//! three digits, all but the last prefixed with `x`: 1234067 is `x001/x234/067`.

use super::hash::{node_hash, Hash, HASH_LEN};
use super::proof::HashSource;
use super::TlogError;
use std::fmt;

/// Tree levels per tile level.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// The highest tile level a path may name.
const MAX_TILE_LEVEL: u8 = 63;
/// The longest entry an entry bundle can hold.
const MAX_ENTRY_LEN: usize = u16::MAX as usize;

fn bad(msg: impl Into<String>) -> TlogError {
    TlogError::BadTile(msg.into())
}

/// Which kind of tile: hashes at a tile level, or entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TileKind {
    /// A hash tile of this tile level (0..=63).
    Hash(u8),
    /// An entry bundle.
    Entries,
}

/// One tile: its kind, its index within its level, and its width (256 = full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TilePath {
    /// Hashes or entries.
    pub kind: TileKind,
    /// The tile's index among the tiles of its level.
    pub index: u64,
    /// How many hashes or entries it holds: 1..=255 for a partial tile, 256 for a full one.
    pub width: u16,
}

impl TilePath {
    /// A hash tile; fails on a level over 63 or a width outside 1..=256.
    pub fn hash(level: u8, index: u64, width: u16) -> Result<Self, TlogError> {
        if level > MAX_TILE_LEVEL {
            return Err(bad(format!("tile level {level} is over {MAX_TILE_LEVEL}")));
        }
        Self::new(TileKind::Hash(level), index, width)
    }

    /// An entry bundle; fails on a width outside 1..=256.
    pub fn entries(index: u64, width: u16) -> Result<Self, TlogError> {
        Self::new(TileKind::Entries, index, width)
    }

    fn new(kind: TileKind, index: u64, width: u16) -> Result<Self, TlogError> {
        if !(1..=TILE_WIDTH).contains(&width) {
            return Err(bad(format!("a tile of width {width}")));
        }
        Ok(Self { kind, index, width })
    }

    /// Whether the tile is full (256 wide).
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The entry bundle matching a level 0 hash tile (same index and width).
    pub fn entry_bundle(&self) -> Option<Self> {
        (self.kind == TileKind::Hash(0)).then_some(Self {
            kind: TileKind::Entries,
            ..*self
        })
    }

    /// The path, relative to the log's prefix: `tile/0/x001/x234/067.p/12`.
    pub fn to_path(&self) -> String {
        self.to_string()
    }

    /// Parses a path in its one canonical form; anything else is an error.
    pub fn parse(path: &str) -> Result<Self, TlogError> {
        let shown = || path.chars().take(80).collect::<String>();
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| bad(format!("{:?} does not start with tile/", shown())))?;
        let (kind, rest) = rest
            .split_once('/')
            .ok_or_else(|| bad(format!("{:?} has no tile index", shown())))?;
        let kind = if kind == "entries" {
            TileKind::Entries
        } else {
            let level = parse_decimal(kind, u64::from(MAX_TILE_LEVEL))
                .ok_or_else(|| bad(format!("{:?}: the tile level is not 0 to 63", shown())))?;
            TileKind::Hash(level as u8)
        };
        let (groups, width) = match rest.split_once(".p/") {
            Some((groups, w)) => {
                let w = parse_decimal(w, u64::from(TILE_WIDTH) - 1)
                    .filter(|w| *w > 0)
                    .ok_or_else(|| bad(format!("{:?}: a partial width is 1 to 255", shown())))?;
                (groups, w as u16)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = parse_index(groups)
            .ok_or_else(|| bad(format!("{:?}: a malformed tile index", shown())))?;
        Self::new(kind, index, width)
    }
}

impl fmt::Display for TilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TileKind::Hash(level) => write!(f, "tile/{level}/")?,
            TileKind::Entries => f.write_str("tile/entries/")?,
        }
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        for g in groups.iter().skip(1).rev() {
            write!(f, "x{g:03}/")?;
        }
        write!(f, "{:03}", groups[0])?;
        if !self.is_full() {
            write!(f, ".p/{}", self.width)?;
        }
        Ok(())
    }
}

/// A decimal number without leading zeros, at most `max`.
fn parse_decimal(text: &str, max: u64) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok().filter(|n| *n <= max)
}

/// `x001/x234/067` -> 1234067; the first group of several must not be `x000`.
fn parse_index(text: &str) -> Option<u64> {
    let groups: Vec<&str> = text.split('/').collect();
    // u64::MAX has 20 digits: 7 groups.
    if groups.len() > 7 {
        return None;
    }
    let last = groups.len() - 1;
    let mut n: u64 = 0;
    for (i, g) in groups.iter().enumerate() {
        let digits = if i < last { g.strip_prefix('x')? } else { g };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u64 = digits.parse().ok()?;
        if i == 0 && last > 0 && v == 0 {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(v)?;
    }
    Some(n)
}

/// The hash tiles a log publishes when it grows from `old` to `new` leaves: the full tiles that
/// became full, and the partial tiles of `new` that `old` did not have, level by level. (About
/// `(new - old) / 255` tiles; the entry bundles are those of the level 0 tiles, see
/// [`TilePath::entry_bundle`].) From `old = 0`, every tile of the tree of `new` leaves.
pub fn tiles_between(old: u64, new: u64) -> impl Iterator<Item = TilePath> {
    let old = old.min(new);
    (0..=7u8)
        .map_while(move |level| {
            let shift = u32::from(level) * u32::from(TILE_HEIGHT);
            let count = new >> shift;
            (count > 0).then_some((level, count, old >> shift))
        })
        .flat_map(|(level, count, old_count)| {
            let width = u64::from(TILE_WIDTH);
            let (full, partial) = (count / width, (count % width) as u16);
            let (old_full, old_partial) = (old_count / width, (old_count % width) as u16);
            let fulls = (old_full..full).map(move |index| TilePath {
                kind: TileKind::Hash(level),
                index,
                width: TILE_WIDTH,
            });
            let last =
                (partial > 0 && (full, partial) != (old_full, old_partial)).then_some(TilePath {
                    kind: TileKind::Hash(level),
                    index: full,
                    width: partial,
                });
            fulls.chain(last)
        })
}

/// A hash tile's bytes: its hashes, concatenated (1 to 256 of them).
pub fn encode_hash_tile(hashes: &[Hash]) -> Result<Vec<u8>, TlogError> {
    if hashes.is_empty() || hashes.len() > usize::from(TILE_WIDTH) {
        return Err(bad(format!("a hash tile of {} hashes", hashes.len())));
    }
    Ok(hashes.iter().flat_map(|h| h.0).collect())
}

/// Parses a hash tile of `width` hashes: exactly `width * 32` bytes.
pub fn parse_hash_tile(bytes: &[u8], width: u16) -> Result<Vec<Hash>, TlogError> {
    if !(1..=TILE_WIDTH).contains(&width) {
        return Err(bad(format!("a tile of width {width}")));
    }
    let want = usize::from(width) * HASH_LEN;
    if bytes.len() != want {
        return Err(bad(format!(
            "a hash tile of width {width} has {want} bytes, not {}",
            bytes.len()
        )));
    }
    bytes.chunks_exact(HASH_LEN).map(Hash::from_slice).collect()
}

/// An entry bundle's bytes: each entry as a big-endian u16 length and its bytes (1 to 256
/// entries of at most 65535 bytes).
pub fn encode_entry_bundle<D: AsRef<[u8]>>(entries: &[D]) -> Result<Vec<u8>, TlogError> {
    if entries.is_empty() || entries.len() > usize::from(TILE_WIDTH) {
        return Err(bad(format!("an entry bundle of {} entries", entries.len())));
    }
    let mut out = Vec::new();
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| {
            bad(format!(
                "an entry of {} bytes, over {MAX_ENTRY_LEN}",
                e.len()
            ))
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Parses an entry bundle of exactly `width` entries, with nothing after the last.
pub fn parse_entry_bundle(bytes: &[u8], width: u16) -> Result<Vec<&[u8]>, TlogError> {
    if !(1..=TILE_WIDTH).contains(&width) {
        return Err(bad(format!("a bundle of width {width}")));
    }
    let mut entries = Vec::with_capacity(usize::from(width));
    let mut rest = bytes;
    for i in 0..width {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return Err(bad(format!(
                "the entry bundle ends before entry {i} of {width}"
            )));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(bad(format!(
                "entry {i} of the bundle claims {len} bytes; {} are left",
                tail.len()
            )));
        }
        let (entry, tail) = tail.split_at(len);
        entries.push(entry);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(bad(format!(
            "{} bytes after the {width} entries of the bundle",
            rest.len()
        )));
    }
    Ok(entries)
}

/// A [`HashSource`] over the hash tiles of a tree of `size` leaves, as a client that reads a
/// tiled log has them: `fetch` answers the hashes of a tile (get the bytes and
/// [`parse_hash_tile`] them; cache as you like). A subtree whose height is not a multiple of 8
/// is hashed from the tile below.
#[derive(Debug, Clone)]
pub struct TileSource<F> {
    size: u64,
    fetch: F,
}

impl<F> TileSource<F> {
    /// Tiles of the tree of `size` leaves, read with `fetch`.
    pub fn new(size: u64, fetch: F) -> Self {
        Self { size, fetch }
    }
}

impl<F, E> HashSource for TileSource<F>
where
    F: Fn(&TilePath) -> Result<Vec<Hash>, E>,
    E: From<TlogError>,
{
    type Error = E;

    fn hash(&self, level: u8, index: u64) -> Result<Hash, E> {
        let missing = || TlogError::NoSuchNode { level, index };
        if level > 63 || (u128::from(index) + 1) << level > u128::from(self.size) {
            return Err(missing().into());
        }
        let tile_level = level / TILE_HEIGHT;
        let sub = level % TILE_HEIGHT;
        // The node covers `count` hashes of tile level `tile_level`, from `first`.
        let first = index << sub;
        let count = 1usize << sub;
        let width = u64::from(TILE_WIDTH);
        let tile_index = first / width;
        let offset = (first % width) as usize;
        let in_level = self.size >> (u32::from(tile_level) * u32::from(TILE_HEIGHT));
        let tile_width = if tile_index < in_level / width {
            TILE_WIDTH
        } else {
            (in_level % width) as u16
        };
        let tile = TilePath::hash(tile_level, tile_index, tile_width)?;
        let hashes = (self.fetch)(&tile)?;
        if hashes.len() != usize::from(tile_width) {
            return Err(TlogError::BadTile(format!(
                "{tile} has {} hashes, not {tile_width}",
                hashes.len()
            ))
            .into());
        }
        let mut row: Vec<Hash> = hashes
            .get(offset..offset + count)
            .ok_or_else(missing)?
            .to_vec();
        while row.len() > 1 {
            row = row
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
        }
        row.first().copied().ok_or_else(|| missing().into())
    }
}
