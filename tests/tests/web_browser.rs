//! Blackboard's pages in a real headless Chromium, holding the student's (and the teacher's)
//! PKCS#12 file from `export-p12`, the certificate chosen by the browser's policy: the student
//! is let in by certificate, uploads a file through the form (the stored bytes and the receipt
//! are checked with the command line), and sees it listed; the teacher sees the table,
//! downloads every current submission as one zip, and enters a grade that the student's
//! command line shows once released. With `HANDIN_SCREENSHOTS=DIR`, the main pages are saved
//! there as PNG (how docs/screenshots/ is made).

use handin_tests::browser::{self, Browser};
use handin_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PASSWORD: &str = "browser test password";
const WAIT: Duration = Duration::from_secs(30);
const REPORT: &[u8] = b"%PDF-1.4 alice's report, uploaded from a browser";

fn export(campus: &Campus, bin: &str, id: &str) -> PathBuf {
    let pw = campus.path("pw");
    std::fs::write(&pw, PASSWORD).expect("password file");
    let p12 = campus.path(&format!("{id}.p12"));
    let mut c = client_cmd(bin);
    c.arg("--profile")
        .arg(campus.profile(id))
        .args(["export-p12", "--out"])
        .arg(&p12)
        .arg("--password-file")
        .arg(&pw);
    ok(c);
    p12
}

fn blackboard(campus: &Campus, args: &[&str]) -> Command {
    let mut c = cmd("blackboard");
    c.arg(args[0]).arg(args[1]).arg("--data").arg(campus.data());
    c.args(&args[2..]);
    c
}

/// Saves a screenshot of what `b` shows as `name` in `$HANDIN_SCREENSHOTS`, if set.
fn screenshot(b: &Browser, name: &str) {
    if let Some(dir) = std::env::var_os("HANDIN_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        b.screenshot_png(&dir.join(name)).expect("screenshot");
    }
}

