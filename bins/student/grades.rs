//! How `student grades` prints: a line per grade, or one JSON array (`--json`).

use handin_client::{printable, rfc3339};
use handin_core::msg::GradeEntry;
use handin_core::submit::hex;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

pub(crate) fn print(grades: &[GradeEntry], as_json: bool) {
    let text = |s: &str| printable::text(s).into_owned();
    let when = |s: u64| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
    if as_json {
        let v: Vec<Value> = grades
            .iter()
            .map(|g| {
                json!({
                    "course": text(&g.course),
                    "assignment": text(&g.assignment),
                    "score": text(&g.score),
                    "comment": text(&g.comment),
                    "feedback": g.feedback.as_ref().map(|f| json!({
                        "file_name": text(&f.file_name),
                        "size": f.size,
                        "sha256": hex(&f.sha256),
                    })),
                    "released_at": when(g.released_at),
                })
            })
            .collect();
        println!("{}", printable::json(&Value::Array(v)));
        return;
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
