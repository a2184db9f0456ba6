//! The engine under every connection type: rustls fed through slices, frame decoding, deadlines,
//! sticky errors and the last gasp (an `Error` frame and close_notify) before closing.

use crate::config::{Clock, Timeouts};
use crate::error::{Error, Refusal, RefusalCode};
use crate::frame::FrameDecoder;
use crate::msg::Message;
use bytes::BytesMut;
use std::io::{BufRead, ErrorKind, Write};
use std::sync::Arc;
use std::time::SystemTime;

#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) tls: rustls::Connection,
    decoder: FrameDecoder,
    scratch: BytesMut,
    clock: Arc<Clock>,
    timeouts: Timeouts,
    handshake_deadline: Option<SystemTime>,
    idle_deadline: Option<SystemTime>,
    /// When the peer's certificate stops being valid: the connection ends then.
    expiry: Option<SystemTime>,
    idle_paused: bool,
    /// The application stopped reading from the peer (its own backpressure).
    input_held: bool,
    now: SystemTime,
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
        now: SystemTime,
    ) -> Self {
        // Backpressure is the caller's: everything queued here is handed out by the next
        // `poll_transmit`, so the queue is bounded by what the caller sends between two drains.
        tls.set_buffer_limit(None);
        clock.set(now);
        Self {
            tls,
            decoder: FrameDecoder::new(),
            scratch: BytesMut::new(),
            clock,
            timeouts,
            handshake_deadline: Some(now + timeouts.handshake),
            idle_deadline: None,
            expiry: None,
            idle_paused: false,
            input_held: false,
            now,
            error: None,
            peer_closed: false,
            we_closed: false,
            touch_on_send: false,
            sent_since_check: false,
        }
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    pub(crate) fn set_now(&mut self, now: SystemTime) {
        self.now = now;
        self.clock.set(now);
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.now
    }

    /// Feeds TLS bytes from the peer. Decoded plaintext lands in the frame decoder.
    pub(crate) fn receive(&mut self, now: SystemTime, mut data: &[u8]) -> Result<(), Error> {
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

    /// The transport saw the end of the byte stream.
    pub(crate) fn eof(&mut self, now: SystemTime) -> Result<(), Error> {
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

    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.tls.writer().write_all(bytes);
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
        if let Some(r) = gasp {
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
            self.idle_deadline = Some(self.now + self.timeouts.idle);
        }
    }

    /// Clients count their own sending as activity: an upload is not silence.
    pub(crate) fn set_touch_on_send(&mut self) {
        self.touch_on_send = true;
    }

    /// Allows a slow answer (the server storing a large upload): the idle deadline becomes
    /// `factor` times the idle timeout from now.
    pub(crate) fn expect_slow_answer(&mut self, factor: u32) {
        if self.handshake_deadline.is_none() && !self.we_closed {
            self.idle_deadline = Some(self.now + self.timeouts.idle * factor);
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
    pub(crate) fn hold_input(&mut self, now: SystemTime, held: bool) {
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

    /// Ends the connection when `at` passes (the peer certificate's notAfter): a certificate
    /// that expires while connected stops working then, not at the next handshake.
    pub(crate) fn set_expiry(&mut self, at: SystemTime) {
        self.expiry = Some(at);
    }

    pub(crate) fn poll_timeout(&self) -> Option<SystemTime> {
        if self.error.is_some() || self.we_closed {
            return None;
        }
        [self.handshake_deadline, self.idle_deadline, self.expiry]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn handle_timeout(&mut self, now: SystemTime) -> Result<(), Error> {
        self.check()?;
        self.set_now(now);
        if let Some(d) = self.handshake_deadline {
            if now >= d {
                return Err(self.fail(Error::Timeout("the handshake did not complete in time")));
            }
        }
        if self.expiry.is_some_and(|at| now > at) {
            return Err(self.fail(Error::Refused(expired())));
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

/// The checks a server makes once the TLS handshake is done, on every connection, resumed or
/// not: the ALPN protocol, the peer certificate as a student identity, the revoked set and the
/// validity period (a resumed session skips the TLS library's own checks).
pub(crate) fn authenticate_peer(
    engine: &mut Engine,
    config: &crate::config::ServerConfig,
) -> Result<Option<(crate::pki::StudentId, crate::pki::CertificateInfo)>, Error> {
    let role = config.role;
    if engine.tls.alpn_protocol() != Some(role.alpn()) {
        let want = String::from_utf8_lossy(role.alpn()).into_owned();
        return Err(engine.fail(Error::Refused(Refusal::new(
            RefusalCode::BadRequest,
            format!("negotiate the ALPN protocol {want} to talk to this server"),
        ))));
    }
    let cert = engine
        .tls
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec());
    let Some(cert) = cert else {
        if role == crate::config::Role::Submit {
            return Err(engine.fail(Error::Refused(Refusal::new(
                RefusalCode::NotAuthenticated,
                "no student certificate presented: enroll at CUHK first",
            ))));
        }
        return Ok(None);
    };
    let (id, info) = match crate::pki::student_id_of(&cert) {
        Ok(v) => v,
        Err(e) => {
            return Err(engine.fail(Error::Refused(Refusal::new(
                RefusalCode::BadCertificate,
                format!("not a student certificate: {e}"),
            ))))
        }
    };
    if let Err(r) = check_standing(&id, &info, config, engine.now()) {
        return Err(engine.fail(Error::Refused(r)));
    }
    Ok(Some((id, info)))
}

/// Whether an authenticated peer's certificate still stands at `now`: not in the configuration's
/// revoked set, and within its validity. Checked at the handshake, again before every request,
/// and whenever the revoked set changes, so that revocation and expiry reach open connections.
pub(crate) fn check_standing(
    id: &crate::pki::StudentId,
    info: &crate::pki::CertificateInfo,
    config: &crate::config::ServerConfig,
    now: SystemTime,
) -> Result<(), Refusal> {
    if config.revocations.is_revoked(&info.serial) {
        return Err(Refusal::new(
            RefusalCode::Revoked,
            format!("certificate of student {id} was revoked: ask CUHK to re-enroll"),
        ));
    }
    if now > info.not_after || now < info.not_before {
        return Err(Refusal::new(
            RefusalCode::Expired,
            format!("certificate of student {id} expired (or is not yet valid): renew it"),
        ));
    }
    Ok(())
}

fn expired() -> Refusal {
    Refusal::new(
        RefusalCode::Expired,
        "your certificate expired while connected: renew it",
    )
}

/// The input/output methods every connection type shares. The type provides `engine`,
/// `events`, `process()` (handle decoded messages) and `on_fatal()` (clean up after an error).
macro_rules! connection_io {
    ($event:ty) => {
        /// Feeds bytes read from the network (any split). Then drain `poll_event` and
        /// `poll_transmit`. An error is fatal and sticky; `poll_transmit` still yields the
        /// farewell (an `Error` frame or alert, and close_notify) to send before closing.
        pub fn receive(
            &mut self,
            now: std::time::SystemTime,
            data: &[u8],
        ) -> Result<(), $crate::error::Error> {
            let r = self.engine.receive(now, data).and_then(|()| self.process());
            if r.is_err() {
                self.on_fatal();
            }
            r
        }

        /// Tells the connection the byte stream ended (the socket read returned 0).
        pub fn handle_eof(
            &mut self,
            now: std::time::SystemTime,
        ) -> Result<(), $crate::error::Error> {
            let r = self.engine.eof(now).and_then(|()| self.process());
            if r.is_err() {
                self.on_fatal();
            }
            r
        }

        /// Fires any deadline that has passed by `now`. A passed deadline is fatal.
        pub fn handle_timeout(
            &mut self,
            now: std::time::SystemTime,
        ) -> Result<(), $crate::error::Error> {
            let r = self.engine.handle_timeout(now);
            if r.is_err() {
                self.on_fatal();
            }
            r
        }

        /// The next deadline, if any: call `handle_timeout` when it passes.
        pub fn poll_timeout(&self) -> Option<std::time::SystemTime> {
            self.engine.poll_timeout()
        }

        /// Appends the TLS bytes to send to `out`; returns how many were appended.
        pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
            self.engine.poll_transmit(out)
        }

        /// The next protocol event, if any.
        pub fn poll_event(&mut self) -> Option<$event> {
            self.events.pop_front()
        }

        /// Whether the connection is finished (closed or failed): flush `poll_transmit`, then
        /// close the socket.
        pub fn is_closed(&self) -> bool {
            self.engine.is_closed()
        }

        /// The fatal error, if one happened.
        pub fn error(&self) -> Option<&$crate::error::Error> {
            self.engine.error()
        }

        /// Closes gracefully (close_notify after anything queued).
        pub fn close(&mut self) {
            self.engine.close();
        }

        /// Tells the connection that the application has stopped reading from the peer
        /// (`held`: its own backpressure, say a disk that is behind) or reads again. While
        /// the input is held the idle deadline does not run: the silence is the
        /// application's, not the peer's. Releasing it restarts the idle deadline from `now`.
        pub fn hold_input(&mut self, now: std::time::SystemTime, held: bool) {
            self.engine.hold_input(now, held);
        }

        /// Whether the TLS handshake is still in progress.
        pub fn is_handshaking(&self) -> bool {
            self.engine.is_handshaking()
        }

        /// TLS facts for logs: version, cipher suite, key exchange, resumed or not.
        pub fn handshake_info(&self) -> $crate::conn::HandshakeInfo {
            self.engine.handshake_info()
        }

        /// Writes raw application bytes into the TLS stream, bypassing the protocol. For tests
        /// and fuzzing of the peer only: it can break the framing on purpose.
        #[doc(hidden)]
        pub fn danger_send_raw(&mut self, bytes: &[u8]) {
            self.engine.send_raw(bytes);
        }

        /// The peer's end-entity certificate (DER), once the handshake has produced one.
        pub fn peer_certificate(&self) -> Option<&[u8]> {
            self.engine
                .tls
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref())
        }

        /// Bytes received but not yet forming a whole frame.
        pub fn buffered_input(&self) -> usize {
            self.engine.buffered_input()
        }
    };
}
pub(crate) use connection_io;
