//! `staff collect`: every student's current submission to an assignment, over one connection:
//! the status table says what is current, the [`Collection`] keeps what has not changed since
//! the last run, and each other file streams into the folder, checked against its receipt's
//! SHA-256 before it gets its name. Memory stays flat whatever the sizes: each file goes to disk
//! as it arrives.

use super::folder::{Collection, Incoming, ManifestRow};
use super::ops::{refused, status_on};
use crate::error::ErrorKind;
use crate::session::{
    fail, nothing_more, progress_bar, staff_blackboard, Profile, Remote, StudentError,
};
use handin_core::staff::StaffClientEvent;
use std::path::Path;

/// What a collection run did.
#[derive(Debug)]
pub struct Collected {
    /// Files fetched in this run.
    pub fetched: usize,
    /// Files already in the folder as the server has them, not fetched again.
    pub kept: usize,
    /// Bytes fetched.
    pub bytes: u64,
    /// Students in the status table.
    pub students: usize,
    /// The manifest's rows.
    pub rows: Vec<ManifestRow>,
}

/// Collects the current submissions of `course`/`assignment` into `out`.
pub fn collect(
    remote: &Remote,
    profile: &Profile,
    course: &str,
    assignment: &str,
    out: &Path,
) -> Result<Collected, StudentError> {
    let mut folder = Collection::open(out).map_err(|e| StudentError::file(e.0))?;
    let mut bb = staff_blackboard(remote, profile)?;
    bb.keep_open();
    let table = status_on(&mut bb, course, assignment)?;
    let mut wanted = Vec::new();
    let mut kept = 0;
    for row in &table {
        for entry in &row.files {
            if folder.keep_if_current(entry) {
                kept += 1;
            } else {
                wanted.push(entry.clone());
            }
        }
    }
    let total: u64 = wanted.iter().map(|e| e.size).sum();
    let bar = progress_bar(total, "collecting");
    let mut bytes = 0u64;
    let mut fetched = 0;
    let mut failure = None;
    for entry in &wanted {
        let mut incoming: Option<Incoming> = None;
        let mut receipt = None;
        let got = bb.exchange(
            |c| c.fetch(&entry.id),
            |ev| match ev {
                StaffClientEvent::FetchBegin {
                    entry: e,
                    receipt: r,
                } => {
                    if e != *entry {
                        return Some(fail(
                            ErrorKind::Other,
                            format!(
                                "Blackboard described {} differently from its status table",
                                entry.id
                            ),
                        ));
                    }
                    receipt = Some(r);
                    match folder.begin(entry) {
                        Ok(i) => {
                            incoming = Some(i);
                            None
                        }
                        Err(e) => Some(Err(StudentError::file(e.0))),
                    }
                }
                StaffClientEvent::FetchData(d) => {
                    bytes += d.len() as u64;
                    if let Some(b) = &bar {
                        b.set_position(bytes);
                    }
                    match incoming.as_mut().map(|i| i.write(&d)) {
                        Some(Err(e)) => Some(Err(StudentError::file(e.0))),
                        Some(Ok(())) => None,
                        None => Some(fail(
                            ErrorKind::Other,
                            "Blackboard sent bytes before describing them",
                        )),
                    }
                }
                StaffClientEvent::FetchEnd => Some(Ok(())),
                StaffClientEvent::Refused(r) => Some(Err(refused(&r))),
                _ => None,
            },
            nothing_more,
        );
        let finished = got.and_then(|()| {
            let i = incoming
                .take()
                .ok_or_else(|| StudentError::other("Blackboard sent no file"))?;
            let r = receipt
                .take()
                .ok_or_else(|| StudentError::other("Blackboard sent no receipt"))?;
            folder
                .finish(i, r.to_pem().as_bytes())
                .map_err(|e| StudentError::file(e.0))
        });
        if let Some(i) = incoming.take() {
            i.abandon();
        }
        match finished {
            Ok(()) => fetched += 1,
            Err(e) => {
                failure = Some(e.context(format_args!(
                    "{} ({} of {})",
                    entry.id, entry.file_name, entry.student_id
                )));
                break;
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    bb.finish();
    // What did arrive is recorded, so that a re-run fetches only the rest.
    folder
        .write_manifest()
        .map_err(|e| StudentError::file(e.0))?;
    if let Some(e) = failure {
        return Err(StudentError::new(
            e.kind(),
            format!(
                "collect stopped after {fetched} file(s): {}; run it again to fetch the rest",
                e.message()
            ),
        ));
    }
    Ok(Collected {
        fetched,
        kept,
        bytes,
        students: table.len(),
        rows: folder.rows().to_vec(),
    })
}
