//! The roster at the scale of a real course, through the real binaries: `cuhk roster import`
//! from a spreadsheet's CSV prints each new person's code for a mail merge, a second import
//! changes nothing, `cuhk roster list --json` tells who enrolled (and never shows a code), and
//! the operators' listings have stable JSON.

use handin_tests::*;
use serde_json::Value;

fn cuhk(campus: &Campus, args: &[&str]) -> std::process::Command {
    let mut c = cmd("cuhk");
    c.args(&args[..2])
        .arg("--dir")
        .arg(campus.pki())
        .args(&args[2..]);
    c
}

#[test]
fn a_roster_import_prints_codes_once_and_the_list_tells_who_enrolled() {
    let campus = Campus::new();
    let sheet = campus.path("roster.csv");
    std::fs::write(
        &sheet,
        format!(
            "Name,Student ID\n\"Chan, Tai Man\",{ALICE}\nLee Siu Ming,{BOB}\nProf Lee,prof.lee\n"
        ),
    )
    .expect("sheet");
    let mut import = cuhk(&campus, &["roster", "import"]);
    import.arg(&sheet);
    let out = ok(import);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("id,name,code"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(
        rows[0].starts_with(&format!("{ALICE},\"Chan, Tai Man\",")),
        "{out}"
    );
    assert!(rows[2].starts_with("prof.lee,Prof Lee,"), "{out}");
    let alice_code = rows[0].rsplit(',').next().expect("code").to_owned();

    // Run again: everyone is on the roster already and keeps their code.
    let mut again = cuhk(&campus, &["roster", "import"]);
    again.arg(&sheet);
    assert_eq!(ok(again).trim(), "id,name,code");

    // A bad row refuses the whole file.
    let bad = campus.path("bad.csv");
    std::fs::write(&bad, "id\n1155000077\nnot an id\n").expect("bad");
    let mut import_bad = cuhk(&campus, &["roster", "import"]);
    import_bad.arg(&bad);
    let e = fails(import_bad);
    assert!(e.contains("line 3"), "{e}");

    // Alice enrolls with the imported code.
    let cuhk_server = campus.start_cuhk();
    let mut enroll = campus.student(
        ALICE,
        &[
            "enroll",
            "--id",
            ALICE,
            "--code",
            &alice_code,
            "--cuhk",
            &cuhk_server.addr,
            "--ca",
        ],
    );
    enroll.arg(campus.pki().join("ca.crt"));
    ok(enroll);

    let list: Value =
        serde_json::from_str(&ok(cuhk(&campus, &["roster", "list", "--json"]))).expect("json");
    let rows = list.as_array().expect("array");
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, [ALICE, BOB, "prof.lee"], "students first, by ID");
    assert_eq!(rows[0]["enrolled"], true);
    assert_eq!(rows[0]["certificates"], 1);
    assert_eq!(rows[1]["enrolled"], false);
    assert_eq!(rows[2]["kind"], "staff");
    let text = ok(cuhk(&campus, &["roster", "list"]));
    assert!(text.starts_with("3 on the roster, 1 enrolled"), "{text}");
    assert!(!text.contains(&alice_code), "codes are never shown again");
    assert!(cuhk_server.stop());
}

#[test]
fn the_operators_listings_print_stable_json() {
    let campus = Campus::new();
    let mut c = cmd("blackboard");
    c.args(["assignment", "list", "--json", "--data"])
        .arg(campus.data());
    let list: Value = serde_json::from_str(&ok(c)).expect("json");
    let a = &list.as_array().expect("array")[0];
    assert_eq!(a["course"], "CSCI3180");
    assert_eq!(a["assignment"], "hw1");
    assert_eq!(a["due_at"], "2099-01-01T00:00:00Z");
    assert_eq!(a["open"], true);
    assert!(a["cutoff_at"].is_null());
    let mut c = cmd("blackboard");
    c.args(["course", "add", "--data"])
        .arg(campus.data())
        .args(["CSCI3180", "--title", "PL"]);
    ok(c);
    let mut c = cmd("blackboard");
    c.args(["course", "list", "--json", "--data"])
        .arg(campus.data());
    let courses: Value = serde_json::from_str(&ok(c)).expect("json");
    assert_eq!(courses[0]["title"], "PL");
}
