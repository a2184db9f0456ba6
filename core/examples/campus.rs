//! The whole handin scenario in memory, narrated: a CA, an enrollment over TLS 1.3, a
//! submission over mutual TLS, a signed receipt, a listing and a fetch. No sockets: the core
//! is driven through byte buffers by the harness, on a virtual clock.
//!
//! Run with `cargo run -p handin-core --example campus`.

use handin_core::harness::{t0, Campus, StudentKey};
use handin_core::pki::certificate_info;
use handin_core::submit::hex;
use handin_core::Now;
use std::time::Instant;

fn main() {
    let student = "1155000001";
    let mut campus = Campus::new(Now::new(Instant::now(), t0()));
    println!("1. CUHK created its root CA (ECDSA P-256) and certificates for its enrollment server and for Blackboard.");

    let code = campus.add_student(student);
    println!("2. CUHK put student {student} on the roster with a one-time enrollment code.");

    let key = StudentKey::new(student);
    println!("3. The student made a P-256 key pair and a CSR with CN={student}.");

    let mut enroll = campus.enroll_pair(None);
    let chain = match campus.enroll(&mut enroll, student, &code, &key.csr_der) {
        Ok(chain) => chain,
        Err(e) => fail(&format!("enrollment failed: {e}")),
    };
    let info = certificate_info(&chain[0]).unwrap_or_else(|e| fail(&e.0));
    println!(
        "4. Over TLS 1.3 ({}), CUHK checked the roster, the code and the CSR's signature, and issued {} (serial {} bits).",
        enroll.client.handshake_info().cipher_suite,
        info.subject,
        info.serial.len() * 8
    );

    let mut pair = campus.submit_pair(Some(key.identity(chain)));
    if let Err(e) = campus.connect_submit(&mut pair) {
        fail(&e);
    }
    println!(
        "5. Blackboard verified the student's certificate against the CUHK root (mutual TLS) and welcomed student {}.",
        pair.client.student().unwrap_or("?")
    );

    let homework = b"Assignment 1: the answer is 42.\n".repeat(1000);
    let (receipt, body) = campus
        .submit(&mut pair, "CSCI3180", "hw1", "hw1.txt", &homework)
        .unwrap_or_else(|r| fail(&r.reason));
    println!(
        "6. The student submitted {} bytes; Blackboard checked size and SHA-256 {} and signed receipt {}.",
        body.size,
        &hex(&body.sha256)[..16],
        body.id
    );

    match receipt.verify(&campus.blackboard_cert.cert) {
        Ok(b) if b == body => {
            println!("7. The receipt verifies with Blackboard's certificate: anyone can check it.")
        }
        _ => fail("the receipt does not verify"),
    }

    let list = campus
        .list(&mut pair, None)
        .unwrap_or_else(|r| fail(&r.reason));
    println!(
        "8. The student listed their submissions: {} found.",
        list.len()
    );

    let (_, bytes) = campus
        .fetch(&mut pair, &body.id)
        .unwrap_or_else(|r| fail(&r.reason));
    if bytes != homework {
        fail("the fetched bytes differ from the original");
    }
    println!(
        "9. The student fetched {} back: the bytes are identical.",
        body.id
    );
}

fn fail(why: &str) -> ! {
    eprintln!("error: {why}");
    std::process::exit(1)
}
