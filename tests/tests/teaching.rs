//! A course run end to end with the real binaries, on both transports: the operator adds the
//! course and its lists, a teacher and a TA manage an assignment, students submit (on time,
//! late, extended, cut off, not on the class list), staff see the status, collect every current
//! submission byte for byte, grade with feedback and release; students see grades only then;
//! outsiders are refused; every action is in the log.

use handin_tests::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

const CAROL: &str = "1155000003";
const DAVE: &str = "1155000004";
const TA: &str = "1155000009";
const OTHER_TEACHER: &str = "wong";

fn rfc3339_in(secs: i64) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs((now + secs) as u64);
    handin_core::pki::rfc3339(t)
}

fn blackboard(campus: &Campus, args: &[&str]) -> Command {
    campus.blackboard_admin(args)
}

/// A `staff` command as `who`, at `bb`.
fn staff(campus: &Campus, bb: &Server, who: &str, args: &[&str]) -> Command {
    let mut all = vec![args[0], "--blackboard", &bb.addr];
    all.extend_from_slice(&args[1..]);
    campus.staff(who, &all)
}

fn json(c: Command) -> Value {
    let out = ok(c);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn submit_to(campus: &Campus, bb: &Server, id: &str, file: &Path, assignment: &str) -> Command {
    let mut c = campus.student(id, &["submit"]);
    c.arg(file).args([
        "--course",
        "CSCI3180",
        "--assignment",
        assignment,
        "--blackboard",
        &bb.addr,
        "--json",
    ]);
    c
}

fn write(campus: &Campus, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = campus.path("work");
    std::fs::create_dir_all(&dir).expect("work dir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn row<'a>(rows: &'a [Value], student: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["student_id"] == student)
        .unwrap_or_else(|| panic!("no row for {student} in {rows:?}"))
}

fn run_course(server: &str, client: &str) {
    let campus = Campus::with_transports(server, client);
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();

    // People: a teacher (staff login), a TA (a student ID), students, a teacher of another course.
    campus.enroll_staff(&cuhk, TEACHER);
    campus.enroll_staff(&cuhk, OTHER_TEACHER);
    for s in [ALICE, BOB, CAROL, DAVE, TA] {
        campus.enroll(&cuhk, s);
    }

    // The operator adds the courses and their lists.
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
        &["course", "staff", "CSCI3180", "--add", TEACHER, "--add", TA],
    ));
    ok(blackboard(&campus, &["course", "add", "CSCI3150"]));
    ok(blackboard(
        &campus,
        &["course", "staff", "CSCI3150", "--add", OTHER_TEACHER],
    ));
    let class = write(
        &campus,
        "class.csv",
        format!("\u{feff}Name,Student ID\n\"Chan, Alice\",{ALICE}\nBob,{BOB}\nCarol,{CAROL}\n")
            .as_bytes(),
    );
    let mut import = blackboard(&campus, &["course", "students", "CSCI3180", "--import"]);
    import.arg(&class);
    assert!(ok(import).contains("3 on the class list"));

    // The teacher's courses, and a due time in the past refused unless meant.
    let courses = json(staff(&campus, &bb, TEACHER, &["courses", "--json"]));
    assert_eq!(courses[0]["course"], "CSCI3180");
    assert_eq!(courses[0]["title"], "Programming Languages");
    let past = rfc3339_in(-3600);
    let refused = fails(staff(
        &campus,
        &bb,
        TEACHER,
        &["assignment", "add", "CSCI3180", "hw2", "--due", &past],
    ));
    assert!(refused.contains("in the past"), "{refused}");
    // hw2: due an hour ago, cut off in an hour (so submissions now are late but taken).
    let cutoff = rfc3339_in(3600);
    ok(staff(
        &campus,
        &bb,
        TEACHER,
        &[
            "assignment",
            "add",
            "CSCI3180",
            "hw2",
            "--due",
            &past,
            "--cutoff",
            &cutoff,
            "--allow-past",
            "--max-size",
            "1MiB",
        ],
    ));
    // hw3: already cut off.
    let earlier = rfc3339_in(-7200);
    ok(staff(
        &campus,
        &bb,
        TA,
        &[
            "assignment",
            "add",
            "CSCI3180",
            "hw3",
            "--due",
            &earlier,
            "--cutoff",
            &past,
            "--allow-past",
        ],
    ));

    // Carol gets an extension (from the TA).
    let tomorrow = rfc3339_in(86_400);
    ok(staff(
        &campus,
        &bb,
        TA,
        &[
            "extend",
            "CSCI3180",
            "hw2",
            "--student",
            CAROL,
            "--due",
            &tomorrow,
        ],
    ));

    // Submissions: bob late with hostile and non-ASCII names, carol extended, alice nothing.
    let names: [(&str, &[u8]); 4] = [
        ("r\u{e9}sum\u{e9} \u{6587}.txt", b"bob's resume"),
        (".hidden", b"dot file"),
        ("a,b\"c.txt", b"csv-hostile name"),
        ("-rf", b"dash"),
    ];
    for (name, bytes) in names {
        let f = write(&campus, name, bytes);
        ok(submit_to(&campus, &bb, BOB, &f, "hw2"));
    }
    // A second version: only the latest is current.
    let report = write(&campus, "report.txt", b"version one");
    ok(submit_to(&campus, &bb, BOB, &report, "hw2"));
    let report2 = write(&campus, "report.txt", b"version two, the current one");
    let r = json(submit_to(&campus, &bb, BOB, &report2, "hw2"));
    assert_eq!(r["late"], true);
    let carol_file = write(&campus, "carol.txt", b"carol's work");
    let r = json(submit_to(&campus, &bb, CAROL, &carol_file, "hw2"));
    assert_eq!(r["late"], false, "an extension makes carol's work on time");
    // Dave is not on the class list; hw3 is cut off.
    let out = run(submit_to(&campus, &bb, DAVE, &carol_file, "hw2"));
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("class list"),
        "{}",
        stderr_of(&out)
    );
    let out = run(submit_to(&campus, &bb, ALICE, &carol_file, "hw3"));
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("cut-off"), "{}", stderr_of(&out));

    // The status: one row per listed student, plus anyone else who submitted.
    let status = json(staff(
        &campus,
        &bb,
        TEACHER,
        &["status", "CSCI3180", "hw2", "--json"],
    ));
    let rows = status.as_array().expect("rows").clone();
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["student_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, [ALICE, BOB, CAROL]);
    assert_eq!(row(&rows, ALICE)["state"], "nothing");
    assert_eq!(row(&rows, BOB)["state"], "late");
    assert_eq!(row(&rows, BOB)["files"].as_array().expect("files").len(), 5);
    assert_eq!(row(&rows, CAROL)["state"], "on_time");
    assert_eq!(row(&rows, CAROL)["extended"], true);

    // Collect: every current file, byte for byte, with the manifest and receipts.
    let out_dir = campus.path("collected");
    let mut collect = staff(
        &campus,
        &bb,
        TA,
        &["collect", "CSCI3180", "hw2", "--json", "--out"],
    );
    collect.arg(&out_dir);
    let first = json(collect);
    assert_eq!(first["fetched"], 6, "{first}");
    let manifest = std::fs::read_to_string(out_dir.join("manifest.csv")).expect("manifest");
    for (name, bytes) in names {
        let path = if name.starts_with('.') {
            // A dot file would hide: it is stored under its submission id, the manifest says so.
            let row = manifest
                .lines()
                .find(|l| l.contains(",.hidden,"))
                .unwrap_or_else(|| panic!("no .hidden row in {manifest}"));
            let rel = row.split(',').nth(2).expect("path column");
            assert!(rel.starts_with(&format!("{BOB}/submission-")), "{row}");
            out_dir.join(rel)
        } else {
            out_dir.join(BOB).join(name)
        };
        assert_eq!(
            std::fs::read(&path).expect("collected file"),
            bytes,
            "{name}"
        );
    }
    assert_eq!(
        std::fs::read(out_dir.join(BOB).join("report.txt")).expect("report"),
        b"version two, the current one"
    );
    assert_eq!(
        std::fs::read(out_dir.join(CAROL).join("carol.txt")).expect("carol"),
        b"carol's work"
    );
    assert_eq!(manifest.lines().count(), 7, "{manifest}");
    let receipts = std::fs::read_dir(out_dir.join("receipts"))
        .expect("receipts")
        .count();
    assert_eq!(receipts, 6);
    // Nothing escaped the folder.
    assert!(!campus.path("rf").exists());
    // A second collect fetches nothing new.
    let mut again = staff(
        &campus,
        &bb,
        TA,
        &["collect", "CSCI3180", "hw2", "--json", "--out"],
    );
    again.arg(&out_dir);
    let second = json(again);
    assert_eq!(second["fetched"], 0, "{second}");
    assert_eq!(second["kept"], 6, "{second}");

    // Grades: invisible before release, visible after, with the feedback file.
    let feedback = write(&campus, "marked.pdf", b"%PDF marked up");
    let mut grade = staff(
        &campus,
        &bb,
        TEACHER,
        &[
            "grade",
            "CSCI3180",
            "hw2",
            "--student",
            BOB,
            "--score",
            "72.5",
            "--comment",
            "Late, but good.",
            "--feedback",
        ],
    );
    grade.arg(&feedback);
    ok(grade);
    let sheet = write(
        &campus,
        "grades.csv",
        format!("student_id,score,comment\n{CAROL},91,Excellent\n").as_bytes(),
    );
    let mut by_sheet = staff(&campus, &bb, TA, &["grade", "CSCI3180", "hw2", "--csv"]);
    by_sheet.arg(&sheet);
    ok(by_sheet);
    let grades_of = |who: &str| -> Vec<Value> {
        let c = campus.student(who, &["grades", "--blackboard", &bb.addr, "--json"]);
        json(c).as_array().expect("grades").clone()
    };
    assert!(grades_of(BOB).is_empty(), "grades before release");
    let mut fb_out = campus.student(
        BOB,
        &[
            "feedback",
            "CSCI3180",
            "hw2",
            "--blackboard",
            &bb.addr,
            "--out",
        ],
    );
    fb_out.arg(campus.path("fb.pdf"));
    assert!(!run(fb_out).status.success(), "feedback before release");
    ok(staff(
        &campus,
        &bb,
        TEACHER,
        &["release", "CSCI3180", "hw2"],
    ));
    let bob_grades = grades_of(BOB);
    assert_eq!(bob_grades.len(), 1);
    assert_eq!(bob_grades[0]["score"], "72.5");
    assert_eq!(bob_grades[0]["comment"], "Late, but good.");
    assert_eq!(grades_of(CAROL)[0]["score"], "91");
    assert!(grades_of(ALICE).is_empty());
    let mut fb_out = campus.student(
        BOB,
        &[
            "feedback",
            "CSCI3180",
            "hw2",
            "--blackboard",
            &bb.addr,
            "--out",
        ],
    );
    fb_out.arg(campus.path("fb.pdf"));
    ok(fb_out);
    assert_eq!(
        std::fs::read(campus.path("fb.pdf")).expect("feedback"),
        b"%PDF marked up"
    );

    // Outsiders: a student using the staff protocol, a teacher of another course.
    let e = fails(staff(&campus, &bb, ALICE, &["status", "CSCI3180", "hw2"]));
    assert!(e.contains("not on the staff list"), "{e}");
    let e = fails(staff(
        &campus,
        &bb,
        OTHER_TEACHER,
        &["status", "CSCI3180", "hw2"],
    ));
    assert!(e.contains("not on the staff list"), "{e}");
    let e2 = fails(staff(
        &campus,
        &bb,
        OTHER_TEACHER,
        &["status", "CSCI9999", "hw2"],
    ));
    assert_eq!(
        e.replace("CSCI3180", "X"),
        e2.replace("CSCI9999", "X"),
        "a missing course looks like a foreign one"
    );
    let mut steal = staff(
        &campus,
        &bb,
        OTHER_TEACHER,
        &["collect", "CSCI3180", "hw2", "--out"],
    );
    steal.arg(campus.path("stolen"));
    assert!(!run(steal).status.success());

    // The log holds every staff action, by whom.
    let log = json(staff(&campus, &bb, TEACHER, &["log", "CSCI3180", "--json"]));
    let actions: Vec<(String, String)> = log
        .as_array()
        .expect("log")
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or("").to_owned(),
                e["action"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for want in [
        ("operator", "course"),
        ("operator", "staff"),
        ("operator", "students"),
        (TEACHER, "assignment"),
        (TA, "assignment"),
        (TA, "extend"),
        (TEACHER, "grade"),
        (TA, "grade"),
        (TEACHER, "release"),
    ] {
        assert!(
            actions.iter().any(|(a, b)| a == want.0 && b == want.1),
            "{want:?} missing from {actions:?}"
        );
    }

    assert!(bb.stop());
    assert!(cuhk.stop());
}

#[test]
fn a_course_runs_end_to_end_on_mio() {
    run_course("mio", "mio");
}

#[test]
fn a_course_runs_end_to_end_on_smol() {
    run_course("smol", "smol");
}
