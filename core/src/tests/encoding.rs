//! The text forms the core writes: hex of hashes and serials.

use crate::pki::serial_hex;
use crate::submit::{hex, sha256};

#[test]
fn a_hash_is_written_as_lower_case_hex() {
    assert_eq!(
        hex(&sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(hex(&[0x00, 0x0f, 0xf0, 0xff]), "000ff0ff");
    assert_eq!(hex(&[]), "");
}

#[test]
fn a_serial_is_written_as_upper_case_hex_without_leading_zero_bytes() {
    assert_eq!(serial_hex(&[0x00, 0x00, 0x0a, 0xbc, 0xde]), "0ABCDE");
    assert_eq!(serial_hex(&[0x7f, 0x01]), "7F01");
    assert_eq!(serial_hex(&[0x00]), "");
}
