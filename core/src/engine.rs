//! The engine under every connection: rustls fed through slices, frame decoding (or, for
//! HTTP, the plain byte stream), deadlines, sticky errors and the last gasp (an `Error` frame
//! and close_notify) before closing.

use crate::config::{Clock, Timeouts};
use crate::error::{Error, Refusal, RefusalCode};
use crate::frame::FrameDecoder;
use crate::msg::Message;
use crate::time::Now;
use bytes::BytesMut;
use std::io::{BufRead, ErrorKind, Write};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) tls: rustls::Connection,
    decoder: FrameDecoder,
    /// Whether the plaintext is handin frames (the default) or a plain byte stream (HTTP),
    /// which the protocol takes from [`Engine::stream`].
    stream: bool,
    scratch: BytesMut,
    clock: Arc<Clock>,
    timeouts: Timeouts,
    handshake_deadline: Option<Instant>,
    idle_deadline: Option<Instant>,
    /// When the peer's certificate stops being valid, on the monotonic clock: the connection
    /// ends then.
    expiry: Option<Instant>,
    idle_paused: bool,
    /// A whole request (an HTTP head) must have arrived by then, however it trickles in.
    request_deadline: Option<Instant>,
    /// The application stopped reading from the peer (its own backpressure).
    input_held: bool,
    now: Now,
    error: Option<Error>,
    peer_closed: bool,
    we_closed: bool,
    touch_on_send: bool,
    sent_since_check: bool,
}

impl Engine {
    pub(crate) fn new(
        mut tls: rustls::Connection,
        clock: Arc<Clock>,
        timeouts: Timeouts,
        now: Now,
    ) -> Self {
        // Backpressure is the caller's: everything queued here is handed out by the next
        // `poll_transmit`, so the queue is bounded by what the caller sends between two drains.
        tls.set_buffer_limit(None);
        clock.set(now.wall);
        Self {
            tls,
            decoder: FrameDecoder::new(),
            stream: false,
            scratch: BytesMut::new(),
            clock,
            timeouts,
            handshake_deadline: Some(now.mono + timeouts.handshake),
            idle_deadline: None,
            expiry: None,
            idle_paused: false,
            request_deadline: None,
            input_held: false,
            now,
            error: None,
            peer_closed: false,
            we_closed: false,
            touch_on_send: false,
            sent_since_check: false,
        }
    }

    /// Makes the plaintext a plain byte stream (HTTP) instead of handin frames: the protocol
    /// reads it from [`stream`](Self::stream), and a fatal error sends no `Error` frame (the
    /// protocol answers in its own terms before failing).
    pub(crate) fn use_stream(&mut self) {
        self.stream = true;
    }

