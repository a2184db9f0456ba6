//! The collection folder: hostile names stay inside, bad bytes never get a real name, and a
//! re-run keeps what did not change.
use super::*;
use handin_core::submit::sha256;

fn entry(student: &str, name: &str, id: &str, bytes: &[u8]) -> SubmissionEntry {
    SubmissionEntry {
        id: id.into(),
        student_id: student.into(),
        course: "CSCI3180".into(),
        assignment: "hw1".into(),
        file_name: name.into(),
        size: bytes.len() as u64,
        sha256: sha256(bytes),
        received_at: 1_800_000_000,
        late: false,
        version: 1,
    }
}

const ID1: &str = "SAAAAAAAAAAAAAAAAAAAA";
const ID2: &str = "SBBBBBBBBBBBBBBBBBBBB";

fn receive(c: &mut Collection, e: &SubmissionEntry, bytes: &[u8]) -> Result<(), CollectError> {
    let mut inc = c.begin(e)?;
    for chunk in bytes.chunks(3) {
        inc.write(chunk)?;
    }
    c.finish(inc, b"receipt")
}

#[test]
fn hostile_names_cannot_leave_the_folder_or_hide() {
    assert!(
        check_submission_id(ID1).is_ok(),
        "the test ids must be well formed"
    );
    assert_eq!(
        local_path("1155000001", "report.pdf", ID1).as_deref(),
        Some("1155000001/report.pdf")
    );
    assert_eq!(
        local_path("1155000001", "r\u{e9}sum\u{e9} \u{6587}.pdf", ID1).as_deref(),
        Some("1155000001/r\u{e9}sum\u{e9} \u{6587}.pdf")
    );
    for bad in [
        "../../etc/passwd",
        "..",
        ".",
        ".bashrc",
        "a/b",
        "a\\b",
        "x\0y",
        "bell\u{7}",
        MANIFEST,
        "",
    ] {
        assert_eq!(
            local_path("1155000001", bad, ID1).as_deref(),
            Some(format!("1155000001/submission-{ID1}").as_str()),
            "{bad:?}"
        );
    }
    assert_eq!(local_path("../1155000001", "a", ID1), None);
    assert_eq!(local_path("1155000001", "a", "../x"), None);
}

#[test]
fn a_file_gets_its_name_only_when_its_bytes_match() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collection::open(dir.path()).unwrap();
    let e = entry("1155000001", "a.txt", ID1, b"hello world");
    assert!(receive(&mut c, &e, b"hello worle").is_err());
    assert!(receive(&mut c, &e, b"hello").is_err());
    let student = dir.path().join("1155000001");
    assert_eq!(
        fs::read_dir(&student).unwrap().count(),
        0,
        "no file, no leftover"
    );
    receive(&mut c, &e, b"hello world").unwrap();
    assert_eq!(fs::read(student.join("a.txt")).unwrap(), b"hello world");
    assert_eq!(
        fs::read(dir.path().join(format!("receipts/{ID1}.receipt"))).unwrap(),
        b"receipt"
    );
    let hostile = entry("1155000001", "../../x", ID2, b"evil");
    receive(&mut c, &hostile, b"evil").unwrap();
    assert!(student.join(format!("submission-{ID2}")).is_file());
    assert!(!dir.path().parent().unwrap().join("x").exists());
    c.write_manifest().unwrap();
    let text = fs::read_to_string(dir.path().join(MANIFEST)).unwrap();
    assert!(text.starts_with("student_id,file_name,path,"), "{text}");
    assert!(
        text.contains("\"../../x\"") || text.contains(",../../x,"),
        "{text}"
    );
}

#[test]
fn a_re_run_keeps_what_did_not_change_and_fetches_what_did() {
    let dir = tempfile::tempdir().unwrap();
    let a = entry("1155000001", "a.txt", ID1, b"first");
    let b = entry("1155000002", "b.txt", ID2, b"second");
    {
        let mut c = Collection::open(dir.path()).unwrap();
        assert!(!c.keep_if_current(&a));
        receive(&mut c, &a, b"first").unwrap();
        receive(&mut c, &b, b"second").unwrap();
        c.write_manifest().unwrap();
    }
    let mut c = Collection::open(dir.path()).unwrap();
    assert!(c.keep_if_current(&a));
    // A new version of b: another submission id.
    let b2 = entry(
        "1155000002",
        "b.txt",
        "SCCCCCCCCCCCCCCCCCCCC",
        b"second, again",
    );
    assert!(!c.keep_if_current(&b2));
    // A file removed by hand is fetched again.
    fs::remove_file(dir.path().join("1155000001/a.txt")).unwrap();
    let mut again = Collection::open(dir.path()).unwrap();
    assert!(!again.keep_if_current(&a));
    receive(&mut c, &b2, b"second, again").unwrap();
    c.write_manifest().unwrap();
    let rows = Collection::open(dir.path()).unwrap().previous;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[&("1155000002".into(), "b.txt".into())].id,
        "SCCCCCCCCCCCCCCCCCCCC"
    );
}
