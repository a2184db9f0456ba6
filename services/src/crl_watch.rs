//! Watches a CRL file and hands each new version to a callback: checked every few seconds (by
//! modification time and size) and at once when a reload is requested (SIGHUP).

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, SystemTime};

/// How often the file is checked without a reload request.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// Starts the watcher thread. `load` gets the file's bytes whenever they may have changed; it
/// decides whether they are good (a bad CRL must leave the old one in force).
pub fn spawn(
    path: PathBuf,
    reload: Receiver<()>,
    mut load: impl FnMut(&[u8]) + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("crl-watch".into())
        .spawn(move || {
            let mut seen: Option<(SystemTime, u64)> = stamp(&path);
            loop {
                let forced = match reload.recv_timeout(INTERVAL) {
                    Ok(()) => true,
                    Err(RecvTimeoutError::Timeout) => false,
                    Err(RecvTimeoutError::Disconnected) => {
                        std::thread::sleep(INTERVAL);
                        false
                    }
                };
                let now = stamp(&path);
                if forced || now != seen {
                    seen = now;
                    match std::fs::read(&path) {
                        Ok(bytes) => load(&bytes),
                        Err(e) => tracing::error!(path = %path.display(), error = %e, "cannot read the CRL: keeping the one in force"),
                    }
                }
            }
        })?;
    Ok(())
}

fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Builds the configuration that enforces the CRL in `bytes`, or logs why the CRL is refused
/// (wrong issuer, bad signature, unreadable) and returns `None`, leaving `base` in force.
pub fn apply(bytes: &[u8], base: &handin_core::ServerConfig) -> Option<handin_core::ServerConfig> {
    match handin_core::pki::Revocations::from_crl(bytes, base.ca()) {
        Ok(revs) => {
            let n = revs.len();
            match base.with_revocations(revs) {
                Ok(cfg) => {
                    tracing::info!(revoked = n, "CRL loaded");
                    Some(cfg)
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot apply the new CRL");
                    None
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "ignoring an invalid CRL: the previous one stays in force");
            None
        }
    }
}
