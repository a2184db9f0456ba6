//! The collection folder of `staff collect`: every student's current submission as
//! `DIR/<student id>/<file name>`, each file's receipt in `DIR/receipts/<submission id>.receipt`,
//! and `DIR/manifest.csv`, one row per file.
//!
//! Files arrive streamed into a temporary file beside their place, are hashed as they are
//! written, and are renamed into place only once their SHA-256 matches the server's record, so
//! a folder never holds a half or a wrong file under a real name. A re-run reads the previous
//! manifest and fetches only the files whose submission changed (or went missing). Names come
//! from the network and are hostile until checked: a student directory is a checked 10-digit
//! ID, and a file name that could escape the folder or hide (`/`, `..`, control characters, a
//! leading dot) is stored as `submission-<id>` instead, the manifest telling the name given.

use handin_core::msg::SubmissionEntry;
use handin_core::names::{check_file_name, check_submission_id};
use handin_core::pki::{rfc3339, StudentId};
use handin_core::submit::{hex, Sha256};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.csv";
const HEADER: [&str; 10] = [
    "student_id",
    "file_name",
    "path",
    "submission_id",
    "version",
    "size",
    "sha256",
    "received_at",
    "late",
    "receipt",
];

/// A collection folder failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CollectError(pub String);

fn io_fail(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> CollectError {
    move |e| CollectError(format!("{what}: {e}"))
}

/// One row of the manifest: a file of a student's current submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    /// The student.
    pub student: String,
    /// The file name the student gave.
    pub file_name: String,
    /// Where it is, relative to the folder.
    pub path: String,
    /// The submission's id.
    pub id: String,
    /// Its version.
    pub version: u32,
    /// Its size.
    pub size: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
    /// When Blackboard received it (RFC 3339).
    pub received_at: String,
    /// Late against the due time in force for the student.
    pub late: bool,
    /// Its receipt, relative to the folder.
    pub receipt: String,
}

impl ManifestRow {
    fn fields(&self) -> [String; 10] {
        [
            self.student.clone(),
            self.file_name.clone(),
            self.path.clone(),
            self.id.clone(),
            self.version.to_string(),
            self.size.to_string(),
            self.sha256.clone(),
            self.received_at.clone(),
            self.late.to_string(),
            self.receipt.clone(),
        ]
    }

    fn from_fields(r: &csv::StringRecord) -> Option<Self> {
        let get = |i: usize| r.get(i).map(str::to_owned);
        Some(Self {
            student: get(0)?,
            file_name: get(1)?,
            path: get(2)?,
            id: get(3)?,
            version: get(4)?.parse().ok()?,
            size: get(5)?.parse().ok()?,
            sha256: get(6)?,
            received_at: get(7)?,
            late: get(8)? == "true",
            receipt: get(9)?,
        })
    }
}

/// Where a file of `student` named `file_name` (submission `id`) goes, relative to the folder;
/// `None` if the student ID or the submission id is not what Blackboard issues.
pub fn local_path(student: &str, file_name: &str, id: &str) -> Option<String> {
    let student = StudentId::parse(student).ok()?;
    check_submission_id(id).ok()?;
    let safe = check_file_name(file_name).is_ok()
        && !file_name.starts_with('.')
        && file_name != MANIFEST
        && !file_name.contains('\\');
    let name = if safe {
        file_name.to_owned()
    } else {
        format!("submission-{id}")
    };
    Some(format!("{student}/{name}"))
}

/// A collection folder being filled.
#[derive(Debug)]
pub struct Collection {
    dir: PathBuf,
    previous: BTreeMap<(String, String), ManifestRow>,
    rows: Vec<ManifestRow>,
}

