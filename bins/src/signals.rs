//! SIGINT/SIGTERM start a graceful shutdown; SIGHUP asks for a CRL reload.

use handin_core::driver::Shutdown;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::mpsc::Sender;
use std::sync::Arc;

/// Starts a thread turning signals into a shutdown request and (optionally) reload requests.
pub fn install(shutdown: Arc<Shutdown>, reload: Option<Sender<()>>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match signal {
                    SIGHUP => {
                        tracing::info!("SIGHUP: reloading the CRL");
                        if let Some(tx) = &reload {
                            let _ = tx.send(());
                        }
                    }
                    _ => {
                        tracing::info!("shutting down: finishing requests in flight");
                        shutdown.request();
                    }
                }
            }
        })?;
    Ok(())
}
