//! Picking a transport for a client: the client links of every transport behind one enum, and
//! the address helpers a client needs.

use handin_core::driver::{Driven, Link, Progress, Step};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Which transport drives the connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// mio: one event loop thread per core polling readiness (the default).
    Mio,
    /// smol: a task per connection on an async executor with one thread per core.
    Smol,
}

/// A client link on either transport.
#[derive(Debug)]
pub enum AnyLink {
    /// Over mio.
    Mio(handin_mio::MioLink),
    /// Over smol.
    Smol(handin_smol::SmolLink),
}

/// Connects to `addr` on the chosen transport.
pub fn connect(transport: Transport, addr: SocketAddr, timeout: Duration) -> io::Result<AnyLink> {
    match transport {
        Transport::Mio => handin_mio::MioLink::connect(addr, timeout).map(AnyLink::Mio),
        Transport::Smol => handin_smol::SmolLink::connect(addr, timeout).map(AnyLink::Smol),
    }
}

impl Link for AnyLink {
    type Error = io::Error;

    fn run<C: Driven>(
        &mut self,
        conn: &mut C,
        step: impl FnMut(&mut C, Progress) -> Step,
    ) -> io::Result<()> {
        match self {
            Self::Mio(l) => l.run(conn, step),
            Self::Smol(l) => l.run(conn, step),
        }
    }
}

/// Resolves `host:port` to one address (the first).
pub fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{addr} resolves to no address"),
        )
    })
}

/// Resolves `host:port` (DNS) and connects to its addresses in turn, until one answers
/// (a name such as `localhost` may resolve to `::1` first while the server listens on
/// `127.0.0.1`). `timeout` is for each attempt. Fails with the last address's error.
pub fn connect_host(transport: Transport, addr: &str, timeout: Duration) -> io::Result<AnyLink> {
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{addr} resolves to no address"),
    );
    for sock in addr.to_socket_addrs()? {
        match connect(transport, sock, timeout) {
            Ok(link) => return Ok(link),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The TLS server name for `host:port`: the host part (an IP or a DNS name).
pub fn host_of(addr: &str) -> &str {
    let host = match addr.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => addr,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_the_host_part() {
        assert_eq!(host_of("127.0.0.1:3141"), "127.0.0.1");
        assert_eq!(host_of("localhost:9335"), "localhost");
        assert_eq!(host_of("[::1]:3141"), "::1");
        assert_eq!(host_of("blackboard"), "blackboard");
    }
}
