//! The server side of HTTP/1.1 over TLS (`http/1.1` by ALPN), sans-IO, as Blackboard serves its
//! pages: one request at a time on a connection, the head parsed within
//! [`HttpLimits::head`], the body handed out as it arrives (never held whole), the answer sent
//! with a length or chunked, and the connection kept open for the next request unless either
//! side says otherwise.
//!
//! The client certificate is optional at the handshake ([`Role::Web`]): the application sees
//! who (if anyone) is connected in [`HttpServerEvent::Connected`] and decides per page. A
//! person's certificate is checked against the revoked set and its validity again before every
//! request, as on the other protocols.
//!
//! The application's part, after each input:
//!
//! - [`HttpServerEvent::Request`]: answer with [`respond`](HttpServer::respond), or
//!   [`start_response`](HttpServer::start_response) then [`send_body`](HttpServer::send_body)
//!   and [`end_response`](HttpServer::end_response); to take the request's body first, call
//!   [`read_body`](HttpServer::read_body) and answer after [`HttpServerEvent::BodyEnd`]. An
//!   answer started before the body was read closes the connection after it (the unread body is
//!   never parsed as a request).
//! - A malformed or oversized head is answered by the connection itself (400, 411, 413, 417,
//!   431, with `Connection: close`) and reported as [`HttpServerEvent::Refused`].

use super::request::{parse_head, Request};
use super::response::Response;
use crate::config::{ConfigError, Role, ServerConfig};
use crate::connection::{sealed, Connection, Protocol};
use crate::engine::{Engine, HandshakeInfo};
use crate::error::{Error, UsageError};
use crate::peer::{authenticate_person, check_standing};
use crate::pki::{CertificateInfo, PersonId};
use crate::time::Now;
use bytes::{Buf, Bytes};
use std::sync::Arc;

/// The HTTP server connection.
pub type HttpServer = Connection<HttpServerProtocol>;

/// What a request may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Most bytes of a request head (request line and headers): 431 above.
    pub head: usize,
    /// Most bytes of a request body: 413 above (the application may set a lower limit per
    /// request by answering 413 itself).
    pub body: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            head: 16 * 1024,
            body: 4 << 30,
        }
    }
}

/// What the connection tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpServerEvent {
    /// The handshake is done: the person whose certificate the browser presented (`None`
    /// without one).
    Connected {
        /// Who, if a certificate was presented.
        person: Option<PersonId>,
        /// Their certificate.
        certificate: Option<CertificateInfo>,
        /// TLS facts for the log.
        handshake: HandshakeInfo,
    },
    /// A request head; answer it (after reading its body, if wanted).
    Request(Request),
    /// Body bytes of the current request, after [`HttpServer::read_body`].
    Body(Bytes),
    /// The current request's body is complete.
    BodyEnd,
    /// The body stopped before its announced length (the connection ended).
    BodyAborted,
    /// The connection answered a bad request itself with `status`, and closes.
    Refused {
        /// The status sent.
        status: u16,
        /// Why.
        reason: String,
    },
}

/// The HTTP side of a server connection: the parameter of [`Connection`].
#[derive(Debug)]
pub struct HttpServerProtocol {
    config: Arc<ServerConfig>,
    limits: HttpLimits,
    state: State,
    person: Option<PersonId>,
    certificate: Option<CertificateInfo>,
    /// The current request lets the connection stay open after its answer.
    keep_alive: bool,
    /// The current request is `HEAD`: its answer has a head only.
    head_only: bool,
    /// The current request is HTTP/1.0: an answer of unknown length is not chunked.
    http10: bool,
    /// The first bytes of a request head arrived (its deadline is set).
    head_started: bool,
}

/// Most bytes of an unread request body read and dropped after its early answer, so that the
/// client sees the answer rather than a reset; a larger body is cut off.
const DRAIN_MAX: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshaking,
    /// Waiting for a request head.
    Head,
    /// A head was handed out; its body (`remaining` bytes) is not being read.
    Unread {
        remaining: u64,
        continue_wanted: bool,
    },
    /// The body is being handed out.
    Body {
        remaining: u64,
    },
    /// The request is complete; the answer is owed.
    Complete,
    /// The answer's head was sent; its body is streaming.
    Answering {
        /// Bytes of the body still to send, for a body of known length.
        left: Option<u64>,
        /// Bytes of the request's body not read (the connection closes after the answer).
        unread: u64,
    },
    /// The answer was sent before the request's body was read: the rest of the body is read
    /// and dropped, then the connection closes.
    Draining {
        remaining: u64,
    },
    Closing,
}