    /// The plaintext received and not yet consumed, in stream mode.
    pub(crate) fn stream(&mut self) -> &mut BytesMut {
        self.decoder.buffer_mut()
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Takes the caller's time: the monotonic instant for deadlines, the wall time for what
    /// rustls checks (certificate validity) and what the protocols stamp.
    pub(crate) fn set_now(&mut self, now: Now) {
        self.now = now;
        self.clock.set(now.wall);
    }

    /// The wall time of the latest input.
    pub(crate) fn wall(&self) -> SystemTime {
        self.now.wall
    }

    /// Feeds TLS bytes from the peer. Decoded plaintext lands in the frame decoder.
    pub(crate) fn receive(&mut self, now: Now, mut data: &[u8]) -> Result<(), Error> {
        self.check()?;
        self.set_now(now);
        if data.is_empty() {
            return Ok(());
        }
        self.touch();
        while !data.is_empty() {
            match self.tls.read_tls(&mut data) {
                // rustls takes nothing more once the peer's close_notify (or the end of the
                // stream) was seen: whatever follows is ignored, not retried forever.
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(self.fail(Error::Protocol(format!("tls input: {e}")))),
            }
            if let Err(e) = self.tls.process_new_packets() {
                return Err(self.fail(Error::Tls(e)));
            }
            self.drain_plaintext();
        }
        Ok(())
    }

    /// Processes TLS records already buffered inside rustls (read with the ClientHello by an
    /// acceptor, before this engine existed).
    pub(crate) fn process_buffered(&mut self) -> Result<(), Error> {
        self.check()?;
        if let Err(e) = self.tls.process_new_packets() {
            return Err(self.fail(Error::Tls(e)));
        }
        self.drain_plaintext();
        Ok(())
    }

    /// Moves the handshake deadline earlier, to `deadline`: a connection continued from an
    /// accepted ClientHello keeps the deadline that started when the socket was accepted.
    pub(crate) fn cap_handshake_deadline(&mut self, deadline: Instant) {
        if let Some(d) = &mut self.handshake_deadline {
            *d = (*d).min(deadline);
        }
    }

    /// The transport saw the end of the byte stream.
    pub(crate) fn eof(&mut self, now: Now) -> Result<(), Error> {
        self.check()?;
        self.set_now(now);
        // An empty read is how rustls learns of the end of the stream.
        let _ = self.tls.read_tls(&mut &[][..]);
        if let Err(e) = self.tls.process_new_packets() {
            return Err(self.fail(Error::Tls(e)));
        }
        self.drain_plaintext();
        self.peer_closed = true;
        Ok(())
    }

    fn drain_plaintext(&mut self) {
        loop {
            let mut reader = self.tls.reader();
            match reader.fill_buf() {
                Ok([]) => {
                    self.peer_closed = true;
                    return;
                }
                Ok(buf) => {
                    let n = buf.len();
                    self.decoder.push(buf);
                    reader.consume(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    // Unexpected EOF: the stream ended without close_notify.
                    self.peer_closed = true;
                    return;
                }
            }
        }
    }

    /// Takes the next whole message, if any. A frame or decode error is fatal.
    pub(crate) fn next_message(&mut self) -> Result<Option<Message>, Error> {
        self.check()?;
        let frame = match self.decoder.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => {
                if self.peer_closed {
                    if let Err(e) = self.decoder.finish() {
                        return Err(self.fail(Error::Protocol(e.to_string())));
                    }
                }
                return Ok(None);
            }
            Err(e) => return Err(self.fail(Error::Protocol(e.to_string()))),
        };
        match Message::decode(&frame) {
            Ok(m) => Ok(Some(m)),
            Err(e) => Err(self.fail(Error::Protocol(e.0))),
        }
    }

    /// Queues a message for the peer; a message too large to encode is refused, sending nothing.
    pub(crate) fn send(&mut self, msg: &Message) -> Result<(), crate::error::UsageError> {
        self.scratch.clear();
        if msg.encode(&mut self.scratch).is_err() {
            return Err(crate::error::UsageError(
                "a field of this message is too long to send",
            ));
        }
        // With no buffer limit, rustls takes every byte.
        let _ = self.tls.writer().write_all(&self.scratch);
        if self.touch_on_send {
            // Sends carry no time; the idle check below re-arms from the time it runs.
            self.sent_since_check = true;
        }
        Ok(())
    }

    /// Queues a message whose size is bounded by construction (fixed fields, a refusal, a
    /// data chunk of at most [`crate::frame::CHUNK`] bytes), so encoding cannot fail.
    pub(crate) fn send_fixed(&mut self, msg: &Message) {
        let sent = self.send(msg);
        debug_assert!(sent.is_ok(), "{} failed to encode", msg.name());
    }

    /// Queues `data` as `Data` frames of at most [`crate::frame::CHUNK`] bytes: each frame's
    /// header and payload go to rustls together (a vectored write), which encrypts them
    /// straight from `data` into whole records, with no frame built in between.
    pub(crate) fn send_data(&mut self, data: &[u8]) {
        use std::io::IoSlice;
        for chunk in data.chunks(crate::frame::CHUNK) {
            let mut header = [0u8; crate::frame::HEADER_LEN];
            header[0] = crate::msg::tag::DATA;
            // At most CHUNK (< 64 KiB): the length always fits.
            header[1..].copy_from_slice(&(chunk.len() as u32).to_be_bytes());
            // With no buffer limit, rustls takes every byte of a vectored write at once.
            let taken = self
                .tls
                .writer()
                .write_vectored(&[IoSlice::new(&header), IoSlice::new(chunk)])
                .unwrap_or(0);
            if taken < header.len() + chunk.len() {
                // Not expected; the frame is completed byte-exactly all the same.
                let rest: Vec<u8> = header.iter().chain(chunk).skip(taken).copied().collect();
                let _ = self.tls.writer().write_all(&rest);
            }
        }
        if self.touch_on_send {
            self.sent_since_check = true;
        }
    }

    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.tls.writer().write_all(bytes);
        if self.touch_on_send {
            self.sent_since_check = true;
        }
    }

    /// Records a fatal error, sends the last gasp, and returns the error for the caller to
    /// propagate. The first error wins.
    pub(crate) fn fail(&mut self, e: Error) -> Error {
        if let Some(first) = &self.error {
            return first.clone();
        }
        let gasp = match &e {
            Error::Protocol(m) => Some(Refusal::new(RefusalCode::BadRequest, m.clone())),
            Error::Refused(r) => Some(r.clone()),
            Error::Timeout(what) => Some(Refusal::new(
                RefusalCode::Timeout,
                format!("timed out: {what}"),
            )),
            Error::Tls(_) | Error::Remote(_) | Error::Closed => None,
        };
        if let Some(r) = gasp.filter(|_| !self.stream) {
            if !self.tls.is_handshaking() && !self.we_closed {
                self.send_fixed(&Message::Error(r));
            }
        }
        if !self.we_closed {
            self.tls.send_close_notify();
            self.we_closed = true;
        }
        self.error = Some(e.clone());
        e
    }

    /// Graceful close: close_notify after everything queued.
    pub(crate) fn close(&mut self) {
        if !self.we_closed {
            self.tls.send_close_notify();
            self.we_closed = true;
        }
        self.handshake_deadline = None;
        self.idle_deadline = None;
    }

