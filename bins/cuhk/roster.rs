//! `cuhk roster import` and `cuhk roster list`: the roster at the scale of a real course.

use handin::cli::rfc3339;
use handin_core::pki::PersonId;
use handin_services::cuhk::PkiDir;
use handin_services::people_csv::parse_roster;
use std::path::Path;
use std::time::SystemTime;

/// Puts everyone in a CSV file (IDs, optional names) who is not on the roster yet on it, and
/// prints `id,name,code` CSV on stdout for a mail merge; a summary on stderr.
pub(crate) fn import(pki: &PkiDir, file: &Path, now: SystemTime) -> Result<(), String> {
    let text = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let people = parse_roster(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut registrar = pki.registrar().map_err(|e| e.to_string())?;
    let ids: Vec<_> = people.iter().map(|p| p.id.clone()).collect();
    let added = registrar.import(&ids, now).map_err(|e| e.to_string())?;
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    let write_err = |e: csv::Error| format!("cannot write the codes: {e}");
    out.write_record(["id", "name", "code"])
        .map_err(write_err)?;
    for (id, code) in &added {
        let name = people
            .iter()
            .find(|p| p.id == *id)
            .and_then(|p| p.name.as_deref())
            .unwrap_or("");
        out.write_record([id.as_str(), name, code.as_str()])
            .map_err(write_err)?;
    }
    out.flush()
        .map_err(|e| format!("cannot write the codes: {e}"))?;
    let kept = ids.len() - added.len();
    eprintln!(
        "cuhk: {} added to the roster with new codes (printed above: give each to its person); \
         {kept} already on it kept their codes (`cuhk roster add ID` gives one a new code)",
        added.len()
    );
    Ok(())
}

/// Everyone on the roster: enrolled or not, certificates issued and revoked. Codes are never
/// shown again.
pub(crate) fn list(pki: &PkiDir, json: bool) -> Result<(), String> {
    let registrar = pki.registrar().map_err(|e| e.to_string())?;
    let roster = registrar.roster().map_err(|e| e.to_string())?;
    if json {
        let v: Vec<serde_json::Value> = roster
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.person.as_str(),
                    "kind": match r.person {
                        PersonId::Student(_) => "student",
                        PersonId::Staff(_) => "staff",
                    },
                    "added_at": rfc3339(r.added_at),
                    "enrolled": r.enrolled_at.is_some(),
                    "enrolled_at": r.enrolled_at.map(rfc3339),
                    "certificates": r.certificates,
                    "revoked": r.revoked,
                })
            })
            .collect();
        handin::json::print(&serde_json::Value::Array(v));
        return Ok(());
    }
    let enrolled = roster.iter().filter(|r| r.enrolled_at.is_some()).count();
    println!("{} on the roster, {enrolled} enrolled", roster.len());
    for r in &roster {
        println!(
            "{}\t{}\t{}\t{} certificate(s), {} revoked",
            r.person,
            r.person.kind(),
            r.enrolled_at.map_or_else(
                || "not enrolled".to_owned(),
                |t| format!("enrolled {}", rfc3339(t))
            ),
            r.certificates,
            r.revoked
        );
    }
    Ok(())
}