impl Protocol for HttpServerProtocol {
    type Event = HttpServerEvent;
}

impl sealed::Machine for HttpServerProtocol {
    fn process(conn: &mut HttpServer) -> Result<(), Error> {
        conn.on_input()
    }

    fn on_fatal(conn: &mut HttpServer) {
        if matches!(conn.proto.state, State::Body { .. }) {
            conn.events.push_back(HttpServerEvent::BodyAborted);
        }
        conn.proto.state = State::Closing;
    }
}

impl Connection<HttpServerProtocol> {
    /// A connection accepted at `now` on a port that serves only HTTP (on a port shared with
    /// the other protocols, see [`crate::accept`]). `config` must be for [`Role::Web`].
    pub fn new(
        config: Arc<ServerConfig>,
        limits: HttpLimits,
        now: Now,
    ) -> Result<Self, ConfigError> {
        if config.role != Role::Web {
            return Err(ConfigError(
                "an HTTP server needs a configuration for Role::Web".into(),
            ));
        }
        let tls = rustls::ServerConnection::new(config.tls.clone())
            .map_err(|e| ConfigError(format!("TLS server: {e}")))?;
        Ok(Self::from_tls(config, tls, limits, now))
    }

    pub(crate) fn from_tls(
        config: Arc<ServerConfig>,
        tls: rustls::ServerConnection,
        limits: HttpLimits,
        now: Now,
    ) -> Self {
        let mut engine = Engine::new(tls.into(), config.clock.clone(), config.timeouts, now);
        engine.use_stream();
        // A long download is not silence while its bytes go out.
        engine.set_touch_on_send();
        Self::from_parts(
            engine,
            HttpServerProtocol {
                config,
                limits,
                state: State::Handshaking,
                person: None,
                certificate: None,
                keep_alive: true,
                head_only: false,
                http10: false,
                head_started: false,
            },
        )
    }

    /// The person connected (after `Connected`), if their browser presented a certificate.
    pub fn person(&self) -> Option<&PersonId> {
        self.proto.person.as_ref()
    }

    /// Their certificate.
    pub fn certificate(&self) -> Option<&CertificateInfo> {
        self.proto.certificate.as_ref()
    }

    /// Replaces the configuration whose revoked set this connection enforces, and checks the
    /// person's certificate against it at `now`: a revoked one ends the connection.
    pub fn set_config(&mut self, now: Now, config: Arc<ServerConfig>) -> Result<(), Error> {
        self.engine.check()?;
        self.engine.set_now(now);
        self.proto.config = config;
        let r = self.recheck();
        self.settle(r)
    }

