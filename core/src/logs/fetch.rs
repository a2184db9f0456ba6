//! What a client may ask of a log served over the handin protocols: the same paths as C2SP
//! tlog-tiles over HTTPS (`checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`),
//! and `vkey` (the log's verifier key, as text: what a client pins on first use), checked here
//! once for every server and client.

use crate::tlog::TilePath;

/// The largest object (checkpoint, tile, entry bundle) a client accepts: 256 entries of at
/// most 16 KiB each.
pub const MAX_LOG_OBJECT: u64 = 4 * 1024 * 1024;

/// A path of a served log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogPath {
    /// `checkpoint`: the latest signed checkpoint.
    Checkpoint,
    /// `vkey`: the log's verifier key.
    Vkey,
    /// A hash tile or an entry bundle.
    Tile(TilePath),
}

/// Checks a requested path.
pub fn check_log_path(path: &str) -> Result<LogPath, String> {
    match path {
        "checkpoint" => return Ok(LogPath::Checkpoint),
        "vkey" => return Ok(LogPath::Vkey),
        _ => {}
    }
    TilePath::parse(path).map(LogPath::Tile).map_err(|e| {
        format!(
            "{:?} is not a log path: {e}",
            path.chars().take(80).collect::<String>()
        )
    })
}

/// Sends a log object as `Log { size }`, `Data`*, `DataEnd` (the server side of every
/// protocol that serves a log).
pub(crate) fn send_object(engine: &mut crate::engine::Engine, bytes: &[u8]) {
    use crate::msg::Message;
    engine.send_fixed(&Message::Log {
        size: bytes.len() as u64,
    });
    engine.send_data(bytes);
    engine.send_fixed(&Message::DataEnd);
}

/// A log object being received (the client side): announced by `Log { size }`, then `Data`
/// frames up to `size` bytes, then `DataEnd`.
#[derive(Debug)]
pub(crate) struct Incoming {
    size: u64,
    buf: Vec<u8>,
}

impl Incoming {
    /// After `Log { size }`: refuses objects over [`MAX_LOG_OBJECT`].
    pub(crate) fn start(size: u64) -> Result<Self, String> {
        if size > MAX_LOG_OBJECT {
            return Err(format!(
                "a log object of {size} bytes is larger than {MAX_LOG_OBJECT}"
            ));
        }
        Ok(Self {
            size,
            buf: Vec::with_capacity(size.min(1 << 16) as usize),
        })
    }

    /// One `Data` frame.
    pub(crate) fn data(&mut self, d: &[u8]) -> Result<(), String> {
        if self.buf.len() as u64 + d.len() as u64 > self.size {
            return Err("a log object longer than announced".into());
        }
        self.buf.extend_from_slice(d);
        Ok(())
    }

    /// `DataEnd`: the object, if it is as long as announced.
    pub(crate) fn finish(self) -> Result<Vec<u8>, String> {
        if self.buf.len() as u64 != self.size {
            return Err("a log object shorter than announced".into());
        }
        Ok(self.buf)
    }
}
