//! How the staff commands print: a table for people, one JSON value for scripts (`--json`,
//! with the fields of docs/JSON.md). Text from the server is printed with its control
//! characters escaped.

use handin::json::{self, at as time, print as print_json};
use handin_client::logs::{Log, Since};
use handin_client::printable;
use handin_client::staff::{AuditedLog, Profile};
use handin_core::msg::{CourseRow, LogRow, StatusRow, SubmissionState};
use serde_json::{json, Value};

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

/// The state as `--json` names it.
fn state_key(s: SubmissionState) -> &'static str {
    match s {
        SubmissionState::Nothing => "nothing",
        SubmissionState::OnTime => "on_time",
        SubmissionState::Late => "late",
    }
}

pub(crate) fn courses(rows: &[CourseRow], as_json: bool) {
    if as_json {
        let v: Vec<Value> = rows
            .iter()
            .map(|c| json!({"course": c.course, "title": c.title}))
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

pub(crate) fn status(rows: &[StatusRow], as_json: bool) {
    if as_json {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "student_id": r.student_id,
                    "on_class_list": r.on_class_list,
                    "due_at": time(r.due_at),
                    "extended": r.extended,
                    "state": state_key(r.state),
                    "committed_at": r.committed_at.map(time),
                    "files": r.files.iter().map(json::submission).collect::<Vec<_>>(),
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
        if let Some(c) = r.committed_at {
            notes.push(format!("committed at {}", time(c)));
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
                    "actor": l.actor,
                    "action": l.action,
                    "student": l.student,
                    "detail": l.detail,
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

pub(crate) fn audited_log(a: &AuditedLog, profile: &Profile, as_json: bool) {
    let r = &a.replayed;
    let previous = match a.since {
        Since::First => None,
        Since::Same => Some(a.head.size()),
        Since::Grew { from } => Some(from),
    };
    if as_json {
        return print_json(&json!({
            "log": a.log.name(),
            "origin": a.head.checkpoint.origin,
            "size": a.head.size(),
            "root": a.head.root().to_hex(),
            "vkey": a.vkey,
            "pinned_now": a.pinned_now,
            "previous_size": previous,
            "receipts": r.receipts,
            "commitments": r.commitments,
            "certificates": r.certificates,
            "revocations": r.revocations,
            "problems": r.problems.iter().map(|(index, problem)| json!({
                "index": index,
                "problem": problem,
            })).collect::<Vec<_>>(),
            "unlisted_problems": r.unlisted,
            "passed": a.passed(),
            "saved": a.saved,
            "checkpoint_file": json::path(&profile.log_checkpoint(a.log)),
        }));
    }
    println!(
        "{}'s log {}: {} entries, every one checked against the log's hashes, root {} as signed",
        a.log.what(),
        text(&a.head.checkpoint.origin),
        a.head.size(),
        a.head.root().to_hex()
    );
    match previous {
        None => println!("first audit of this log from this profile (key {})", a.vkey),
        Some(p) if p == a.head.size() => println!("unchanged since this profile's last audit"),
        Some(p) => println!("grew from {p} entries consistently (proof checked)"),
    }
    match a.log {
        Log::Blackboard => println!("receipts: {}, commitments: {}", r.receipts, r.commitments),
        Log::Cuhk => println!(
            "certificates: {}, revocations: {}",
            r.certificates, r.revocations
        ),
    }
    for (index, problem) in &r.problems {
        println!("  ! entry {index}: {}", text(problem));
    }
    if r.unlisted > 0 {
        println!("  ! and {} more such entries", r.unlisted);
    }
    if a.saved {
        println!(
            "checkpoint saved in {}",
            profile.log_checkpoint(a.log).display()
        );
    }
}
