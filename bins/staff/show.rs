//! How the staff commands print: a table for people, one JSON value for scripts (`--json`).
//! Everything from the server goes through `printable` first.

use handin_client::printable;
use handin_client::rfc3339;
use handin_core::msg::{CourseRow, LogRow, StatusRow, SubmissionEntry, SubmissionState};
use handin_core::submit::hex;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

fn time(secs: u64) -> String {
    rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

fn text(s: &str) -> String {
    printable::text(s).into_owned()
}

pub(crate) fn state(s: SubmissionState) -> &'static str {
    match s {
        SubmissionState::Nothing => "nothing",
        SubmissionState::OnTime => "on time",
        SubmissionState::Late => "late",
    }
}

pub(crate) fn print_json(v: &Value) {
    println!("{}", printable::json(v));
}

pub(crate) fn courses(rows: &[CourseRow], as_json: bool) {
    if as_json {
        let v: Vec<Value> = rows
            .iter()
            .map(|c| json!({"course": text(&c.course), "title": text(&c.title)}))
            .collect();
        return print_json(&Value::Array(v));
    }
    if rows.is_empty() {
        println!("you are on the staff list of no course");
    }
    for c in rows {
        println!("{}\t{}", text(&c.course), text(&c.title));
    }
}

fn file_json(f: &SubmissionEntry) -> Value {
    json!({
        "id": text(&f.id),
        "file_name": text(&f.file_name),
        "size": f.size,
        "sha256": hex(&f.sha256),
        "received_at": time(f.received_at),
        "late": f.late,
        "version": f.version,
    })
}

pub(crate) fn status(rows: &[StatusRow], as_json: bool) {
    if as_json {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "student_id": text(&r.student_id),
                    "on_class_list": r.on_class_list,
                    "due_at": time(r.due_at),
                    "extended": r.extended,
                    "state": state(r.state),
                    "files": r.files.iter().map(file_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        return print_json(&Value::Array(v));
    }
    let count = |s: SubmissionState| rows.iter().filter(|r| r.state == s).count();
    println!(
        "{} students: {} on time, {} late, {} nothing yet",
        rows.len(),
        count(SubmissionState::OnTime),
        count(SubmissionState::Late),
        count(SubmissionState::Nothing)
    );
    for r in rows {
        let mut notes = Vec::new();
        if r.extended {
            notes.push(format!("extended to {}", time(r.due_at)));
        }
        if !r.on_class_list {
            notes.push("not on the class list".to_owned());
        }
        let last = r.files.iter().map(|f| f.received_at).max();
        println!(
            "{}\t{:<8}\t{}\t{}{}",
            text(&r.student_id),
            state(r.state),
            last.map_or_else(|| "-".to_owned(), time),
            r.files
                .iter()
                .map(|f| format!("{} (v{})", text(&f.file_name), f.version))
                .collect::<Vec<_>>()
                .join(", "),
            if notes.is_empty() {
                String::new()
            } else {
                format!("\t[{}]", notes.join("; "))
            }
        );
    }
}

pub(crate) fn log(rows: &[LogRow], as_json: bool) {
    if as_json {
        let v: Vec<Value> = rows
            .iter()
            .map(|l| {
                json!({
                    "at": time(l.at),
                    "actor": text(&l.actor),
                    "action": text(&l.action),
                    "student": l.student.as_deref().map(text),
                    "detail": text(&l.detail),
                })
            })
            .collect();
        return print_json(&Value::Array(v));
    }
    for l in rows {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            time(l.at),
            text(&l.actor),
            text(&l.action),
            l.student.as_deref().map_or_else(|| "-".to_owned(), text),
            text(&l.detail)
        );
    }
}
