//! The JSON the binaries print with `--json`: one value per command, on one line, with the
//! field names documented in docs/JSON.md (a test holds the two together). The shapes that
//! several commands print (a submission, a receipt, a certificate, an enrollment) are written
//! here once. Times are RFC 3339 in UTC, sizes whole bytes, digests lowercase hex; strings keep
//! their exact value, with the characters a terminal would obey escaped by the encoding.

use handin_client::printable;
use handin_client::student::{Enrolled, ExportedP12, Profile, Standing};
use handin_core::msg::{FeedbackFile, SubmissionEntry};
use handin_core::pki::{rfc3339, ServerCertificate};
use handin_core::receipt::ReceiptBody;
use handin_core::submit::hex;
use handin_core::tlog::Checkpoint;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Prints `value` on one line of stdout.
pub fn print(value: &Value) {
    println!("{}", printable::json(value));
}

/// Seconds since the Unix epoch as RFC 3339.
pub fn at(secs: u64) -> String {
    time(UNIX_EPOCH + Duration::from_secs(secs))
}

/// A time as RFC 3339.
pub fn time(t: SystemTime) -> String {
    rfc3339(t)
}

/// A path as text.
pub fn path(p: &Path) -> String {
    p.display().to_string()
}

/// One stored submission, as `student list`, `student fetch` and `staff status` show it.
pub fn submission(e: &SubmissionEntry) -> Value {
    json!({
        "id": e.id,
        "student_id": e.student_id,
        "course": e.course,
        "assignment": e.assignment,
        "file_name": e.file_name,
        "size": e.size,
        "sha256": hex(&e.sha256),
        "received_at": at(e.received_at),
        "late": e.late,
        "version": e.version,
    })
}

/// What a receipt attests, as `student submit` and `student verify-receipt` show it.
pub fn receipt(b: &ReceiptBody) -> Value {
    json!({
        "id": b.id,
        "student_id": b.student_id,
        "course": b.course,
        "assignment": b.assignment,
        "file_name": b.file_name,
        "size": b.size,
        "sha256": hex(&b.sha256),
        "received_at": at(b.received_at),
        "due_at": at(b.due_at),
        "late": b.late,
        "version": b.version,
        "committed_at": b.committed_at.map(at),
    })
}

/// Where a log holds a statement, as its proof shows: the log's origin, the statement's index,
/// and the size and root (hex) of the checkpoint the proof leads to.
pub fn log_place(checkpoint: &Checkpoint, index: u64) -> Value {
    json!({
        "origin": checkpoint.origin,
        "index": index,
        "size": checkpoint.size,
        "root": checkpoint.root.to_hex(),
    })
}

/// A server certificate of the CUHK root.
pub fn server_certificate(c: &ServerCertificate) -> Value {
    json!({
        "subject": c.subject,
        "names": c.names,
        "sha256": c.fingerprint,
        "not_before": time(c.not_before),
        "not_after": time(c.not_after),
    })
}

/// How a profile knows the certificate that signed a receipt.
pub fn standing(s: &Standing) -> &'static str {
    match s {
        Standing::Pinned => "pinned",
        Standing::Recorded => "recorded",
        Standing::NoPin => "no_pin",
    }
}

/// A certificate CUHK issued into `profile` (`enroll`, `renew`).
pub fn enrolled(e: &Enrolled, profile: &Profile) -> Value {
    json!({
        "id": e.id.as_str(),
        "subject": e.subject,
        "serial": e.serial,
        "not_after": time(e.not_after),
        "root_sha256": e.root.to_string(),
        "profile": path(profile.dir()),
        "certificate": path(&profile.cert()),
        "key": path(&profile.key()),
    })
}

/// A feedback file written to `out`.
pub fn feedback(f: &FeedbackFile, out: &Path) -> Value {
    json!({
        "file_name": f.file_name,
        "size": f.size,
        "sha256": hex(&f.sha256),
        "path": path(out),
    })
}

/// A PKCS#12 file written by `export-p12`.
pub fn exported_p12(x: &ExportedP12) -> Value {
    json!({
        "path": path(&x.path),
        "subject": x.subject,
        "sha256": x.sha256,
    })
}

/// Prints a certificate CUHK issued into `profile` (`enroll`, or `renew` if `renewed`): one
/// JSON object, or lines for a person.
pub fn print_enrolled(e: &Enrolled, profile: &Profile, renewed: bool, as_json: bool) {
    if as_json {
        return print(&enrolled(e, profile));
    }
    if renewed {
        println!(
            "renewed: {} (serial {}), valid until {}",
            e.subject,
            e.serial,
            time(e.not_after)
        );
        return;
    }
    println!(
        "enrolled: {} (serial {}), valid until {}; saved in {}",
        e.subject,
        e.serial,
        time(e.not_after),
        profile.dir().display()
    );
    println!("trusting the CUHK root with SHA-256 fingerprint {}", e.root);
}

/// Prints what `export-p12` wrote: one JSON object, or a line for a person.
pub fn print_exported_p12(x: &ExportedP12, as_json: bool) {
    if as_json {
        return print(&exported_p12(x));
    }
    println!(
        "exported {} (certificate SHA-256 {}), its private key and the CUHK root to {} (mode \
         0600, password-protected): import it into your browser's certificates",
        x.subject,
        x.sha256,
        x.path.display()
    );
}
