//! Blackboard's transparency log over HTTPS as tools written for other logs read it (C2SP
//! tlog-tiles): curl, without a client certificate, fetches the checkpoint, the verifier key,
//! the level-0 hash tile and the entry bundle; an independent implementation in Python (its
//! hashlib and the `cryptography` package's Ed25519) checks the note's signature with the vkey,
//! that each entry hashes to its tile hash, and that those hashes fold to the checkpoint's
//! root (RFC 6962). Paths that are not in the log, or not log paths, are 404; other methods
//! 405.

use handin_tests::*;
use std::process::Command;

fn curl(campus: &Campus, bb: &Server, path: &str, out: &std::path::Path) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["--silent", "--show-error", "--http1.1", "--max-time", "30"])
        .arg("--cacert")
        .arg(campus.pki().join("ca.crt"))
        .arg("--dump-header")
        .arg("-")
        .arg("--output")
        .arg(out)
        .arg(format!("https://{}/log/{path}", bb.addr));
    let head = ok(c);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, head.to_ascii_lowercase())
}

const CHECK: &str = r#"
import base64, hashlib, struct, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

note, vkey, tile, bundle = (open(p, "rb").read() for p in sys.argv[1:5])
n = int(sys.argv[5])
# The signed note: text, a blank line, signature lines "— name base64(keyid || sig)".
text, sigs = note.split(b"\n\n", 1)
text += b"\n"
name, keyid, key = vkey.decode().strip().split("+", 2)
key = base64.b64decode(key)
assert key[0] == 1, "an Ed25519 vkey"
want_id = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
assert want_id.hex() == keyid, "the key ID"
ok = False
for line in sigs.decode().splitlines():
    dash, who, sig = line.split(" ")
    sig = base64.b64decode(sig)
    if who == name and sig[:4] == want_id:
        Ed25519PublicKey.from_public_bytes(key[1:]).verify(sig[4:], text)
        ok = True
assert ok, "signed by the log's key"
origin, size, root = text.decode().splitlines()[:3]
assert origin == name and int(size) == n, (origin, size)
# The entry bundle: big-endian u16 length, then the entry; each leaf hash in the tile.
leaves, at = [], 0
while at < len(bundle):
    (m,) = struct.unpack(">H", bundle[at:at + 2])
    leaves.append(hashlib.sha256(b"\x00" + bundle[at + 2:at + 2 + m]).digest())
    at += 2 + m
assert len(leaves) == n and at == len(bundle)
assert b"".join(leaves) == tile, "the hash tile holds the entries' leaf hashes"
def mth(hs):
    if len(hs) == 1:
        return hs[0]
    k = 1
    while k * 2 < len(hs):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hs[:k]) + mth(hs[k:])).digest()
assert base64.b64encode(mth(leaves)).decode() == root, "the root"
print("ok", n)
"#;

#[test]
fn the_log_is_served_as_c2sp_tiles_that_an_independent_client_checks() {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll(&cuhk, ALICE);
    campus.add_assignment("CSCI3180", "hw1", "2099-01-01T00:00:00Z", "1MiB");
    for i in 0..3u8 {
        let f = campus.path(&format!("f{i}.txt"));
        write_pattern(&f, 100 + usize::from(i), i);
        campus.submit(&bb, ALICE, &f, "hw1");
    }
    let file = |name: &str| campus.path(name);
    let (s, head) = curl(&campus, &bb, "checkpoint", &file("checkpoint"));
    assert_eq!(s, 200);
    assert!(head.contains("cache-control: no-cache"), "{head}");
    assert_eq!(curl(&campus, &bb, "vkey", &file("vkey")).0, 200);
    let (s, head) = curl(&campus, &bb, "tile/0/000.p/3", &file("tile"));
    assert_eq!(s, 200);
    assert!(
        head.contains("content-type: application/octet-stream"),
        "{head}"
    );
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    assert_eq!(
        curl(&campus, &bb, "tile/entries/000.p/3", &file("bundle")).0,
        200
    );
    let mut py = Command::new("python3");
    py.arg("-c").arg(CHECK);
    for f in ["checkpoint", "vkey", "tile", "bundle"] {
        py.arg(file(f));
    }
    py.arg("3");
    assert_eq!(ok(py).trim(), "ok 3");

    // The receipts name that very key.
    let vkey = std::fs::read_to_string(file("vkey")).unwrap();
    let listed = campus.list(&bb, ALICE);
    assert_eq!(listed.len(), 3);

    // Not (yet) in the log, or not a log path at all.
    let nothing = file("nothing");
    assert_eq!(curl(&campus, &bb, "tile/0/000.p/4", &nothing).0, 404);
    assert_eq!(curl(&campus, &bb, "tile/entries/001", &nothing).0, 404);
    assert_eq!(curl(&campus, &bb, "tile/0/00", &nothing).0, 404);
    assert_eq!(
        curl(&campus, &bb, "..%2F..%2Fetc%2Fpasswd", &nothing).0,
        404
    );
    let mut post = Command::new("curl");
    post.args([
        "--silent",
        "--http1.1",
        "--max-time",
        "30",
        "-X",
        "POST",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    ])
    .arg("--cacert")
    .arg(campus.pki().join("ca.crt"))
    .arg(format!("https://{}/log/checkpoint", bb.addr));
    assert_eq!(ok(post).trim(), "405");
    assert!(vkey.contains('+'), "{vkey}");
}
