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
