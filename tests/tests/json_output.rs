//! The `--json` output of every command, through the real binaries, against docs/JSON.md: each
//! command a course runs prints one JSON value whose fields are exactly the documented ones,
//! with the documented types, and the values say what happened (the enrolled ID, the fetched
//! file's SHA-256, the receipt that verifies, where an address comes from). Every documented
//! command is run, so the document cannot describe a command that no longer prints it.

use handin_tests::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const CAROL: &str = "1155000003";

/// docs/JSON.md: for each `## \`COMMAND --json\`` section, its fields and their types.
struct Documented {
    sections: BTreeMap<String, BTreeMap<String, String>>,
    checked: BTreeSet<String>,
}

impl Documented {
    fn load() -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/JSON.md");
        let doc = std::fs::read_to_string(&path).expect("docs/JSON.md");
        let mut sections = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in doc.lines() {
            if let Some(title) = line.strip_prefix("## `") {
                let command = title
                    .strip_suffix(" --json`")
                    .unwrap_or_else(|| panic!("a section heading names `COMMAND --json`: {line}"));
                current = Some(command.to_owned());
                sections.insert(command.to_owned(), BTreeMap::new());
            } else if let (Some(cmd), Some(row)) = (&current, line.strip_prefix("| `")) {
                let cells: Vec<&str> = row.split(" | ").collect();
                let field = cells[0].trim_end_matches('`');
                let kind = cells.get(1).expect("a type column").trim();
                sections
                    .get_mut(cmd)
                    .expect("section")
                    .insert(field.to_owned(), kind.to_owned());
            }
        }
        assert!(
            sections.len() >= 17,
            "sections of docs/JSON.md: {sections:?}"
        );
        Self {
            sections,
            checked: BTreeSet::new(),
        }
    }

    /// Runs `c` (which must succeed), parses its stdout as one JSON value and checks it against
    /// the section for `command`.
    fn run(&mut self, command: &str, c: Command) -> Value {
        let out = ok(c);
        assert_eq!(
            out.trim_end().lines().count(),
            1,
            "{command}: one line: {out}"
        );
        let v: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{command} --json is not JSON ({e}): {out}"));
        self.check(command, &v);
        v
    }

    fn check(&mut self, command: &str, v: &Value) {
        let fields = self
            .sections
            .get(command)
            .unwrap_or_else(|| panic!("docs/JSON.md has no section for `{command} --json`"));
        let mut found = BTreeMap::new();
        match v {
            Value::Array(items) => {
                assert!(!items.is_empty(), "{command}: check a non-empty array");
                for item in items {
                    paths(item, "", &mut found);
                }
            }
            other => paths(other, "", &mut found),
        }
        for (path, kind) in found.iter().filter(|(p, _)| !p.ends_with("[]")) {
            let documented = fields.get(path).unwrap_or_else(|| {
                panic!("{command}: field `{path}` is not in docs/JSON.md ({v})")
            });
            assert!(
                documented.split(" or ").any(|d| d == kind),
                "{command}: `{path}` is {kind}, documented as {documented}"
            );
        }
        // Every documented field is there, once its parent object is.
        for path in fields.keys() {
            let parent = path.rsplit_once('.').map(|(p, _)| p);
            let present = parent.is_none_or(|p| {
                matches!(found.get(p).map(String::as_str), Some("object"))
                    || found.contains_key(&format!("{p}[]"))
            });
            if present {
                assert!(
                    found.contains_key(path),
                    "{command}: documented field `{path}` is missing ({v})"
                );
            }
        }
        self.checked.insert(command.to_owned());
    }

    fn all_checked(&self) {
        let documented: BTreeSet<&String> = self.sections.keys().collect();
        let checked: BTreeSet<&String> = self.checked.iter().collect();
        assert_eq!(documented, checked, "every documented command is run");
    }
}

