//! Blackboard's web pages through the real binaries, with curl (OpenSSL underneath) as an
//! independent browser-like client presenting the same certificates the command line uses:
//! a browser without a certificate is told how to import one; a student sees their course,
//! uploads a file whose name is markup (stored byte for byte, shown as text, downloaded under
//! a safe name, its receipt verifying with `student verify-receipt`); forged forms (no origin,
//! another site's origin, a missing or wrong token) change nothing; a teacher sees the table,
//! downloads every current submission as one zip, grades and releases, and the student's
//! command line then shows the grade; outsiders see nothing; oversized heads and bodies are
//! refused with 431 and 413; and the handin protocols go on serving beside the pages.

use handin_tests::*;
use std::path::Path;
use std::process::{Command, Output};

const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)>.pdf";

/// A curl command to Blackboard's `path`, as `who` (their profile's key and certificate), or
/// with no certificate.
fn curl(campus: &Campus, bb: &Server, who: Option<&str>, path: &str) -> Command {
    let mut c = Command::new("curl");
    c.args([
        "--silent",
        "--show-error",
        "--http1.1",
        "--include",
        "--max-time",
        "30",
    ])
    .arg("--cacert")
    .arg(campus.pki().join("ca.crt"));
    if let Some(id) = who {
        let p = campus.profile(id);
        c.arg("--cert")
            .arg(p.join("cert.pem"))
            .arg("--key")
            .arg(p.join("key.pem"));
    }
    c.arg(format!("https://{}{path}", bb.addr));
    c
}

fn origin(bb: &Server) -> String {
    format!("Origin: https://{}", bb.addr)
}

/// Runs curl; returns (status, headers, body).
fn fetch(c: Command) -> (u16, String, Vec<u8>) {
    let out: Output = run(c);
    assert!(out.status.success(), "curl failed: {}", stderr_of(&out));
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, head, raw[split + 4..].to_vec())
}