    pub(crate) fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        while self.tls.wants_write() {
            match self.tls.write_tls(out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        out.len() - start
    }

    pub(crate) fn handshake_done(&mut self) {
        self.handshake_deadline = None;
        self.touch();
    }

    fn touch(&mut self) {
        if !self.idle_paused
            && !self.input_held
            && self.handshake_deadline.is_none()
            && !self.we_closed
        {
            self.idle_deadline = Some(self.now.mono + self.timeouts.idle);
        }
    }

    /// Sets (or clears) the instant by which the request being received must be complete:
    /// input does not move it, so a request sent a byte at a time cannot hold the connection
    /// for longer.
    pub(crate) fn set_request_deadline(&mut self, at: Option<Instant>) {
        self.request_deadline = at;
    }

    /// The latest input's time.
    pub(crate) fn now(&self) -> Now {
        self.now
    }

    /// Clients count their own sending as activity: an upload is not silence.
    pub(crate) fn set_touch_on_send(&mut self) {
        self.touch_on_send = true;
    }

    /// Allows a slow answer (the server storing a large upload): the idle deadline becomes
    /// `factor` times the idle timeout from now.
    pub(crate) fn expect_slow_answer(&mut self, factor: u32) {
        if self.handshake_deadline.is_none() && !self.we_closed {
            self.idle_deadline = Some(self.now.mono + self.timeouts.idle * factor);
        }
    }

    /// While the application decides (storage, signing), the peer is legitimately silent.
    pub(crate) fn pause_idle(&mut self, paused: bool) {
        self.idle_paused = paused;
        if paused {
            self.idle_deadline = None;
        } else {
            self.touch();
        }
    }

    /// The application stopped (or resumed) reading from the peer: while it holds the input,
    /// the peer's silence is not the peer's doing, so the idle deadline does not run.
    pub(crate) fn hold_input(&mut self, now: Now, held: bool) {
        if held == self.input_held {
            return;
        }
        self.set_now(now);
        self.input_held = held;
        if held {
            self.idle_deadline = None;
        } else {
            self.touch();
        }
    }

    /// Ends the connection when the wall clock reaches `not_after` (the peer certificate's end),
    /// as seen now: a certificate that expires while connected stops working then, not at the
    /// next handshake. The wall time is converted to a monotonic instant once, here, so a later
    /// step of the wall clock neither ends the connection early nor keeps it open past its
    /// time; the standing checks before each request still follow the wall clock.
    pub(crate) fn set_expiry(&mut self, not_after: SystemTime) {
        let left = not_after.duration_since(self.now.wall).unwrap_or_default();
        self.expiry = Some(self.now.mono + left);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.error.is_some() || self.we_closed {
            return None;
        }
        [
            self.handshake_deadline,
            self.idle_deadline,
            self.expiry,
            self.request_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn handle_timeout(&mut self, now: Now) -> Result<(), Error> {
        self.check()?;
        self.set_now(now);
        let now = now.mono;
        if let Some(d) = self.handshake_deadline {
            if now >= d {
                return Err(self.fail(Error::Timeout("the handshake did not complete in time")));
            }
        }
        if self.expiry.is_some_and(|at| now >= at) {
            return Err(self.fail(Error::Refused(expired())));
        }
        if self.request_deadline.is_some_and(|at| now >= at) {
            return Err(self.fail(Error::Timeout("the request did not arrive in time")));
        }
        if let Some(d) = self.idle_deadline {
            if now >= d {
                if std::mem::take(&mut self.sent_since_check) {
                    // We were sending (an upload): that is not idleness.
                    self.idle_deadline = Some(now + self.timeouts.idle);
                    return Ok(());
                }
                return Err(self.fail(Error::Timeout("the peer went quiet")));
            }
        }
        Ok(())
    }

    pub(crate) fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    pub(crate) fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.error.is_some() || self.we_closed
    }

    pub(crate) fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    pub(crate) fn buffered_input(&self) -> usize {
        self.decoder.buffered()
    }
}

/// TLS facts for logs (`-v`): version, suite, group, resumed or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeInfo {
    /// e.g. `TLSv1_3`.
    pub version: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// e.g. `X25519MLKEM768`.
    pub key_exchange: String,
    /// Whether the session was resumed from a ticket.
    pub resumed: bool,
}

impl Engine {
    pub(crate) fn handshake_info(&self) -> HandshakeInfo {
        let name = |o: Option<String>| o.unwrap_or_else(|| "-".into());
        HandshakeInfo {
            version: name(self.tls.protocol_version().map(|v| format!("{v:?}"))),
            cipher_suite: name(
                self.tls
                    .negotiated_cipher_suite()
                    .map(|s| format!("{:?}", s.suite())),
            ),
            key_exchange: name(
                self.tls
                    .negotiated_key_exchange_group()
                    .map(|g| format!("{:?}", g.name())),
            ),
            resumed: matches!(
                self.tls.handshake_kind(),
                Some(rustls::HandshakeKind::Resumed)
            ),
        }
    }
}

fn expired() -> Refusal {
    Refusal::new(
        RefusalCode::Expired,
        "your certificate expired while connected: renew it",
    )
}
