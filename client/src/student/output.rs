//! Where a fetched file goes: a path given with `--out`, or the file's own name in a
//! directory; and never over an existing file unless asked to.

use crate::printable;
use crate::session::StudentError;
use std::io;
use std::path::{Path, PathBuf};

/// Where to write a fetched file.
#[derive(Debug, Clone, Copy)]
pub enum Destination<'a> {
    /// This path.
    File(&'a Path),
    /// The file's own name (as Blackboard recorded it) in this directory.
    NameIn(&'a Path),
}

impl Destination<'_> {
    /// The directory the file lands in (where its temporary file is made).
    pub(crate) fn dir(&self) -> &Path {
        match self {
            Destination::File(p) => p
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
            Destination::NameIn(d) => d,
        }
    }

    /// The path for a file Blackboard calls `name`: a name from the server is checked before
    /// it names anything here.
    pub(crate) fn path(&self, name: &str) -> Result<PathBuf, StudentError> {
        match self {
            Destination::File(p) => Ok(p.to_path_buf()),
            Destination::NameIn(d) => match handin_core::names::check_file_name(name) {
                Ok(()) => Ok(d.join(name)),
                Err(e) => Err(StudentError::other(format!(
                    "Blackboard sent a file name that cannot be used here ({}: {e}): pass --out FILE",
                    printable::text(name)
                ))),
            },
        }
    }
}

/// Refuses `path` if something is there already, unless `overwrite`.
pub(crate) fn check_free(path: &Path, overwrite: bool) -> Result<(), StudentError> {
    if !overwrite && path.symlink_metadata().is_ok() {
        return Err(exists(path));
    }
    Ok(())
}

fn exists(path: &Path) -> StudentError {
    StudentError::file(format!(
        "{} already exists: pass --force to replace it, or --out another file",
        path.display()
    ))
}

/// Moves the finished temporary file `tmp` to `path`: over what is there only if `overwrite`,
/// else only if nothing is there at that moment (a hard link, which never replaces).
pub(crate) fn place(tmp: &Path, path: &Path, overwrite: bool) -> Result<(), StudentError> {
    let cannot =
        |e: io::Error| StudentError::file(format!("cannot create {}: {e}", path.display()));
    if overwrite {
        return std::fs::rename(tmp, path).map_err(cannot);
    }
    match std::fs::hard_link(tmp, path) {
        Ok(()) => {
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(exists(path)),
        // A file system without hard links: check, then rename.
        Err(_) => {
            check_free(path, false)?;
            std::fs::rename(tmp, path).map_err(cannot)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_placed_only_where_nothing_is_unless_told_to_replace() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("t.part");
        let out = dir.path().join("out.txt");
        std::fs::write(&tmp, b"new").unwrap();
        std::fs::write(&out, b"old").unwrap();
        let e = place(&tmp, &out, false).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::File);
        assert!(
            e.to_string()
                .ends_with("already exists: pass --force to replace it, or --out another file"),
            "{e}"
        );
        assert_eq!(std::fs::read(&out).unwrap(), b"old");
        place(&tmp, &out, true).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        assert!(!tmp.exists());
        std::fs::write(&tmp, b"again").unwrap();
        let fresh = dir.path().join("fresh.txt");
        place(&tmp, &fresh, false).unwrap();
        assert_eq!(std::fs::read(&fresh).unwrap(), b"again");
        assert!(!tmp.exists());
    }

    #[test]
    fn a_name_from_the_server_is_checked_before_it_names_a_file() {
        let here = Destination::NameIn(Path::new("."));
        assert_eq!(here.path("hw1.zip").unwrap(), Path::new("./hw1.zip"));
        for bad in ["../x", "a/b", "", "..", "x\u{0}"] {
            assert!(here.path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Destination::File(Path::new("o/x")).path("../y").unwrap(),
            Path::new("o/x")
        );
    }
}