fn page(c: Command) -> (u16, String) {
    let (status, _, body) = fetch(c);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The form token in a page.
fn token(html: &str) -> String {
    let at = html
        .find("name=\"token\" value=\"")
        .expect("a form token in the page");
    let rest = &html[at + "name=\"token\" value=\"".len()..];
    rest[..rest.find('"').expect("end of the token")].to_owned()
}

fn blackboard(campus: &Campus, args: &[&str]) -> Command {
    campus.blackboard_admin(args)
}

fn upload(campus: &Campus, bb: &Server, file: &Path, token: &str, headers: &[String]) -> Command {
    let mut c = curl(campus, bb, Some(ALICE), "/submit/CSCI3180/hw1");
    for h in headers {
        c.arg("-H").arg(h);
    }
    c.arg("-F").arg(format!("token={token}"));
    c.arg("-F").arg(format!(
        "file=@{};filename=\"{HOSTILE_NAME}\"",
        file.display()
    ));
    c
}

fn listed(campus: &Campus, bb: &Server) -> usize {
    campus.list(bb, ALICE).len()
}

#[test]
fn students_and_staff_use_the_pages_with_their_certificates_on_mio() {
    scenario("mio");
}

#[test]
fn students_and_staff_use_the_pages_with_their_certificates_on_smol() {
    scenario("smol");
}

fn scenario(transport: &str) {
    let campus = Campus::with_transports(transport, "mio");
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll_staff(&cuhk, TEACHER);
    campus.enroll(&cuhk, ALICE);
    campus.enroll(&cuhk, BOB);
    ok(blackboard(
        &campus,
        &[
            "course",
            "add",
            "CSCI3180",
            "--title",
            "Programming Languages",
        ],
    ));
    ok(blackboard(
        &campus,
        &["course", "staff", "CSCI3180", "--add", TEACHER],
    ));
    ok(blackboard(
        &campus,
        &["course", "students", "CSCI3180", "--add", ALICE],
    ));

    // No certificate: the page that says how to import one, and nothing else.
    let (status, html) = page(curl(&campus, &bb, None, "/"));
    assert_eq!(status, 200);
    assert!(html.contains("student export-p12"), "{html}");
    let (status, _) = page(curl(&campus, &bb, None, "/staff/CSCI3180/hw1"));
    assert_eq!(status, 403);

    // Alice's home: her course, its assignment and the upload form.
    let (status, head, body) = fetch(curl(&campus, &bb, Some(ALICE), "/"));
    let html = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Programming Languages") && html.contains("hw1"),
        "{html}"
    );
    for h in [
        "content-security-policy: default-src 'none'",
        "frame-ancestors 'none'",
        "x-content-type-options: nosniff",
        "strict-transport-security:",
    ] {
        assert!(head.to_lowercase().contains(h), "{h} in {head}");
    }
    let alice_token = token(&html);

    // Forged uploads change nothing.
    let work = campus.path("answers.pdf");
    std::fs::write(&work, b"%PDF alice's answers").expect("write");
    for (why, headers, tok) in [
        ("no origin", vec![], alice_token.clone()),
        (
            "another site",
            vec!["Origin: https://evil.example".to_owned()],
            alice_token.clone(),
        ),
        (
            "cross-site fetch",
            vec![origin(&bb), "Sec-Fetch-Site: cross-site".to_owned()],
            alice_token.clone(),
        ),
        ("no token", vec![origin(&bb)], String::new()),
        (
            "a wrong token",
            vec![origin(&bb)],
            format!("{}0", alice_token),
        ),
    ] {
        let (status, _) = page(upload(&campus, &bb, &work, &tok, &headers));
        assert_eq!(status, 403, "{why}");
    }
    assert_eq!(listed(&campus, &bb), 0, "nothing stored by a forged form");

    // The real upload: stored byte for byte under the exact name, shown as text.
    let (status, head, _) = fetch(upload(&campus, &bb, &work, &alice_token, &[origin(&bb)]));
    assert_eq!(status, 303, "{head}");
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .expect("a location")
        .trim()
        .to_owned();
    let (status, html) = page(curl(&campus, &bb, Some(ALICE), &location));
    assert_eq!(status, 200);
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;.pdf"),
        "{html}"
    );
    assert!(
        !html.contains("<img src=x"),
        "markup from a file name: {html}"
    );
    let list = campus.list(&bb, ALICE);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["file_name"], HOSTILE_NAME);
    assert_eq!(list[0]["sha256"], sha256_hex(b"%PDF alice's answers"));
    let id = list[0]["id"].as_str().expect("id").to_owned();

    // Downloads: the bytes, a safe Content-Disposition, a receipt that verifies.
    let (status, head, bytes) = fetch(curl(&campus, &bb, Some(ALICE), &format!("/files/{id}")));
    assert_eq!(status, 200);
    assert_eq!(bytes, b"%PDF alice's answers");
    let disposition = head
        .lines()
        .find(|l| l.starts_with("content-disposition:"))
        .expect("a disposition");
    assert!(
        disposition.contains("filename=\"_img_src_x_onerror_alert(1)_.pdf\""),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename*=UTF-8''%3Cimg%20src%3Dx"),
        "{disposition}"
    );
    let (status, _, receipt) = fetch(curl(
        &campus,
        &bb,
        Some(ALICE),
        &format!("/files/{id}/receipt"),
    ));
    assert_eq!(status, 200);
    let receipt_file = campus.path("web.receipt");
    std::fs::write(&receipt_file, &receipt).expect("write");
    let mut verify = client_cmd("student");
    verify
        .arg("--profile")
        .arg(campus.profile(ALICE))
        .arg("verify-receipt")
        .arg(&receipt_file);
    assert!(ok(verify).contains("valid receipt"));

    // Bob (not on the class list) sees neither the file nor the form.
    let (status, _) = page(curl(&campus, &bb, Some(BOB), &format!("/files/{id}")));
    assert_eq!(status, 404);
    let (_, html) = page(curl(&campus, &bb, Some(BOB), "/"));
    assert!(!html.contains("Programming Languages"), "{html}");

    // The teacher: the table, the zip, a grade and the release.
    let table_path = "/staff/CSCI3180/hw1";
    let (status, html) = page(curl(&campus, &bb, Some(TEACHER), table_path));
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(ALICE) && html.contains("on time"), "{html}");
    assert!(html.contains("&lt;img"), "{html}");
    let (status, _) = page(curl(&campus, &bb, Some(ALICE), table_path));
    assert_eq!(status, 403, "a student is not staff");
    let staff_token = token(&html);

    let (status, head, zip_bytes) = fetch(curl(
        &campus,
        &bb,
        Some(TEACHER),
        "/staff/CSCI3180/hw1/all.zip",
    ));
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/zip"), "{head}");
    let zip_only = campus.path("all.zip");
    std::fs::write(&zip_only, &zip_bytes).expect("write");
    let listing = ok({
        let mut py = Command::new("python3");
        py.arg("-c")
            .arg("import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; [print(n, z.read(n).decode()) for n in z.namelist()]")
            .arg(&zip_only);
        py
    });
    assert_eq!(
        listing.trim(),
        format!("{ALICE}/{HOSTILE_NAME} %PDF alice's answers")
    );

    let mut grade = curl(&campus, &bb, Some(TEACHER), &format!("{table_path}/grade"));
    grade.arg("-H").arg(origin(&bb)).args([
        "--data-urlencode",
        &format!("token={staff_token}"),
        "--data-urlencode",
        &format!("student={ALICE}"),
        "--data-urlencode",
        "score=91.5",
        "--data-urlencode",
        "comment=first",
    ]);
    let (status, html) = page(grade);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("graded 91.5"), "{html}");
    // A grade sheet replaces it (the same parser and rules as `staff grade --csv`).
    let sheet = campus.path("grades.csv");
    std::fs::write(
        &sheet,
        format!("student_id,score,comment\n{ALICE},93,\"<b>well</b> done\"\n"),
    )
    .expect("write");
    let mut by_sheet = curl(&campus, &bb, Some(TEACHER), &format!("{table_path}/grades"));
    by_sheet
        .arg("-H")
        .arg(origin(&bb))
        .arg("-F")
        .arg(format!("token={staff_token}"))
        .arg("-F")
        .arg(format!("sheet=@{}", sheet.display()));
    let (status, html) = page(by_sheet);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("1 grades saved from the sheet"), "{html}");
    let mut forged = curl(
        &campus,
        &bb,
        Some(TEACHER),
        &format!("{table_path}/release"),
    );
    forged
        .arg("-H")
        .arg("Origin: https://evil.example")
        .args(["--data-urlencode", &format!("token={staff_token}")]);
    assert_eq!(page(forged).0, 403);
    let grades = ok(campus.student(ALICE, &["grades", "--json", "--blackboard", &bb.addr]));
    assert_eq!(grades.trim(), "[]", "not released by a forged form");
    let mut release = curl(
        &campus,
        &bb,
        Some(TEACHER),
        &format!("{table_path}/release"),
    );
    release
        .arg("-H")
        .arg(origin(&bb))
        .args(["--data-urlencode", &format!("token={staff_token}")]);
    assert_eq!(page(release).0, 200);
    let grades: serde_json::Value = serde_json::from_str(&ok(
        campus.student(ALICE, &["grades", "--json", "--blackboard", &bb.addr])
    ))
    .expect("json");
    assert_eq!(grades[0]["score"], "93");
    assert_eq!(grades[0]["comment"], "<b>well</b> done");
    let (_, html) = page(curl(&campus, &bb, Some(ALICE), "/"));
    assert!(html.contains("&lt;b&gt;well&lt;/b&gt; done"), "{html}");

    // Oversized heads and bodies.
    let mut big_head = curl(&campus, &bb, Some(ALICE), "/");
    big_head
        .arg("-H")
        .arg(format!("X-Big: {}", "a".repeat(20_000)));
    assert_eq!(fetch(big_head).0, 431);
    let big = campus.path("big-form");
    std::fs::write(&big, format!("token={}", "a".repeat(2 << 20))).expect("write");
    let mut big_body = curl(&campus, &bb, Some(TEACHER), &format!("{table_path}/grade"));
    big_body
        .arg("-H")
        .arg(origin(&bb))
        .arg("--data-binary")
        .arg(format!("@{}", big.display()));
    assert_eq!(fetch(big_body).0, 413);

    // The command line goes on beside the pages.
    assert_eq!(listed(&campus, &bb), 1);
    assert!(bb.stop());
    assert!(cuhk.stop());
}

