//! Several CUHK nodes follow the CRL kept in their shared records: `cuhk revoke` on any
//! machine signs a new CRL and stores it with its number ([`PkiDir::publish_crl`]); every
//! node reads the latest every [`INTERVAL`] and, when its number is newer than the one in
//! force, checks it as a CRL file is checked ([`crl_watch::apply`]), serves it, and writes it
//! to its `PKI/crl.pem`, where the Blackboard servers of that machine (or of the storage it is
//! on) pick it up within their own interval.
//!
//! [`PkiDir::publish_crl`]: super::PkiDir::publish_crl

use super::Cuhk;
use crate::crl_watch;
use crate::store::RegistrarRecords;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often the records are read.
pub(crate) const INTERVAL: Duration = Duration::from_secs(2);

/// Starts the thread that follows the CRL in `records` for `cuhk`, writing each new one to
/// `publish`. A failure to read the records is logged once until it reads again; the CRL in
/// force stays.
pub fn follow_crl(
    cuhk: Arc<Cuhk>,
    records: Box<dyn RegistrarRecords>,
    publish: PathBuf,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("crl-follow".into())
        .spawn(move || {
            let mut seen = 0u64;
            let mut failing = false;
            loop {
                match records.latest_crl() {
                    Ok(Some((number, pem))) if number > seen => {
                        // A CRL that does not check is refused once (and logged), not again.
                        (failing, seen) = (false, number);
                        if let Some(cfg) = crl_watch::apply(&pem, &cuhk.config()) {
                            cuhk.set_config(cfg);
                            cuhk.shared().crl.store(Arc::new(pem.clone()));
                            tracing::info!(number, "following the CRL in the records");
                            if let Err(e) =
                                handin_files::write_atomic(&publish, &pem, handin_files::PUBLIC)
                            {
                                tracing::error!(path = %publish.display(), error = %e,
                                    "cannot write the CRL");
                            }
                        }
                    }
                    Ok(_) => failing = false,
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %e, "cannot read the CRL in the records: \
                                the one in force stays");
                        }
                        failing = true;
                    }
                }
                std::thread::sleep(INTERVAL);
            }
        })?;
    Ok(())
}
