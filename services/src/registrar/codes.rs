//! One-time enrollment codes: made at random from an alphabet without look-alikes, kept only
//! as a salted SHA-256, compared in constant time.

use super::RegistrarError;
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// The characters of an enrollment code: no `0`/`O`, `1`/`I`/`L` to misread.
pub(super) const CODE_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in an enrollment code (without the dashes).
const CODE_LEN: usize = 16;
/// Bytes of salt per code.
pub(super) const SALT_LEN: usize = 16;

/// A new code (`XXXX-XXXX-XXXX-XXXX`) and a new salt for its hash.
pub(super) fn new_code() -> Result<(String, [u8; SALT_LEN]), RegistrarError> {
    let rng = SystemRandom::new();
    // Rejection sampling keeps every character equally likely: 248 = 8 * 31.
    let limit = 8 * CODE_ALPHABET.len();
    let mut code = String::with_capacity(CODE_LEN + 3);
    let mut n = 0;
    let mut buf = [0u8; 32];
    while n < CODE_LEN {
        rng.fill(&mut buf).map_err(|_| RegistrarError::Random)?;
        for b in buf.iter().map(|b| usize::from(*b)).filter(|b| *b < limit) {
            if n == CODE_LEN {
                break;
            }
            if n > 0 && n % 4 == 0 {
                code.push('-');
            }
            code.push(char::from(CODE_ALPHABET[b % CODE_ALPHABET.len()]));
            n += 1;
        }
    }
    let mut salt = [0u8; SALT_LEN];
    rng.fill(&mut salt).map_err(|_| RegistrarError::Random)?;
    Ok((code, salt))
}

/// SHA-256 of the salt and the normalized code.
pub(super) fn code_hash(salt: &[u8], normalized: &str) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(salt);
    ctx.update(normalized.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Whether two hashes are equal, in constant time.
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    verify_slices_are_equal(a, b).is_ok()
}
