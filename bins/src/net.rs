//! Serving on a transport: the servers of every transport behind the client's [`Transport`]
//! choice, the listening socket, and the open-file limit.

pub use handin_client::net::{connect, host_of, resolve, AnyLink, Transport};
use handin_core::driver::{Accept, ServeOptions, Shutdown};
use std::io;
use std::net::TcpListener;
use std::sync::Arc;

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

/// The listen backlog asked for: the kernel caps it at its own limit (`net.core.somaxconn`,
/// 4096 on current Linux). The standard library's 128 overflows when thousands of students
/// connect in the same second; the transports then drain the queue into their own admission
/// line.
pub const LISTEN_BACKLOG: i32 = 65_535;

/// Listens on `addr` (`host:port`) with [`LISTEN_BACKLOG`], `SO_REUSEADDR` and `SO_REUSEPORT`.
/// The last lets the transports give each event loop a listening socket of its own on the same
/// address, so that a new connection wakes one loop. Because `SO_REUSEPORT` would also let a
/// second server of the same user bind the port silently (and take a share of its
/// connections), the address is first bound without it: a port in use fails here, as it did
/// before (`AddrInUse`).
pub fn listen(addr: &str) -> io::Result<TcpListener> {
    let addr = resolve(addr)?;
    let probe = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into())?;
    // A port of 0 asked for any free port: keep the one the probe got.
    let addr = probe.local_addr()?.as_socket().unwrap_or(addr);
    drop(probe);
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
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

/// Most connections a process with `open_files` descriptors (`None`: unlimited) can hold
/// beside the files it opens while serving them (uploads being written, the database, the
/// directories it syncs): `wanted`, lowered to leave an eighth of the limit, at least 256
/// descriptors, free. A server at its descriptor limit cannot write the files of the
/// connections it holds; one at its connection limit turns newcomers away and keeps working.
pub fn connection_capacity(open_files: Option<u64>, wanted: usize) -> usize {
    let Some(limit) = open_files else {
        return wanted;
    };
    let spare = (limit / 8).max(256);
    let fit = usize::try_from(limit.saturating_sub(spare)).unwrap_or(usize::MAX);
    wanted.min(fit).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    fn a_second_server_cannot_listen_on_a_port_in_use() {
        let first = listen("127.0.0.1:0").expect("listens");
        let addr = first.local_addr().expect("bound").to_string();
        let second = listen(&addr).expect_err("the port is in use");
        assert_eq!(second.kind(), io::ErrorKind::AddrInUse, "{second}");
        drop(first);
        listen(&addr).expect("free again once the first server is gone");
    }

    #[test]
    fn connections_leave_an_eighth_of_the_descriptors_for_files() {
        assert_eq!(connection_capacity(None, 20_000), 20_000);
        assert_eq!(connection_capacity(Some(1 << 20), 20_000), 20_000);
        // The 20,000 connections of the default against a limit of 20,000 descriptors.
        assert_eq!(connection_capacity(Some(20_000), 20_000), 17_500);
        assert_eq!(connection_capacity(Some(20_000), 100), 100);
        // A small limit keeps at least 256 descriptors for files, and one connection.
        assert_eq!(connection_capacity(Some(1024), 20_000), 768);
        assert_eq!(connection_capacity(Some(100), 20_000), 1);
    }

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        let soft = raise_open_files().expect("a limit");
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        assert_eq!(Some(soft), hard.or(Some(soft)));
    }
}