/// Waits for a file named `name` to be complete in `dir` (Chromium writes `.crdownload`
/// first).
fn downloaded(dir: &Path, name: &str) -> Vec<u8> {
    let start = Instant::now();
    loop {
        let path = dir.join(name);
        let partial = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
            })
            .unwrap_or(false);
        if path.exists() && !partial {
            return std::fs::read(&path).expect("the download");
        }
        assert!(
            start.elapsed() < WAIT,
            "no download of {name} in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_student_and_a_teacher_use_the_pages_in_chromium() {
    if !browser::available_or_skip("web_browser") {
        return;
    }
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();
    campus.enroll_staff(&cuhk, TEACHER);
    campus.enroll(&cuhk, ALICE);
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
        &[
            "course", "students", "CSCI3180", "--add", ALICE, "--add", BOB,
        ],
    ));
    let origin = format!("https://{}", bb.addr);
    let ca = campus.pki().join("ca.crt");

    // Without a certificate: how to import one.
    let nobody_downloads = campus.path("nobody-downloads");
    std::fs::create_dir_all(&nobody_downloads).expect("dir");
    let nobody = Browser::launch_without_certificate(&ca, &origin, &nobody_downloads)
        .expect("a browser without a certificate");
    nobody.goto(&format!("{origin}/")).expect("the page");
    let h1 = nobody
        .wait_for("h1", WAIT)
        .expect("a heading")
        .text()
        .expect("text");
    assert!(h1.contains("Sign in with your CUHK certificate"), "{h1}");
    screenshot(&nobody, "no-certificate.png");
    drop(nobody);

    // The student, by certificate: her course, and the upload form.
    let alice_downloads = campus.path("alice-downloads");
    std::fs::create_dir_all(&alice_downloads).expect("dir");
    let alice = Browser::launch(
        &export(&campus, "student", ALICE),
        PASSWORD,
        &ca,
        &origin,
        &alice_downloads,
    )
    .expect("the student's browser");
    alice.goto(&format!("{origin}/")).expect("home");
    let who = alice
        .wait_for("span.who", WAIT)
        .expect("signed in")
        .text()
        .expect("text");
    assert!(who.contains(ALICE), "{who}");
    let work = campus.path("report.pdf");
    std::fs::write(&work, REPORT).expect("write");
    alice
        .find("form.upload input[type=file]")
        .expect("the file input")
        .send_keys(&work.display().to_string())
        .expect("choose the file");
    screenshot(&alice, "student-home.png");
    alice
        .find("form.upload button[type=submit]")
        .expect("the button")
        .click()
        .expect("submit");
    let said = alice
        .wait_for("p.said", WAIT)
        .expect("the receipt page")
        .text()
        .expect("text");
    assert!(
        said.contains("report.pdf") && said.contains("version 1"),
        "{said}"
    );
    assert!(alice.current_url().expect("url").contains("/submitted/"));
    screenshot(&alice, "student-submitted.png");

    // Stored byte for byte, with a receipt the command line verifies.
    let list = campus.list(&bb, ALICE);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["sha256"], sha256_hex(REPORT));
    let id = list[0]["id"].as_str().expect("id").to_owned();
    let fetched = campus.path("fetched.pdf");
    let out = campus.fetch(&bb, ALICE, &id, &fetched);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(&fetched).expect("fetched"), REPORT);
    alice
        .goto(&format!("{origin}/files/{id}/receipt"))
        .expect("the receipt");
    let receipt = downloaded(&alice_downloads, &format!("{id}.receipt"));
    let receipt_file = campus.path("browser.receipt");
    std::fs::write(&receipt_file, receipt).expect("write");
    let mut verify = client_cmd("student");
    verify
        .arg("--profile")
        .arg(campus.profile(ALICE))
        .arg("verify-receipt")
        .arg(&receipt_file);
    assert!(ok(verify).contains("valid receipt"));

    // Listed on her page.
    alice.goto(&format!("{origin}/")).expect("home");
    let listed = alice
        .wait_for("table.files", WAIT)
        .expect("her files")
        .text()
        .expect("text");
    assert!(
        listed.contains("report.pdf") && listed.contains("v1"),
        "{listed}"
    );

    // The teacher: the table, the zip, a grade and the release.
    let lee_downloads = campus.path("lee-downloads");
    std::fs::create_dir_all(&lee_downloads).expect("dir");
    let lee = Browser::launch(
        &export(&campus, "staff", TEACHER),
        PASSWORD,
        &ca,
        &origin,
        &lee_downloads,
    )
    .expect("the teacher's browser");
    lee.goto(&format!("{origin}/")).expect("home");
    lee.wait_for("section.staff a", WAIT)
        .expect("the assignment link")
        .click()
        .expect("open");
    let table = lee
        .wait_for("table.status", WAIT)
        .expect("the table")
        .text()
        .expect("text");
    assert!(
        table.contains(ALICE) && table.contains("on time"),
        "{table}"
    );
    assert!(
        table.contains(BOB) && table.contains("nothing yet"),
        "{table}"
    );
    screenshot(&lee, "staff-table.png");
    lee.find("a.button[download]")
        .expect("the zip link")
        .click()
        .expect("download");
    let zip = downloaded(&lee_downloads, "CSCI3180-hw1.zip");
    let zip_file = campus.path("all.zip");
    std::fs::write(&zip_file, zip).expect("write");
    let listing = ok({
        let mut py = Command::new("python3");
        py.arg("-c")
            .arg("import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; [print(n, len(z.read(n))) for n in z.namelist()]")
            .arg(&zip_file);
        py
    });
    assert_eq!(
        listing.trim(),
        format!("{ALICE}/report.pdf {}", REPORT.len())
    );

    lee.find("form[action$='/grade'] input[name=student]")
        .expect("student")
        .send_keys(ALICE)
        .expect("type");
    lee.find("form[action$='/grade'] input[name=score]")
        .expect("score")
        .send_keys("88")
        .expect("type");
    lee.find("form[action$='/grade'] textarea[name=comment]")
        .expect("comment")
        .send_keys("Clear and complete.")
        .expect("type");
    lee.find("form[action$='/grade'] button")
        .expect("save")
        .click()
        .expect("save");
    lee.wait_for_text("p.said", "graded 88", WAIT)
        .expect("saved");
    lee.find("form[action$='/release'] button")
        .expect("release")
        .click()
        .expect("release");
    lee.wait_for_text("p.said", "released", WAIT)
        .expect("released");

    // The student's command line shows the grade.
    let grades: serde_json::Value = serde_json::from_str(&ok(
        campus.student(ALICE, &["grades", "--json", "--blackboard", &bb.addr])
    ))
    .expect("json");
    assert_eq!(grades[0]["score"], "88");
    assert_eq!(grades[0]["comment"], "Clear and complete.");
    alice.goto(&format!("{origin}/")).expect("home");
    let grade = alice
        .wait_for("div.grade", WAIT)
        .expect("her grade")
        .text()
        .expect("text");
    assert!(grade.contains("88"), "{grade}");
    screenshot(&alice, "student-graded.png");

    drop(alice);
    drop(lee);
    assert!(bb.stop());
    assert!(cuhk.stop());
}
