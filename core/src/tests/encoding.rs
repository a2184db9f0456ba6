//! The text forms the core writes and reads: hex of hashes and serials, PEM blocks.

use super::t0;
use crate::config::Identity;
use crate::harness::Campus;
use crate::pki::{from_pem_or_der, serial_hex, to_pem};
use crate::submit::{hex, sha256};
use crate::Receipt;

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

/// A server certificate (PEM) and its PKCS#8 key (PEM, and DER).
fn server_pem() -> (String, String, Vec<u8>) {
    let campus = Campus::new(t0());
    let s = &campus.blackboard_cert;
    let der = from_pem_or_der(s.key_pem.as_bytes(), "PRIVATE KEY")
        .expect("the key PEM")
        .remove(0);
    (s.cert_pem.clone(), s.key_pem.clone(), der)
}

#[test]
fn pem_blocks_of_the_wanted_kind_are_read_and_others_skipped() {
    let (cert, key, key_der) = server_pem();
    let text = format!("junk before\n{cert}{key}{cert}trailing text\n");
    let certs = from_pem_or_der(text.as_bytes(), "CERTIFICATE").expect("two certificates");
    assert_eq!(certs.len(), 2);
    assert_eq!(to_pem("CERTIFICATE", &certs[0]), cert);
    assert_eq!(
        from_pem_or_der(text.as_bytes(), "PRIVATE KEY").expect("the key"),
        [key_der]
    );
    // DER is passed through as it is.
    assert_eq!(
        from_pem_or_der(&certs[1], "CERTIFICATE").expect("DER"),
        [certs[1].clone()]
    );
    assert_eq!(
        from_pem_or_der(key.as_bytes(), "CERTIFICATE").unwrap_err(),
        "no PEM block labelled CERTIFICATE"
    );
    assert_eq!(
        from_pem_or_der(b"not a certificate", "X509 CRL").unwrap_err(),
        "no PEM block labelled X509 CRL"
    );
}

#[test]
fn a_damaged_pem_block_is_one_clear_line() {
    let (cert, _, _) = server_pem();
    let cut = &cert[..cert.len() / 2];
    assert_eq!(
        from_pem_or_der(cut.as_bytes(), "CERTIFICATE").unwrap_err(),
        "not PEM or DER: the \"CERTIFICATE\" block has no END line"
    );
    let damaged = cert.replacen("MII", "M*I", 1);
    assert_eq!(
        from_pem_or_der(damaged.as_bytes(), "CERTIFICATE").unwrap_err(),
        "not PEM or DER: a block's base64 is damaged"
    );
    let bad_begin = cert.replacen("-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE--", 1);
    assert_eq!(
        from_pem_or_der(bad_begin.as_bytes(), "CERTIFICATE").unwrap_err(),
        "not PEM or DER: a BEGIN line is malformed"
    );
}

#[test]
fn an_identity_key_may_be_pem_or_der_and_a_missing_one_is_named() {
    let (cert, key, key_der) = server_pem();
    let from_pem = Identity::from_pem(cert.as_bytes(), key.as_bytes()).expect("PEM key");
    let from_der = Identity::from_pem(cert.as_bytes(), &key_der).expect("DER key");
    assert_eq!(from_pem.key.secret_der(), from_der.key.secret_der());
    for not_a_key in [
        cert.as_str(),
        "",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    ] {
        let e = Identity::from_pem(cert.as_bytes(), not_a_key.as_bytes()).unwrap_err();
        assert_eq!(
            e.0,
            "private key (a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY PEM block expected): \
             none found"
        );
    }
}

#[test]
fn a_receipt_is_a_handin_receipt_pem_block() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student("1155000001");
    let mut pair = campus.submit_pair(Some(alice));
    campus.connect_submit(&mut pair).expect("connected");
    let (receipt, _) = campus
        .submit(&mut pair, "CSCI3180", "hw1", "hw1.pdf", b"work")
        .expect("receipt");
    let pem = receipt.to_pem();
    assert!(
        pem.starts_with("-----BEGIN HANDIN RECEIPT-----\n")
            && pem.ends_with("-----END HANDIN RECEIPT-----\n"),
        "{pem}"
    );
    assert_eq!(
        Receipt::from_pem(pem.as_bytes()).expect("reads back"),
        receipt
    );
    let (cert, _, _) = server_pem();
    assert_eq!(
        Receipt::from_pem(cert.as_bytes()).unwrap_err().to_string(),
        "receipt file holds a CERTIFICATE block, not a HANDIN RECEIPT"
    );
}
