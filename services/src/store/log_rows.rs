//! What both backends do alike with a log's rows ([`super::log`]): checking an append before
//! anything is written, and the head's frontier as it is kept (its 32-byte hashes one after
//! the other).

use super::log::{kept, LogHead};
use super::StoreError;
use handin_core::tlog::{Hash, Node, HASH_LEN};

/// Checks an append of `entries` entries at `first` to a log whose committed size in this
/// transaction is `size`: it must continue the log exactly, every node must be kept and inside
/// the new tree, and the new head must fit its size. Nothing is written if it fails.
pub(crate) fn check_append(
    size: u64,
    first: u64,
    entries: usize,
    nodes: &[Node],
    head: &LogHead,
) -> Result<(), StoreError> {
    if first != size {
        return Err(StoreError::BadDatabase(format!(
            "an append at index {first} to a log of {size} entries (another writer?)"
        )));
    }
    let end = u64::try_from(entries)
        .ok()
        .and_then(|n| first.checked_add(n));
    if end != Some(head.size) {
        return Err(StoreError::BadDatabase(format!(
            "a head of size {} after appending {entries} entries at index {first}",
            head.size
        )));
    }
    if head.frontier.len() != head.size.count_ones() as usize {
        return Err(StoreError::BadDatabase(format!(
            "a head of size {} with {} frontier hashes",
            head.size,
            head.frontier.len()
        )));
    }
    for node in nodes {
        let last = node
            .index
            .checked_add(1)
            .and_then(|n| n.checked_mul(1u64.checked_shl(u32::from(node.level))?));
        if !kept(node) || !matches!(last, Some(l) if l <= head.size) {
            return Err(StoreError::BadDatabase(format!(
                "the subtree hash at level {} index {} is not one a log of {} entries keeps",
                node.level, node.index, head.size
            )));
        }
    }
    Ok(())
}

/// The frontier's hashes one after the other, as the head keeps them.
pub(crate) fn frontier_bytes(frontier: &[Hash]) -> Vec<u8> {
    frontier.iter().flat_map(|h| h.0).collect()
}

/// The head kept as `size`, `frontier` bytes and `checkpoint`.
pub(crate) fn head_from(
    size: u64,
    frontier: &[u8],
    checkpoint: String,
) -> Result<LogHead, StoreError> {
    let bad = || {
        StoreError::BadDatabase(format!(
            "the log head of size {size} keeps a frontier of {} bytes",
            frontier.len()
        ))
    };
    if frontier.len() != size.count_ones() as usize * HASH_LEN {
        return Err(bad());
    }
    let frontier = frontier
        .chunks_exact(HASH_LEN)
        .map(|c| Hash::from_slice(c).map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    Ok(LogHead {
        size,
        frontier,
        checkpoint,
    })
}

/// A kept subtree hash.
pub(crate) fn hash_from(bytes: &[u8]) -> Result<Hash, StoreError> {
    Hash::from_slice(bytes).map_err(|e| {
        StoreError::BadDatabase(format!("the log keeps a subtree hash that is no hash: {e}"))
    })
}

/// Refuses a level at which no hashes are kept.
pub(crate) fn check_level(level: u8) -> Result<(), StoreError> {
    let probe = Node {
        level,
        index: 0,
        hash: Hash::default(),
    };
    if kept(&probe) {
        Ok(())
    } else {
        Err(StoreError::BadDatabase(format!(
            "no subtree hashes are kept at level {level} (only at multiples of the tile height)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(size: u64) -> LogHead {
        LogHead {
            size,
            frontier: vec![Hash([1; 32]); size.count_ones() as usize],
            checkpoint: "c".into(),
        }
    }

    fn node(level: u8, index: u64) -> Node {
        Node {
            level,
            index,
            hash: Hash([2; 32]),
        }
    }

    #[test]
    fn an_append_must_continue_the_log_and_fit_its_head() {
        assert!(check_append(3, 3, 2, &[node(0, 3), node(0, 4)], &head(5)).is_ok());
        assert!(check_append(0, 0, 0, &[], &head(0)).is_ok());
        assert!(check_append(256, 256, 0, &[node(8, 0)], &head(256)).is_ok());
        assert!(check_append(3, 2, 3, &[], &head(5)).is_err(), "overlap");
        assert!(check_append(3, 4, 1, &[], &head(5)).is_err(), "gap");
        assert!(
            check_append(3, 3, 1, &[], &head(5)).is_err(),
            "head too big"
        );
        let mut short = head(5);
        short.frontier.pop();
        assert!(check_append(3, 3, 2, &[], &short).is_err(), "frontier");
        assert!(
            check_append(3, 3, 1, &[node(1, 1)], &head(4)).is_err(),
            "level 1"
        );
        assert!(
            check_append(3, 3, 2, &[node(0, 5)], &head(5)).is_err(),
            "past end"
        );
        assert!(check_append(0, 0, 1, &[node(64, 0)], &head(1)).is_err());
        assert!(check_append(0, 0, 1, &[node(0, u64::MAX)], &head(1)).is_err());
        assert!(check_append(u64::MAX, u64::MAX, 1, &[], &head(0)).is_err());
    }

    #[test]
    fn a_frontier_is_read_back_only_if_it_fits_its_size() {
        let h = head(5);
        let bytes = frontier_bytes(&h.frontier);
        assert_eq!(bytes.len(), 64);
        assert_eq!(head_from(5, &bytes, "c".into()).unwrap(), h);
        assert!(head_from(4, &bytes, "c".into()).is_err());
        assert!(head_from(5, &bytes[..63], "c".into()).is_err());
        assert_eq!(head_from(0, &[], String::new()).unwrap().frontier, []);
        assert!(hash_from(&[0; 31]).is_err());
        assert!(check_level(16).is_ok() && check_level(0).is_ok());
        assert!(check_level(3).is_err());
    }
}