    /// Takes the current request's body: it arrives as [`HttpServerEvent::Body`] events, then
    /// [`HttpServerEvent::BodyEnd`]. A client waiting for `100 Continue` is told to go on.
    pub fn read_body(&mut self) -> Result<(), UsageError> {
        self.live()?;
        let State::Unread {
            remaining,
            continue_wanted,
        } = self.proto.state
        else {
            return Err(UsageError("no request body is waiting to be read"));
        };
        if continue_wanted {
            self.engine.send_raw(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        self.proto.state = State::Body { remaining };
        // The body is the client's to send now: its silence counts again.
        self.engine.pause_idle(false);
        let r = self.on_input();
        let _ = self.settle(r);
        Ok(())
    }

    /// Answers the current request with `response` and the whole `body`.
    pub fn respond(&mut self, response: &Response, body: &[u8]) -> Result<(), UsageError> {
        self.start_response(response, Some(body.len() as u64))?;
        self.send_body(body)?;
        self.end_response()
    }

    /// Starts the answer: its head, announcing `length` body bytes (`None`: not known, the
    /// body is sent chunked). Then [`send_body`](Self::send_body) and
    /// [`end_response`](Self::end_response).
    pub fn start_response(
        &mut self,
        response: &Response,
        length: Option<u64>,
    ) -> Result<(), UsageError> {
        self.live()?;
        let unread = match self.proto.state {
            State::Complete => 0,
            State::Unread { remaining, .. } | State::Body { remaining } => remaining,
            _ => return Err(UsageError("no request is waiting for an answer")),
        };
        let until_close = length.is_none() && self.proto.http10;
        let close = unread > 0 || !self.proto.keep_alive || until_close;
        self.engine
            .send_raw(&response.encode_framed(length, close, !self.proto.http10));
        self.proto.keep_alive = !close;
        self.proto.state = State::Answering {
            left: length,
            unread,
        };
        // The idle deadline runs again, moved on by every byte sent: a reader that stops
        // reading is let go at the idle timeout.
        self.engine.pause_idle(false);
        Ok(())
    }

    /// Sends the next bytes of the answer's body (nothing goes out for a `HEAD` request).
    pub fn send_body(&mut self, data: &[u8]) -> Result<(), UsageError> {
        self.live()?;
        let State::Answering { left, unread } = self.proto.state else {
            return Err(UsageError("no answer is being sent"));
        };
        if data.is_empty() {
            return Ok(());
        }
        if let Some(n) = left {
            if data.len() as u64 > n {
                return Err(UsageError("more body bytes than the answer announced"));
            }
            self.proto.state = State::Answering {
                left: Some(n - data.len() as u64),
                unread,
            };
        }
        if self.proto.head_only {
            return Ok(());
        }
        if left.is_none() && !self.proto.http10 {
            self.engine
                .send_raw(format!("{:x}\r\n", data.len()).as_bytes());
            self.engine.send_raw(data);
            self.engine.send_raw(b"\r\n");
        } else {
            self.engine.send_raw(data);
        }
        Ok(())
    }

    /// Ends the answer; the connection then reads the next request, or closes if the client
    /// asked to, or the request's body was not read (after reading and dropping what is left
    /// of it, up to 1 MiB, so that the client sees the answer).
    pub fn end_response(&mut self) -> Result<(), UsageError> {
        self.live()?;
        let State::Answering { left, unread } = self.proto.state else {
            return Err(UsageError("no answer is being sent"));
        };
        match left {
            Some(0) => {}
            Some(_) => return Err(UsageError("fewer body bytes than the answer announced")),
            None if !self.proto.http10 && !self.proto.head_only => {
                self.engine.send_raw(b"0\r\n\r\n")
            }
            None => {}
        }
        if unread > 0 && unread <= DRAIN_MAX {
            self.proto.state = State::Draining { remaining: unread };
            let r = self.on_input();
            let _ = self.settle(r);
            return Ok(());
        }
        if !self.proto.keep_alive {
            self.proto.state = State::Closing;
            self.engine.close();
            return Ok(());
        }
        self.proto.state = State::Head;
        // A request sent behind this one (pipelined) is taken now.
        let r = self.on_input();
        let _ = self.settle(r);
        Ok(())
    }

    /// Whether an answer is owed or being sent.
    pub fn is_answering(&self) -> bool {
        matches!(
            self.proto.state,
            State::Unread { .. } | State::Body { .. } | State::Complete | State::Answering { .. }
        )
    }

    fn live(&self) -> Result<(), UsageError> {
        if self.engine.is_closed() {
            return Err(UsageError("the connection is closed"));
        }
        Ok(())
    }

    fn recheck(&mut self) -> Result<(), Error> {
        let (Some(id), Some(info)) = (&self.proto.person, &self.proto.certificate) else {
            return Ok(());
        };
        match check_standing(id, info, &self.proto.config, self.engine.wall()) {
            Ok(()) => Ok(()),
            Err(r) => Err(self.engine.fail(Error::Refused(r))),
        }
    }

    /// Answers a bad request itself and closes.
    fn refuse_head(&mut self, status: u16, reason: String) {
        let page = format!(
            "<!doctype html><title>{status}</title><p>{}</p>\n",
            super::escape(&reason)
        );
        self.engine
            .send_raw(&Response::html(status).encode(Some(page.len() as u64), true));
        self.engine.send_raw(page.as_bytes());
        self.engine.close();
        self.proto.state = State::Closing;
        self.events
            .push_back(HttpServerEvent::Refused { status, reason });
    }

    fn on_input(&mut self) -> Result<(), Error> {
        if self.proto.state == State::Handshaking {
            if self.engine.is_handshaking() {
                return Ok(());
            }
            let who = authenticate_person(&mut self.engine, &self.proto.config)?;
            self.engine.handshake_done();
            if let Some((_, info)) = &who {
                self.engine.set_expiry(info.not_after);
            }
            let (person, certificate) = who.map_or((None, None), |(p, c)| (Some(p), Some(c)));
            self.proto.person = person.clone();
            self.proto.certificate = certificate.clone();
            self.proto.state = State::Head;
            self.events.push_back(HttpServerEvent::Connected {
                person,
                certificate,
                handshake: self.engine.handshake_info(),
            });
        }
        loop {
            match self.proto.state {
                State::Head => {
                    if self.engine.stream().is_empty() {
                        self.engine.set_request_deadline(None);
                        break;
                    }
                    match parse_head(self.engine.stream(), self.proto.limits.head) {
                        Ok(None) => {
                            // The whole head must arrive within one idle timeout of its first
                            // byte, however slowly it trickles in.
                            if !self.proto.head_started {
                                self.proto.head_started = true;
                                let now = self.engine.now();
                                let idle = self.proto.config.timeouts.idle;
                                self.engine.set_request_deadline(Some(now.mono + idle));
                            }
                            break;
                        }
                        Ok(Some((request, n))) => {
                            self.engine.stream().advance(n);
                            self.proto.head_started = false;
                            self.engine.set_request_deadline(None);
                            self.recheck()?;
                            if request.content_length > self.proto.limits.body {
                                let limit = crate::units::size_exact(self.proto.limits.body);
                                self.refuse_head(
                                    413,
                                    format!("the request body is over the limit of {limit}"),
                                );
                                break;
                            }
                            self.proto.keep_alive = request.keep_alive;
                            self.proto.head_only = request.method == "HEAD";
                            self.proto.http10 = request.version == 0;
                            self.proto.state = if request.content_length > 0 {
                                State::Unread {
                                    remaining: request.content_length,
                                    continue_wanted: request.expects_continue,
                                }
                            } else {
                                State::Complete
                            };
                            // The answer is the application's to give: no idle deadline meanwhile.
                            self.engine.pause_idle(true);
                            self.events.push_back(HttpServerEvent::Request(request));
                        }
                        Err(e) => {
                            self.refuse_head(e.status, e.reason);
                            break;
                        }
                    }
                }
                State::Draining { remaining } => {
                    let have = self.engine.stream().len() as u64;
                    let n = have.min(remaining);
                    // `n` is at most the buffered length, a usize.
                    self.engine.stream().advance(n as usize);
                    if n == remaining {
                        self.proto.state = State::Closing;
                        self.engine.close();
                    } else {
                        self.proto.state = State::Draining {
                            remaining: remaining - n,
                        };
                    }
                    break;
                }
                State::Body { remaining } => {
                    let have = self.engine.stream().len() as u64;
                    if have == 0 {
                        break;
                    }
                    let n = have.min(remaining);
                    // `n` is at most the buffered length, a usize.
                    let bytes = self.engine.stream().split_to(n as usize).freeze();
                    self.events.push_back(HttpServerEvent::Body(bytes));
                    if n == remaining {
                        self.proto.state = State::Complete;
                        self.engine.pause_idle(true);
                        self.events.push_back(HttpServerEvent::BodyEnd);
                    } else {
                        self.proto.state = State::Body {
                            remaining: remaining - n,
                        };
                        break;
                    }
                }
                _ => break,
            }
        }
        if self.engine.peer_closed() {
            let buffered = self.engine.stream().len() as u64;
            match self.proto.state {
                State::Head | State::Closing | State::Draining { .. } => self.engine.close(),
                State::Body { .. } => return Err(self.engine.fail(Error::Closed)),
                // A body not read yet but all here: the request is whole, and answered.
                State::Unread { remaining, .. } if buffered >= remaining => {
                    self.proto.keep_alive = false
                }
                State::Unread { .. } => return Err(self.engine.fail(Error::Closed)),
                // The answer is still sent; the connection closes after it.
                State::Complete | State::Answering { .. } => self.proto.keep_alive = false,
                State::Handshaking => {}
            }
        }
        Ok(())
    }
}
