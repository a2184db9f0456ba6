//! The CSR policy on arbitrary bytes (as DER, and as PEM text): never panics; whatever passes is
//! signable by the CA.
#![no_main]

use handin_core::pki::{check_csr, StudentId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let expected = StudentId::parse("1155000001").ok();
    if let Ok(csr) = check_csr(data, expected.as_ref()) {
        assert_eq!(csr.person().as_str(), "1155000001");
    }
    let _ = check_csr(data, None);
    let _ = handin_core::pki::student_id_of(data);
    let _ = handin_core::pki::certificate_info(data);
});
