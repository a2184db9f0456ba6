//! The listening sockets of a server's event loops: one per loop, all bound to the address of
//! the listener the caller gave, when that listener has `SO_REUSEPORT` set.
//!
//! With one socket per loop, the kernel hands each new connection to one socket (by a hash of
//! the connection's addresses), so only that loop wakes for it. A listener without
//! `SO_REUSEPORT` is shared by every loop instead, as a plain `std::net::TcpListener` can be.

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io;
use std::net::TcpListener;

/// The backlog of the listeners made here: the kernel caps it at its own limit
/// (`net.core.somaxconn`).
const BACKLOG: i32 = 65_535;

/// `loops` listeners for `listener`'s address: `listener` itself first, then, when it has
/// `SO_REUSEPORT` set, new sockets bound to the same address with `SO_REUSEPORT` (and
/// `SO_REUSEADDR` when it has that); otherwise clones of `listener` (one shared socket).
///
/// Every listener has `TCP_NODELAY` set, which accepted sockets inherit on Linux, so no
/// connection needs its own `setsockopt`. All are non-blocking.
pub(crate) fn per_loop(listener: TcpListener, loops: usize) -> io::Result<Vec<TcpListener>> {
    let loops = loops.max(1);
    let sock = SockRef::from(&listener);
    let reuse_port = sock.reuse_port()?;
    let reuse_addr = sock.reuse_address()?;
    let addr = listener.local_addr()?;
    let mut all = Vec::with_capacity(loops);
    all.push(listener);
    for _ in 1..loops {
        let extra = if reuse_port {
            let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            s.set_reuse_address(reuse_addr)?;
            s.set_reuse_port(true)?;
            s.bind(&addr.into())?;
            s.listen(BACKLOG)?;
            s.into()
        } else {
            all[0].try_clone()?
        };
        all.push(extra);
    }
    for l in &all {
        l.set_nonblocking(true)?;
        SockRef::from(l).set_tcp_nodelay(true)?;
    }
    Ok(all)
}

/// Whether accepted sockets carry their listener's `TCP_NODELAY` (Linux copies it to them).
pub(crate) const NODELAY_INHERITED: bool = cfg!(target_os = "linux");

/// Accepts a connection from `listener` as a non-blocking socket: on Linux in the one
/// `accept4` call, elsewhere with a second call to make it non-blocking.
pub(crate) fn accept_nonblocking(
    listener: &TcpListener,
) -> io::Result<(std::net::TcpStream, std::net::SocketAddr)> {
    #[cfg(target_os = "linux")]
    {
        // accept4's flags are the type flags of socket(2): SOCK_NONBLOCK | SOCK_CLOEXEC.
        let stream = libc_int(Type::STREAM);
        let flags = libc_int(Type::STREAM.nonblocking().cloexec()) & !stream;
        let (socket, addr) = SockRef::from(listener).accept4(flags)?;
        let peer = addr
            .as_socket()
            .ok_or_else(|| io::Error::other("accepted a connection that is not TCP/IP"))?;
        Ok((socket.into(), peer))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let (stream, peer) = listener.accept()?;
        stream.set_nonblocking(true)?;
        Ok((stream, peer))
    }
}

#[cfg(target_os = "linux")]
fn libc_int(t: Type) -> i32 {
    t.into()
}
