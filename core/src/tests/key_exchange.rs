//! Which key exchange a handshake negotiates: the hybrid post-quantum X25519MLKEM768 between
//! handin's own client and server by default, X25519 with a peer that offers only that.

use super::t0;
use crate::config::KeyExchange;
use crate::harness::Campus;
use crate::Role;

const ALICE: &str = "1155000001";

#[test]
fn handin_client_and_server_agree_on_x25519mlkem768_by_default() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let mut pair = campus.submit_pair(Some(alice));
    campus.connect_submit(&mut pair).expect("connected");
    assert_eq!(pair.client.handshake_info().key_exchange, "X25519MLKEM768");
    assert_eq!(pair.server.handshake_info().key_exchange, "X25519MLKEM768");
    assert_eq!(KeyExchange::default().first_group(), "X25519MLKEM768");
}

#[test]
fn an_x25519_only_client_still_connects_with_x25519() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let classical =
        campus.client_config_with_key_exchange(Role::Submit, Some(alice), KeyExchange::Classical);
    let mut pair = campus.submit_pair_with(&classical);
    campus.connect_submit(&mut pair).expect("connected");
    assert_eq!(pair.client.handshake_info().key_exchange, "X25519");
    assert_eq!(pair.server.handshake_info().key_exchange, "X25519");
}

#[test]
fn a_resumed_handshake_keeps_the_hybrid_exchange() {
    let mut campus = Campus::new(t0());
    let alice = campus.new_student(ALICE);
    let shared = campus.client_config(Role::Submit, Some(alice));
    let mut first = campus.submit_pair_with(&shared);
    campus.connect_submit(&mut first).expect("connected");
    let mut again = campus.submit_pair_with(&shared);
    campus.connect_submit(&mut again).expect("connected again");
    let info = again.server.handshake_info();
    assert!(info.resumed, "{info:?}");
    assert_eq!(info.key_exchange, "X25519MLKEM768");
}

#[test]
fn key_exchange_names_parse_and_others_are_refused() {
    assert_eq!(
        KeyExchange::parse("X25519MLKEM768"),
        Some(KeyExchange::PostQuantum)
    );
    assert_eq!(KeyExchange::parse("x25519"), Some(KeyExchange::Classical));
    for bad in ["", "mlkem768", "x25519 ", "secp256r1", "x25519mlkem768x"] {
        assert_eq!(KeyExchange::parse(bad), None, "{bad:?}");
    }
}
