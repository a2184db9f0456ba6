//! A secret kept in a file that several servers may share (a form key, a log key): read it if
//! it is there, or make it, write it whole to a file of this process's own and link that into
//! place. A link never replaces a file, so when nodes start at once the first one's secret
//! stays and every node reads that one.

use std::io::Write;
use std::path::Path;

/// The bytes kept at `path`; if there is no file, `make()`'s bytes are written there first
/// (mode 0600, fsync'd before they appear). `what` names the secret in errors.
pub fn shared_secret(
    path: &Path,
    what: &str,
    make: impl FnOnce() -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, String> {
    let read = |path: &Path| match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading the {what} {}: {e}", path.display())),
    };
    if let Some(b) = read(path)? {
        return Ok(b);
    }
    let secret = make()?;
    let io = |e: std::io::Error| format!("making the {what} {}: {e}", path.display());
    let mut tag = [0u8; 8];
    aws_lc_rs::rand::fill(&mut tag).map_err(|_| format!("no randomness for the {what}"))?;
    let tmp = path.with_extension(format!(
        "tmp-{}",
        tag.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io)?;
    let written = file.write_all(&secret).and_then(|()| file.sync_all());
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    read(path)?.ok_or_else(|| format!("the {what} {} vanished", path.display()))
}