impl Collection {
    /// Opens (creating) the folder and reads the manifest of an earlier run, if any.
    pub fn open(dir: &Path) -> Result<Self, CollectError> {
        fs::create_dir_all(dir.join("receipts"))
            .map_err(io_fail(format!("cannot create {}", dir.display())))?;
        let mut previous = BTreeMap::new();
        match fs::read(dir.join(MANIFEST)) {
            Ok(text) => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .from_reader(text.as_slice());
                for r in reader.records().flatten() {
                    if let Some(row) = ManifestRow::from_fields(&r) {
                        previous.insert((row.student.clone(), row.file_name.clone()), row);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(CollectError(format!(
                    "cannot read {}: {e}",
                    dir.join(MANIFEST).display()
                )))
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            previous,
            rows: Vec::new(),
        })
    }

    /// Whether the folder already holds this file as the server has it (same submission, its
    /// file and receipt present with the right size): then it is kept, not fetched again.
    /// Either way, the file is in this run's manifest once it is kept or fetched.
    pub fn keep_if_current(&mut self, entry: &SubmissionEntry) -> bool {
        let key = (entry.student_id.clone(), entry.file_name.clone());
        let Some(row) = self.previous.get(&key) else {
            return false;
        };
        let same = row.id == entry.id
            && row.sha256 == hex(&entry.sha256)
            && fs::metadata(self.dir.join(&row.path)).is_ok_and(|m| m.len() == entry.size)
            && self.dir.join(&row.receipt).is_file();
        if same {
            self.rows.push(row.clone());
        }
        same
    }

    /// Starts receiving one file.
    pub fn begin(&self, entry: &SubmissionEntry) -> Result<Incoming, CollectError> {
        let rel = local_path(&entry.student_id, &entry.file_name, &entry.id).ok_or_else(|| {
            CollectError(format!(
                "Blackboard described a submission with an unusable student ID {:?} or id {:?}",
                entry.student_id, entry.id
            ))
        })?;
        let path = self.dir.join(&rel);
        let student_dir = self.dir.join(&entry.student_id);
        fs::create_dir_all(&student_dir)
            .map_err(io_fail(format!("cannot create {}", student_dir.display())))?;
        let tmp = student_dir.join(format!(".{}.part", entry.id));
        let file =
            File::create(&tmp).map_err(io_fail(format!("cannot create {}", tmp.display())))?;
        Ok(Incoming {
            file,
            hash: Sha256::new(),
            written: 0,
            tmp,
            path,
            rel,
            entry: entry.clone(),
        })
    }

    /// Finishes a file: checks its size and SHA-256 against the server's record, makes it
    /// durable, renames it into place and stores its receipt.
    pub fn finish(&mut self, incoming: Incoming, receipt: &[u8]) -> Result<(), CollectError> {
        let Incoming {
            file,
            hash,
            written,
            tmp,
            path,
            rel,
            entry,
        } = incoming;
        let checked = (|| {
            if written != entry.size {
                return Err(CollectError(format!(
                    "{}: received {written} bytes, the record says {}",
                    rel, entry.size
                )));
            }
            if hash.finish() != entry.sha256 {
                return Err(CollectError(format!(
                    "{rel}: the bytes received do not match the SHA-256 of its receipt"
                )));
            }
            file.sync_all()
                .map_err(io_fail(format!("cannot write {}", tmp.display())))?;
            fs::rename(&tmp, &path)
                .map_err(io_fail(format!("cannot create {}", path.display())))?;
            Ok(())
        })();
        if checked.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        checked?;
        let receipt_rel = format!("receipts/{}.receipt", entry.id);
        handin_files::write_atomic(&self.dir.join(&receipt_rel), receipt, handin_files::PUBLIC)
            .map_err(io_fail(format!("cannot write {receipt_rel}")))?;
        self.rows.push(ManifestRow {
            student: entry.student_id.clone(),
            file_name: entry.file_name.clone(),
            path: rel,
            id: entry.id.clone(),
            version: entry.version,
            size: entry.size,
            sha256: hex(&entry.sha256),
            received_at: rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(entry.received_at)),
            late: entry.late,
            receipt: receipt_rel,
        });
        Ok(())
    }

    /// The manifest's rows so far.
    pub fn rows(&self) -> &[ManifestRow] {
        &self.rows
    }

    /// Writes the manifest (atomically), by student and file name.
    pub fn write_manifest(&mut self) -> Result<(), CollectError> {
        self.rows
            .sort_by(|a, b| (&a.student, &a.file_name).cmp(&(&b.student, &b.file_name)));
        let mut w = csv::Writer::from_writer(Vec::new());
        let write = |w: &mut csv::Writer<Vec<u8>>, r: &[String]| {
            w.write_record(r)
                .map_err(|e| CollectError(format!("cannot write the manifest: {e}")))
        };
        write(&mut w, &HEADER.map(str::to_owned))?;
        for row in &self.rows {
            write(&mut w, &row.fields())?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| CollectError(format!("cannot write the manifest: {e}")))?;
        handin_files::write_atomic(&self.dir.join(MANIFEST), &bytes, handin_files::PUBLIC).map_err(
            io_fail(format!(
                "cannot write {}",
                self.dir.join(MANIFEST).display()
            )),
        )
    }
}

/// A file on its way in: written to a temporary file and hashed as it comes.
#[derive(Debug)]
pub struct Incoming {
    file: File,
    hash: Sha256,
    written: u64,
    tmp: PathBuf,
    path: PathBuf,
    rel: String,
    entry: SubmissionEntry,
}

impl Incoming {
    /// Appends received bytes.
    pub fn write(&mut self, data: &[u8]) -> Result<(), CollectError> {
        self.hash.update(data);
        self.written += data.len() as u64;
        self.file
            .write_all(data)
            .map_err(io_fail(format!("cannot write {}", self.tmp.display())))
    }

    /// Gives up on this file (the connection failed): removes the temporary file.
    pub fn abandon(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests;
