//! RFC 9162 (section 2.1.1) Merkle tree hashing with SHA-256: leaf and interior node hashes
//! with their domain-separation prefixes, and the Merkle Tree Hash (MTH) of a list of entries.

use super::TlogError;
use aws_lc_rs::digest::{self, SHA256};
use std::fmt;

/// Length of a SHA-256 hash in bytes.
pub const HASH_LEN: usize = 32;

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// The hash's bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// A hash from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, TlogError> {
        <[u8; HASH_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| TlogError::BadHash(format!("{} bytes, not {HASH_LEN}", bytes.len())))
    }

    /// Standard base64 with padding (RFC 4648 section 4), as in checkpoints.
    pub fn to_base64(&self) -> String {
        data_encoding::BASE64.encode(&self.0)
    }

    /// Parses the standard base64 (with padding) of 32 bytes; rejects any other encoding.
    pub fn from_base64(text: &str) -> Result<Self, TlogError> {
        if text.len() != 44 {
            return Err(TlogError::BadHash(format!(
                "base64 of {} characters, not 44",
                text.len()
            )));
        }
        let bytes = decode_base64(text).map_err(TlogError::BadHash)?;
        Self::from_slice(&bytes)
    }

    /// Lowercase hexadecimal.
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }

    /// Parses 64 hexadecimal digits (either case).
    pub fn from_hex(text: &str) -> Result<Self, TlogError> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.as_bytes())
            .map_err(|e| TlogError::BadHash(format!("not hexadecimal: {e}")))?;
        Self::from_slice(&bytes)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Decodes standard base64 with padding in its one canonical form: the decoder alone also
/// takes padding inside the text (concatenated padded blocks) and would give one value many
/// encodings, so the bytes must encode back to the same text.
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let bytes = data_encoding::BASE64
        .decode(text.as_bytes())
        .map_err(|e| format!("not base64: {e}"))?;
    if data_encoding::BASE64.encode(&bytes) != text {
        return Err("not canonical base64 (padding inside the text)".into());
    }
    Ok(bytes)
}

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = digest::Context::new(&SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    Hash(out)
}

/// The hash of a leaf entry: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[0x00], data])
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], &left.0, &right.0])
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// The Merkle Tree Hash of a list of entries (RFC 9162 section 2.1.1).
pub fn root<D: AsRef<[u8]>>(entries: &[D]) -> Hash {
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e.as_ref())).collect();
    root_of_leaf_hashes(&leaves)
}

/// The Merkle Tree Hash of a tree given by its leaf hashes.
pub fn root_of_leaf_hashes(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [one] => *one,
        _ => {
            let k = split(leaves.len() as u64) as usize;
            node_hash(
                &root_of_leaf_hashes(&leaves[..k]),
                &root_of_leaf_hashes(&leaves[k..]),
            )
        }
    }
}

/// The largest power of two smaller than `n` (for `n >= 2`): where RFC 9162 splits a tree of
/// `n` leaves into its left and right subtrees.
pub(crate) fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}
