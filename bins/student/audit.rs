//! How `student audit` prints its report: lines for a person (alarms last and loud), or one
//! JSON object with the fields of docs/JSON.md, printed whether or not the audit passed.

use handin::json::{self, at, time};
use handin_client::logs::Log;
use handin_client::printable;
use handin_client::student::{Audit, Profile, StatementReport, StatementStatus};
use serde_json::{json, Value};

fn text(s: &str) -> String {
    printable::text(s).into_owned()
}

fn entries(n: u64) -> String {
    format!("{n} {}", if n == 1 { "entry" } else { "entries" })
}

fn status(s: StatementStatus) -> &'static str {
    match s {
        StatementStatus::Ok => "ok",
        StatementStatus::NotLogged => "not_logged",
        StatementStatus::Unreadable => "unreadable",
        StatementStatus::Alarm => "alarm",
    }
}

fn statement(r: &StatementReport, name: &str) -> Value {
    json!({
        "file": json::path(&r.file),
        name: r.what,
        "index": r.index,
        "status": status(r.status),
        "problem": r.problem,
    })
}

fn as_json(a: &Audit, profile: &Profile) -> Value {
    json!({
        "passed": a.passed(),
        "id": a.person,
        "logs": a.logs.iter().map(|l| json!({
            "log": l.log.name(),
            "origin": l.head.as_ref().map(|h| h.checkpoint.origin.clone()),
            "size": l.head.as_ref().map(|h| h.size()),
            "root": l.head.as_ref().map(|h| h.root().to_hex()),
            "previous_size": l.previous_size,
            "pinned_now": l.pinned_now,
            "checkpoint_file": json::path(&profile.log_checkpoint(l.log)),
            "problem": l.problem,
        })).collect::<Vec<_>>(),
        "receipts": a.receipts.iter().map(|r| statement(r, "id")).collect::<Vec<_>>(),
        "commitments": a.commitments.iter().map(|r| statement(r, "description")).collect::<Vec<_>>(),
        "certificates": a.certificates.iter().map(|c| json!({
            "serial": c.serial,
            "subject": c.subject,
            "not_before": time(c.not_before),
            "not_after": time(c.not_after),
            "sha256": c.sha256,
            "index": c.index,
            "revoked_at": c.revoked_at.map(at),
            "known": c.known,
        })).collect::<Vec<_>>(),
        "checkpoints": a.checkpoints.iter().map(|c| json!({
            "file": json::path(&c.file),
            "log": c.log.map(Log::name),
            "size": c.size,
            "outcome": c.outcome,
            "problem": c.problem,
        })).collect::<Vec<_>>(),
        "alarms": a.alarms,
        "saved": a.saved,
        "exported": a.exported.iter().map(|p| json::path(p)).collect::<Vec<_>>(),
    })
}

/// Prints the report.
pub(crate) fn print(a: &Audit, profile: &Profile, as_json_: bool) {
    if as_json_ {
        return json::print(&as_json(a, profile));
    }
    for l in &a.logs {
        match (&l.head, &l.problem) {
            (Some(h), None) => println!(
                "{}'s log {}: {}{}{}",
                l.log.what(),
                text(&h.checkpoint.origin),
                entries(h.size()),
                match l.previous_size {
                    None => ", first audit".to_owned(),
                    Some(p) if p == h.size() => ", unchanged since your last audit".to_owned(),
                    Some(p) => format!(", grew from {p} consistently (proof checked)"),
                },
                if l.pinned_now {
                    "; its key is now pinned"
                } else {
                    ""
                }
            ),
            (_, Some(p)) => println!("{}'s log: FAILED: {}", l.log.what(), text(p)),
            (None, None) => {}
        }
    }
    let counts = |items: &[StatementReport], what: &str| {
        if items.is_empty() {
            return;
        }
        let count = |s| items.iter().filter(|r| r.status == s).count();
        println!(
            "{what}: {} still in Blackboard's log, unchanged{}{}{}",
            count(StatementStatus::Ok),
            match count(StatementStatus::NotLogged) {
                0 => String::new(),
                n => format!("; {n} from before the logs (not logged)"),
            },
            match count(StatementStatus::Unreadable) {
                0 => String::new(),
                n => format!("; {n} unreadable"),
            },
            match count(StatementStatus::Alarm) {
                0 => String::new(),
                n => format!("; {n} FAILED"),
            },
        );
        for r in items
            .iter()
            .filter(|r| r.status == StatementStatus::Unreadable)
        {
            println!(
                "  {} could not be read: {}",
                r.file.display(),
                text(r.problem.as_deref().unwrap_or(""))
            );
        }
    };
    counts(&a.receipts, "receipts");
    counts(&a.commitments, "commitments");
    if a.logs
        .iter()
        .any(|l| l.log == Log::Cuhk && l.head.is_some())
    {
        println!(
            "certificates CUHK's log holds for {}: {}",
            text(&a.person),
            a.certificates.len()
        );
    }
    for c in &a.certificates {
        println!(
            "  serial {}, valid {} to {}{}{}",
            c.serial,
            time(c.not_before),
            time(c.not_after),
            c.revoked_at
                .map_or_else(String::new, |r| format!(", revoked at {}", at(r))),
            if c.known {
                ", held by this profile"
            } else {
                ", NEVER HELD BY THIS PROFILE"
            }
        );
    }
    for c in &a.checkpoints {
        println!(
            "checkpoint {}: {}",
            c.file.display(),
            match (c.outcome, c.log, c.size) {
                ("same", Some(l), Some(n)) => format!(
                    "{}'s log at {}, the same as it shows you",
                    l.what(),
                    entries(n)
                ),
                ("consistent", Some(l), Some(n)) => format!(
                    "{}'s log at {}, consistent with what it shows you (proof checked)",
                    l.what(),
                    entries(n)
                ),
                ("newer_consistent", Some(l), Some(n)) => format!(
                    "{}'s log at {}, newer than what it shows you and continuing it (proof \
                     checked from the tiles the log serves at that size)",
                    l.what(),
                    entries(n)
                ),
                ("newer", Some(l), Some(n)) => format!(
                    "{}'s log at {}, newer than what it shows you: audit again later",
                    l.what(),
                    entries(n)
                ),
                _ => text(c.problem.as_deref().unwrap_or(c.outcome)),
            }
        );
    }
    if a.saved {
        for l in a.logs.iter().filter(|l| l.head.is_some()) {
            println!(
                "saved {}'s checkpoint in {}",
                l.log.what(),
                profile.log_checkpoint(l.log).display()
            );
        }
    }
    for p in &a.exported {
        println!("exported {}", p.display());
    }
    if a.passed() {
        println!("audit passed");
        return;
    }
    println!();
    println!("AUDIT FAILED: {} alarm(s)", a.alarms.len());
    for alarm in &a.alarms {
        println!("  ! {}", text(alarm));
    }
}
