//! Picking a transport: the servers and the client links of every transport, behind one enum.

use handin_core::driver::{Accept, Driven, Link, Progress, ServeOptions, Shutdown, Step};
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Which transport drives the connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// mio: one event loop thread per core polling readiness (the default).
    Mio,
    /// smol: a task per connection on an async executor with one thread per core.
    Smol,
}

/// Serves `listener` with `accept` on the chosen transport until `shutdown`.
pub fn serve<A: Accept>(
    transport: Transport,
    listener: TcpListener,
    accept: Arc<A>,
    opts: ServeOptions,
    shutdown: Arc<Shutdown>,
) -> io::Result<()> {
    match transport {
        Transport::Mio => handin_mio::serve(listener, accept, opts, shutdown),
        Transport::Smol => handin_smol::serve(listener, accept, opts, shutdown),
    }
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

/// The listen backlog asked for: the kernel caps it at its own limit (`net.core.somaxconn`,
/// 4096 on current Linux). The standard library's 128 overflows when thousands of students
/// connect in the same second; the transports then drain the queue into their own admission
/// line.
pub const LISTEN_BACKLOG: i32 = 65_535;

/// Listens on `addr` (`host:port`) with [`LISTEN_BACKLOG`] and `SO_REUSEADDR`, as servers do.
pub fn listen(addr: &str) -> io::Result<TcpListener> {
    let addr = resolve(addr)?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Raises this process's soft limit on open files to its hard limit (a server holds one
/// descriptor per connection; the usual soft limit of 1024 would refuse students long before
/// `--max-connections`). Returns the soft limit now in force, if known.
pub fn raise_open_files() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if setrlimit(Resource::Nofile, limit).is_err() {
            return getrlimit(Resource::Nofile).current;
        }
    }
    limit.current
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
    fn servers_listen_with_a_deep_backlog() {
        // Nobody accepts: every connection waits in the kernel's accept queue, which holds
        // backlog + 1 of them. With the standard library's 128 the 130th connect would hang.
        let listener = listen("127.0.0.1:0").expect("listens");
        let addr = listener.local_addr().expect("bound");
        let mut held = Vec::new();
        for i in 0..400 {
            let c = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .unwrap_or_else(|e| panic!("connection {i} not queued: {e}"));
            held.push(c);
        }
        assert_eq!(held.len(), 400);
    }

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        let soft = raise_open_files().expect("a limit");
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        assert_eq!(Some(soft), hard.or(Some(soft)));
    }

    #[test]
    fn the_server_name_is_the_host_part() {
        assert_eq!(host_of("127.0.0.1:3141"), "127.0.0.1");
        assert_eq!(host_of("localhost:9335"), "localhost");
        assert_eq!(host_of("[::1]:3141"), "::1");
        assert_eq!(host_of("blackboard"), "blackboard");
    }
}
