//! Files written the careful way: temporary file, fsync, rename, fsync the directory, so a
//! crash leaves the old content or the new, never half of either; private keys created 0600;
//! and the lock that lets one server at a time use a directory ([`dirlock`]).

pub mod dirlock;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Mode for private keys.
pub const PRIVATE: u32 = 0o600;
/// Mode for certificates, CRLs and other public files.
pub const PUBLIC: u32 = 0o644;

/// Replaces `path` with `bytes` atomically, the file ending with `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes a new file that must not exist yet (for keys: never overwrite one by accident).
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(dir)?;
    }
    Ok(())
}

/// fsyncs a directory, making renames and creations in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a directory (and parents) with the given mode for the last component.
pub fn create_dir(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
}

/// Creates a directory (and parents) that only its owner may enter: the last component ends
/// with mode 0700 whether it is new or already existed with a wider mode. Returns the mode an
/// existing directory had before.
pub fn create_private_dir(path: &Path) -> io::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt;
    let before = fs::metadata(path)
        .ok()
        .filter(fs::Metadata::is_dir)
        .map(|m| m.permissions().mode() & 0o7777);
    create_dir(path, 0o700)?;
    if before != Some(0o700) {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    }
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_writes_replace_content_and_set_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.pem");
        write_atomic(&p, b"one", PRIVATE).unwrap();
        write_atomic(&p, b"two", PRIVATE).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn write_new_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.key");
        write_new(&p, b"secret", PRIVATE).unwrap();
        assert!(write_new(&p, b"other", PRIVATE).is_err());
        assert_eq!(fs::read(&p).unwrap(), b"secret");
    }

    #[test]
    fn a_private_dir_is_0700_whether_new_or_already_there() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let new = dir.path().join("a").join("pki");
        assert_eq!(create_private_dir(&new).unwrap(), None);
        assert_eq!(mode(&new), 0o700);
        let old = dir.path().join("old");
        fs::create_dir(&old).unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(create_private_dir(&old).unwrap(), Some(0o755));
        assert_eq!(mode(&old), 0o700);
        assert_eq!(create_private_dir(&old).unwrap(), Some(0o700));
    }
}
