//! How each `student` command prints its outcome: lines for a person, or (`--json`) one JSON
//! value with the fields of docs/JSON.md. Text from a server or a file is printed with its
//! control characters escaped.

use handin::json::{self, at};
use handin_client::printable;
use handin_client::student::{self, Committed, Fetched, LogKey, Standing, Submitted, Verified};
use handin_core::msg::{FeedbackFile, GradeEntry, SubmissionEntry};
use handin_core::submit::hex;
use handin_core::units::{size, size_exact};
use serde_json::{json, Value};
use std::path::Path;

fn text(s: &str) -> String {
    printable::text(s).into_owned()
}

pub(crate) fn submitted(s: &Submitted, as_json: bool) {
    let b = &s.body;
    if as_json {
        let mut v = json::receipt(b);
        v["receipt"] = json!(json::path(&s.receipt_path));
        return json::print(&v);
    }
    println!(
        "submitted {}: {}, sha256 {}, as {} version {}{}\nreceived {} (due {}{}); signed receipt saved to {}",
        text(&b.file_name), size_exact(b.size), hex(&b.sha256), b.id, b.version,
        if b.late { ", LATE" } else { "" },
        at(b.received_at), at(b.due_at),
        b.committed_at.map_or_else(String::new, |c| format!(
            "; on time by your commitment of {}", at(c)
        )),
        s.receipt_path.display()
    );
    if let Some(i) = s.log_index {
        println!("logged as entry {i} of Blackboard's log: proof checked");
    }
}

pub(crate) fn committed(c: &Committed, as_json: bool) {
    let b = &c.body;
    if as_json {
        return json::print(&json!({
            "student_id": b.student_id,
            "course": b.course,
            "assignment": b.assignment,
            "file_name": b.file_name,
            "size": b.size,
            "sha256": hex(&b.sha256),
            "committed_at": at(b.committed_at),
            "log": json::log_place(&c.checkpoint, c.index),
            "commitment": json::path(&c.path),
        }));
    }
    println!(
        "committed to {}: {}, sha256 {}, for {}/{} at {}",
        text(&b.file_name),
        size_exact(b.size),
        hex(&b.sha256),
        text(&b.course),
        text(&b.assignment),
        at(b.committed_at)
    );
    println!(
        "logged as entry {} of Blackboard's log {} (size {}): proof checked; commitment saved to {}",
        c.index,
        text(&c.checkpoint.origin),
        c.checkpoint.size,
        c.path.display()
    );
    println!(
        "submit exactly this file; received within the assignment's grace after its due time, \
         it counts as on time"
    );
}

pub(crate) fn list(entries: &[SubmissionEntry], as_json: bool) {
    if as_json {
        return json::print(&Value::Array(
            entries.iter().map(json::submission).collect(),
        ));
    }
    if entries.is_empty() {
        println!("no submissions");
    }
    for e in entries {
        println!(
            "{}\t{}/{}\t{}\tv{}\t{}\t{}{}",
            e.id,
            text(&e.course),
            text(&e.assignment),
            text(&e.file_name),
            e.version,
            size(e.size),
            at(e.received_at),
            if e.late { "\tLATE" } else { "" }
        );
    }
}

pub(crate) fn fetched(f: &Fetched, as_json: bool) {
    if as_json {
        let mut v = json::submission(&f.entry);
        v["path"] = json!(json::path(&f.path));
        return json::print(&v);
    }
    println!(
        "fetched {} to {}: {}, sha256 verified",
        text(&f.entry.file_name),
        f.path.display(),
        size_exact(f.entry.size)
    );
}

pub(crate) fn verified(v: &Verified, as_json: bool) {
    if as_json {
        return json::print(&json!({
            "valid": true,
            "receipt": json::receipt(&v.body),
            "signer": json::server_certificate(&v.signer),
            "standing": json::standing(&v.standing),
            "log": v.log.as_ref().map(|l| {
                let mut place = json::log_place(&l.checkpoint, l.index);
                place["vkey"] = json!(l.vkey);
                place["key"] = json!(match l.key {
                    LogKey::Pinned => "pinned",
                    LogKey::NoPin => "no_pin",
                });
                place
            }),
        }));
    }
    let b = &v.body;
    println!(
        "valid receipt: {} submitted {}: {}, sha256 {}, to {}/{} as {} version {} at {}{}",
        text(&b.student_id),
        text(&b.file_name),
        size_exact(b.size),
        hex(&b.sha256),
        text(&b.course),
        text(&b.assignment),
        text(&b.id),
        b.version,
        at(b.received_at),
        if b.late { " (late)" } else { "" }
    );
    let standing = match v.standing {
        Standing::Pinned => "the Blackboard certificate pinned in your profile",
        Standing::Recorded => "a Blackboard certificate your profile recorded after the pinned one",
        Standing::NoPin => {
            "no Blackboard certificate is pinned in this profile: check that this is Blackboard's"
        }
    };
    println!(
        "signed by {} ({standing})",
        student::describe_server(&v.signer)
    );
    if let Some(c) = b.committed_at {
        println!(
            "committed at {}, received at {}: on time by the commitment",
            at(c),
            at(b.received_at)
        );
    }
    match &v.log {
        None => println!("a receipt of before the logs: not logged"),
        Some(l) => {
            println!(
                "in Blackboard's log {}, entry {} of {}: proof checked offline",
                text(&l.checkpoint.origin),
                l.index,
                l.checkpoint.size
            );
            match l.key {
                LogKey::Pinned => {}
                LogKey::NoPin => println!(
                    "your profile pinned no key for Blackboard's log: `student audit` pins it"
                ),
            }
        }
    }
}

pub(crate) fn grades(grades: &[GradeEntry], as_json: bool) {
    if as_json {
        let v: Vec<Value> = grades
            .iter()
            .map(|g| {
                json!({
                    "course": g.course,
                    "assignment": g.assignment,
                    "score": g.score,
                    "comment": g.comment,
                    "feedback": g.feedback.as_ref().map(|f| json!({
                        "file_name": f.file_name,
                        "size": f.size,
                        "sha256": hex(&f.sha256),
                    })),
                    "released_at": at(g.released_at),
                })
            })
            .collect();
        return json::print(&Value::Array(v));
    }
    if grades.is_empty() {
        println!("no grades released to you yet");
    }
    for g in grades {
        println!(
            "{}/{}\t{}{}",
            text(&g.course),
            text(&g.assignment),
            text(&g.score),
            g.feedback.as_ref().map_or_else(String::new, |f| format!(
                "\tfeedback: {} (student feedback {} {} --out FILE)",
                text(&f.file_name),
                text(&g.course),
                text(&g.assignment)
            ))
        );
        if !g.comment.is_empty() {
            for line in printable::text(&g.comment).lines() {
                println!("    {line}");
            }
        }
    }
}

pub(crate) fn feedback(f: &FeedbackFile, out: &Path, as_json: bool) {
    if as_json {
        return json::print(&json::feedback(f, out));
    }
    println!(
        "feedback {} saved as {}: {}",
        text(&f.file_name),
        out.display(),
        size_exact(f.size)
    );
}