/// The field paths of `v` (`a.b`, `a[].b`) and their JSON types, into `out`. An array of
/// objects is `array` at its own path and its objects' fields at `path[].field`.
fn paths(v: &Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    let Value::Object(map) = v else {
        panic!("an object at `{prefix}`: {v}");
    };
    for (k, val) in map {
        let path = format!("{prefix}{k}");
        out.insert(path.clone(), type_name(val).to_owned());
        match val {
            Value::Object(_) => paths(val, &format!("{path}."), out),
            Value::Array(items) => {
                for item in items.iter().filter(|i| i.is_object()) {
                    out.insert(format!("{path}[]"), "object".into());
                    paths(item, &format!("{path}[]."), out);
                }
                for item in items.iter().filter(|i| !i.is_object()) {
                    assert!(item.is_string(), "`{path}`: arrays hold objects or strings");
                }
            }
            _ => {}
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn blackboard(campus: &Campus, args: &[&str]) -> Command {
    campus.blackboard_admin(args)
}

fn staff(campus: &Campus, bb: &Server, who: &str, args: &[&str]) -> Command {
    let mut all = vec![args[0], "--blackboard", &bb.addr];
    all.extend_from_slice(&args[1..]);
    campus.staff(who, &all)
}

/// `BIN --profile P ARGS` for a command without network flags (`config`, `verify-receipt`).
fn local(campus: &Campus, bin: &str, id: &str, args: &[&str]) -> Command {
    let mut c = client_cmd(bin);
    c.arg("--profile").arg(campus.profile(id)).args(args);
    c
}

fn write(campus: &Campus, name: &str, bytes: &[u8]) -> PathBuf {
    let p = campus.path(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

#[test]
fn every_json_output_has_the_documented_fields() {
    let mut doc = Documented::load();
    let campus = Campus::new();
    let cuhk = campus.start_cuhk();
    let bb = campus.start_blackboard();

    // Enrollment: a teacher by file, a student by fingerprint, remembering Blackboard.
    let code = campus.roster_add_staff(TEACHER);
    let mut c = campus.staff_enroll_cmd(&cuhk, TEACHER, &code);
    c.arg("--json");
    let t = doc.run("staff enroll", c);
    assert_eq!(t["id"], TEACHER);
    assert!(Path::new(t["certificate"].as_str().expect("path")).is_file());

    let mut fp = cmd("cuhk");
    fp.args(["fingerprint", "--dir"]).arg(campus.pki());
    let fingerprint = ok(fp).trim().to_owned();
    let code = campus.roster_add(ALICE);
    let a = doc.run(
        "student enroll",
        campus.student(
            ALICE,
            &[
                "enroll",
                "--id",
                ALICE,
                "--code",
                &code,
                "--cuhk",
                &cuhk.addr,
                "--fingerprint",
                &fingerprint,
                "--blackboard",
                &bb.addr,
                "--json",
            ],
        ),
    );
    assert_eq!(a["id"], ALICE);
    assert_eq!(a["root_sha256"], fingerprint.as_str());
    assert_eq!(
        Path::new(a["profile"].as_str().expect("path")),
        campus.profile(ALICE)
    );
    campus.enroll(&cuhk, CAROL);

    // Where the addresses come from: remembered at enroll, or the environment over it.
    let conf = doc.run(
        "student config",
        local(&campus, "student", ALICE, &["config", "--json"]),
    );
    assert_eq!(conf["servers"]["blackboard"]["address"], bb.addr.as_str());
    assert_eq!(conf["servers"]["blackboard"]["source"], "profile");
    assert_eq!(conf["servers"]["cuhk"]["source"], "profile");
    assert_eq!(conf["saved"], false);
    let mut env = local(&campus, "student", ALICE, &["config", "--json"]);
    env.env("HANDIN_BLACKBOARD", "blackboard.example:4000");
    let over = doc.run("student config", env);
    assert_eq!(
        over["servers"]["blackboard"]["address"],
        "blackboard.example:4000"
    );
    assert_eq!(over["servers"]["blackboard"]["source"], "env");
    assert_eq!(
        over["servers"]["blackboard"]["remembered"],
        bb.addr.as_str()
    );
    let set = doc.run(
        "staff config",
        local(
            &campus,
            "staff",
            TEACHER,
            &["config", "--blackboard", &bb.addr, "--json"],
        ),
    );
    assert_eq!(set["saved"], true);
    assert_eq!(set["servers"]["blackboard"]["source"], "profile");
    assert_eq!(set["servers"]["cuhk"]["source"], "profile");

    // The operator's course; the teacher's assignment.
    ok(blackboard(
        &campus,
        &["course", "add", "CSCI3180", "--title", "PL"],
    ));
    ok(blackboard(
        &campus,
        &["course", "staff", "CSCI3180", "--add", TEACHER],
    ));
    ok(blackboard(
        &campus,
        &[
            "course", "students", "CSCI3180", "--add", ALICE, "--add", CAROL,
        ],
    ));
    let courses = doc.run(
        "blackboard course list",
        blackboard(&campus, &["course", "list", "--json"]),
    );
    assert_eq!(courses[0]["course"], "CSCI3180");
    let shown = doc.run(
        "blackboard course show",
        blackboard(&campus, &["course", "show", "CSCI3180", "--json"]),
    );
    assert_eq!(shown["students"], serde_json::json!([ALICE, CAROL]));
    let assignments = doc.run(
        "blackboard assignment list",
        blackboard(&campus, &["assignment", "list", "--json"]),
    );
    assert_eq!(assignments[0]["due_at"], "2099-01-01T00:00:00Z");
    assert_eq!(assignments[0]["max_size"], 2u64 << 30);
    let roster = doc.run("cuhk roster list", {
        campus.cuhk(&["roster", "list", "--json"])
    });
    let kinds: Vec<&str> = roster
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["student", "student", "staff"]);

    // Alice submits (a name not in ASCII), lists, fetches, verifies.
    let name = "r\u{e9}sum\u{e9} \u{6587}.txt";
    let file = write(&campus, name, b"alice's answers");
    let r = doc.run("student submit", {
        let mut c = campus.student(ALICE, &["submit"]);
        c.arg(&file)
            .args(["--course", "CSCI3180", "--assignment", "hw1", "--json"]);
        c
    });
    assert_eq!(r["file_name"], name, "the exact name, decoded");
    assert_eq!(r["sha256"], sha256_hex(b"alice's answers"));
    let listed = doc.run("student list", campus.student(ALICE, &["list", "--json"]));
    assert_eq!(listed[0]["id"], r["id"]);
    let out = campus.path("fetched.txt");
    let id = r["id"].as_str().expect("id");
    let f = doc.run("student fetch", {
        let mut c = campus.student(ALICE, &["fetch", id, "--json", "--out"]);
        c.arg(&out);
        c
    });
    assert_eq!(Path::new(f["path"].as_str().expect("path")), out);
    assert_eq!(
        f["sha256"],
        sha256_hex(&std::fs::read(&out).expect("fetched"))
    );
    let receipt = r["receipt"].as_str().expect("receipt path");
    let v = doc.run(
        "student verify-receipt",
        local(
            &campus,
            "student",
            ALICE,
            &["verify-receipt", receipt, "--json"],
        ),
    );
    let mut attested = r.clone();
    attested.as_object_mut().expect("object").remove("receipt");
    assert_eq!(
        v["receipt"], attested,
        "the receipt attests what submit said"
    );
    assert_eq!(v["standing"], "pinned");
    // An invalid one prints nothing on stdout: the exit code and stderr say why.
    let own_cert = campus.profile(ALICE).join("cert.pem");
    let mut bad = local(
        &campus,
        "student",
        ALICE,
        &["verify-receipt", receipt, "--json"],
    );
    bad.arg("--blackboard-cert").arg(&own_cert);
    let out = run(bad);
    assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
    assert!(out.stdout.is_empty(), "{}", stdout_of(&out));
    assert!(v["signer"]["names"]
        .as_array()
        .expect("names")
        .contains(&Value::from("127.0.0.1")));

    // The staff see, collect, grade, release and read the log.
    let c = doc.run(
        "staff courses",
        staff(&campus, &bb, TEACHER, &["courses", "--json"]),
    );
    assert_eq!(c[0]["title"], "PL");
    let status = doc.run(
        "staff status",
        staff(
            &campus,
            &bb,
            TEACHER,
            &["status", "CSCI3180", "hw1", "--json"],
        ),
    );
    let states: Vec<(&str, &str)> = status
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["student_id"].as_str().expect("id"),
                r["state"].as_str().expect("state"),
            )
        })
        .collect();
    assert_eq!(states, [(ALICE, "on_time"), (CAROL, "nothing")]);
    let collected = doc.run("staff collect", {
        let mut c = staff(
            &campus,
            &bb,
            TEACHER,
            &["collect", "CSCI3180", "hw1", "--json", "--out"],
        );
        c.arg(campus.path("collected"));
        c
    });
    assert_eq!(
        (&collected["files"], &collected["fetched"]),
        (&1.into(), &1.into())
    );
    let feedback = write(&campus, "marked.txt", b"well done");
    let mut grade = staff(
        &campus,
        &bb,
        TEACHER,
        &[
            "grade",
            "CSCI3180",
            "hw1",
            "--student",
            ALICE,
            "--score",
            "91",
            "--feedback",
        ],
    );
    grade.arg(&feedback);
    ok(grade);
    ok(staff(
        &campus,
        &bb,
        TEACHER,
        &["release", "CSCI3180", "hw1"],
    ));
    let log = doc.run(
        "staff log",
        staff(&campus, &bb, TEACHER, &["log", "CSCI3180", "--json"]),
    );
    let actions: Vec<&str> = log
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|l| l["action"].as_str())
        .collect();
    // The operator added hw1 before the course (Campus::new).
    assert_eq!(
        actions,
        [
            "assignment",
            "course",
            "staff",
            "students",
            "grade",
            "release"
        ]
    );

    // Alice's grade and feedback.
    let g = doc.run(
        "student grades",
        campus.student(ALICE, &["grades", "--json"]),
    );
    assert_eq!(g[0]["score"], "91");
    assert_eq!(g[0]["feedback"]["sha256"], sha256_hex(b"well done"));
    let fb_out = campus.path("feedback.txt");
    let fb = doc.run("student feedback", {
        let mut c = campus.student(ALICE, &["feedback", "CSCI3180", "hw1", "--json", "--out"]);
        c.arg(&fb_out);
        c
    });
    assert_eq!(fb["file_name"], "marked.txt");
    assert_eq!(std::fs::read(&fb_out).expect("feedback"), b"well done");

    // Renewal, both roles.
    let renewed = doc.run("student renew", campus.student(ALICE, &["renew", "--json"]));
    assert_eq!(renewed["id"], ALICE);
    assert_ne!(renewed["serial"], a["serial"], "a new certificate");
    let renewed = doc.run("staff renew", campus.staff(TEACHER, &["renew", "--json"]));
    assert_eq!(renewed["id"], TEACHER);

    // The logs: Alice commits, then audits both logs (her renewed certificate and the first
    // are both hers), exports her checkpoints and compares them; the teacher replays both logs.
    let draft = write(&campus, "draft.txt", b"alice's draft");
    let committed = doc.run("student commit", {
        let mut c = campus.student(ALICE, &["commit"]);
        c.arg(&draft)
            .args(["--course", "CSCI3180", "--assignment", "hw1", "--json"]);
        c
    });
    assert_eq!(committed["sha256"], sha256_hex(b"alice's draft"));
    assert_eq!(committed["file_name"], "draft.txt");
    assert!(Path::new(committed["commitment"].as_str().expect("path")).is_file());
    let shared = campus.path("shared");
    let audited = doc.run("student audit", {
        let mut c = campus.student(ALICE, &["audit", "--json", "--export"]);
        c.arg(&shared);
        c
    });
    assert_eq!(audited["passed"], true, "{audited}");
    assert_eq!(audited["id"], ALICE);
    assert_eq!(audited["receipts"][0]["id"], r["id"]);
    assert_eq!(audited["receipts"][0]["status"], "ok");
    assert_eq!(
        audited["commitments"][0]["index"],
        committed["log"]["index"]
    );
    let certificates = audited["certificates"].as_array().expect("certificates");
    assert_eq!(certificates.len(), 2, "{audited}");
    assert!(certificates.iter().all(|c| c["known"] == true), "{audited}");
    assert_eq!(audited["exported"].as_array().map(Vec::len), Some(2));
    let compared = doc.run("student audit", {
        let mut c = campus.student(ALICE, &["audit", "--json", "--checkpoint"]);
        c.arg(shared.join("blackboard.checkpoint"))
            .arg("--checkpoint")
            .arg(shared.join("cuhk.checkpoint"));
        c
    });
    let outcomes: Vec<&str> = compared["checkpoints"]
        .as_array()
        .expect("checkpoints")
        .iter()
        .filter_map(|c| c["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["same", "same"], "{compared}");
    assert_eq!(
        compared["logs"][0]["previous_size"],
        compared["logs"][0]["size"]
    );
    let replayed = doc.run(
        "staff audit-log",
        staff(
            &campus,
            &bb,
            TEACHER,
            &["audit-log", "--log", "blackboard", "--json"],
        ),
    );
    assert_eq!(
        (
            &replayed["receipts"],
            &replayed["commitments"],
            &replayed["passed"]
        ),
        (&1.into(), &1.into(), &true.into())
    );
    assert_eq!(replayed["root"], compared["logs"][0]["root"]);
    let replayed = doc.run(
        "staff audit-log",
        staff(
            &campus,
            &bb,
            TEACHER,
            &["audit-log", "--log", "cuhk", "--json"],
        ),
    );
    // CUHK's and Blackboard's server certificates, three enrollments and two renewals.
    assert_eq!(replayed["certificates"], 7, "{replayed}");
    assert_eq!(replayed["revocations"], 0);

    // A PKCS#12 file for the browser, both roles: the fingerprint is the certificate's.
    let password = write(&campus, "p12-password", b"correct horse\n");
    for (bin, who, command) in [
        ("student", ALICE, "student export-p12"),
        ("staff", TEACHER, "staff export-p12"),
    ] {
        let out = campus.path(&format!("{who}.p12"));
        let mut c = local(&campus, bin, who, &["export-p12", "--json", "--out"]);
        c.arg(&out).arg("--password-file").arg(&password);
        let x = doc.run(command, c);
        assert_eq!(Path::new(x["path"].as_str().expect("path")), out);
        assert!(out.is_file());
        let mut fp = Command::new("openssl");
        fp.args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(campus.profile(who).join("cert.pem"));
        let fp = ok(fp);
        let sha = x["sha256"].as_str().expect("sha256");
        assert!(fp.trim_end().ends_with(&format!("={sha}")), "{fp} vs {sha}");
        assert!(
            x["subject"]
                .as_str()
                .expect("subject")
                .contains(&format!("CN={who}")),
            "{x}"
        );
    }

    doc.all_checked();
    assert!(bb.stop());
    assert!(cuhk.stop());
}