/// A campus with CSCI3180 (Alice on its class list, the teacher on its staff list) and both
/// servers running.
fn course() -> (Campus, Server, Server) {
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll_staff(&cuhk, TEACHER);
    campus.enroll(&cuhk, ALICE);
    campus.enroll(&cuhk, BOB);
    ok(blackboard(&campus, &["course", "add", "CSCI3180"]));
    ok(blackboard(
        &campus,
        &["course", "staff", "CSCI3180", "--add", TEACHER],
    ));
    ok(blackboard(
        &campus,
        &["course", "students", "CSCI3180", "--add", ALICE],
    ));
    (campus, cuhk, bb)
}

#[test]
fn hostile_forms_and_odd_clients_are_answered_and_store_nothing_wrong() {
    let (campus, cuhk, bb) = course();
    let (_, html) = page(curl(&campus, &bb, Some(ALICE), "/"));
    let tok = token(&html);
    let good = campus.path("good.txt");
    std::fs::write(&good, b"the real answers").expect("write");

    // A token sent as a file is no token.
    let mut c = curl(&campus, &bb, Some(ALICE), "/submit/CSCI3180/hw1");
    c.arg("-H").arg(origin(&bb));
    c.arg("-F")
        .arg(format!("token=@{};filename=token.txt", good.display()));
    c.arg("-F").arg(format!("file=@{}", good.display()));
    assert_eq!(page(c).0, 403);

    // Two files in one form are refused, and the next upload on the same connection is
    // stored exactly as sent (nothing of the refused one leaks into it).
    let bad = campus.path("bad.txt");
    std::fs::write(&bad, vec![b'x'; 300_000]).expect("write");
    let out = run({
        let mut c = curl(&campus, &bb, Some(ALICE), "/submit/CSCI3180/hw1");
        c.arg("-H").arg(origin(&bb));
        c.arg("-F").arg(format!("token={tok}"));
        c.arg("-F").arg(format!("file=@{}", bad.display()));
        c.arg("-F")
            .arg(format!("file=@{};filename=second.txt", bad.display()));
        c.arg("--next");
        c.args(["--silent", "--show-error", "--http1.1", "--include"]);
        c.arg("--cacert").arg(campus.pki().join("ca.crt"));
        let p = campus.profile(ALICE);
        c.arg("--cert")
            .arg(p.join("cert.pem"))
            .arg("--key")
            .arg(p.join("key.pem"));
        c.arg("-H").arg(origin(&bb));
        c.arg("-F").arg(format!("token={tok}"));
        c.arg("-F").arg(format!("file=@{}", good.display()));
        c.arg(format!("https://{}/submit/CSCI3180/hw1", bb.addr));
        c
    });
    let text = stdout_of(&out);
    assert!(text.contains("HTTP/1.1 400"), "{text}");
    let list = campus.list(&bb, ALICE);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["sha256"], sha256_hex(b"the real answers"));

    // An empty upload form.
    let mut empty = curl(&campus, &bb, Some(ALICE), "/submit/CSCI3180/hw1");
    empty.arg("-H").arg(origin(&bb)).args(["-X", "POST"]);
    assert_eq!(page(empty).0, 400);

    // Refused at admission (Bob is not on the class list), with the body sent at once (no
    // `Expect`, as a browser does): the answer arrives, not a reset.
    let (_, bob_page) = page(curl(&campus, &bb, Some(BOB), "/"));
    assert!(!bob_page.contains("CSCI3180"), "{bob_page}");
    let mid = campus.path("mid.bin");
    std::fs::write(&mid, vec![b'y'; 500_000]).expect("write");
    let mut c = curl(&campus, &bb, Some(BOB), "/submit/CSCI3180/hw1");
    c.arg("-H").arg(origin(&bb)).arg("-H").arg("Expect:");
    c.arg("-F").arg("token=whatever");
    c.arg("-F").arg(format!("file=@{}", mid.display()));
    let (status, html) = page(c);
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("not on the class list"), "{html}");

    // The zip: not from another site (made from the assignment's page, it holds the file).
    let mut cross = curl(&campus, &bb, Some(TEACHER), "/staff/CSCI3180/hw1/all.zip");
    cross.arg("-H").arg("Sec-Fetch-Site: cross-site");
    assert_eq!(page(cross).0, 403);
    let (status, _, zip) = fetch(curl(
        &campus,
        &bb,
        Some(TEACHER),
        "/staff/CSCI3180/hw1/all.zip",
    ));
    assert_eq!(status, 200);
    let zip_file = campus.path("all.zip");
    std::fs::write(&zip_file, zip).expect("write");
    let names = ok({
        let mut py = Command::new("python3");
        py.arg("-c")
            .arg("import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(*z.namelist())")
            .arg(&zip_file);
        py
    });
    assert_eq!(names.trim(), format!("{ALICE}/good.txt"));

    // HEAD: a head only, and the connection goes on.
    let mut head = curl(&campus, &bb, Some(ALICE), "/");
    head.arg("--head");
    let out = run(head);
    let text = stdout_of(&out);
    assert!(text.starts_with("HTTP/1.1 405"), "{text}");
    assert!(!text.contains("<html"), "{text}");

    assert!(bb.stop());
    assert!(cuhk.stop());
}
