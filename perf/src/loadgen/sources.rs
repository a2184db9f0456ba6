//! Loopback source addresses for many client connections to one server port. A connection
//! from 127.0.0.1 to one address and port takes one ephemeral port (`net.ipv4.
//! ip_local_port_range`, 28,232 by default), for as long as it is open and then in TIME_WAIT;
//! tens of thousands of students at once, with retries, would run short. Every address of
//! 127.0.0.0/8 reaches the loopback interface and has ports of its own, so the clients are
//! spread over 127.0.0.1, 127.0.0.2, ... (each socket bound to its address before it
//! connects), each address given at most half of the range.

use handin_smol::smol::Async;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// The kernel's ephemeral port range, if readable.
fn port_range() -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(str::parse::<u32>);
    match (it.next(), it.next()) {
        (Some(Ok(low)), Some(Ok(high))) if low <= high => Some((low, high)),
        _ => None,
    }
}

/// How clients are spread over loopback source addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources {
    /// Clients given one address.
    per_address: usize,
    /// Addresses used (1: only 127.0.0.1, the kernel's own choice, no bind).
    addresses: usize,
}

impl Sources {
    /// For `clients` connections to `server`, with the kernel's ephemeral port range.
    pub fn for_clients(clients: usize, server: SocketAddr) -> Self {
        Self::plan(clients, server, port_range())
    }

    /// The same with a given port range (`None`: unknown, the default 32768–60999 assumed).
    fn plan(clients: usize, server: SocketAddr, range: Option<(u32, u32)>) -> Self {
        let (low, high) = range.unwrap_or((32_768, 60_999));
        // Half the range: room for retries, TIME_WAIT of earlier connections, other programs.
        let per_address = (high - low).div_ceil(2).max(1) as usize;
        let loopback_v4 = matches!(server.ip(), IpAddr::V4(ip) if ip.is_loopback());
        let addresses = if loopback_v4 {
            // 127.0.0.1 to 127.0.0.254.
            clients.div_ceil(per_address).clamp(1, 254)
        } else {
            1
        };
        Self {
            per_address,
            addresses,
        }
    }

    /// The addresses used.
    pub fn addresses(&self) -> usize {
        self.addresses
    }

    /// The source address of client `i`, or `None` to let the kernel choose (one address).
    pub fn source_of(&self, i: usize) -> Option<SocketAddr> {
        if self.addresses <= 1 {
            return None;
        }
        let k = (i / self.per_address) % self.addresses;
        // k < 254, so the last octet is 1..=254.
        let last = u8::try_from(k + 1).unwrap_or(254);
        Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)),
            0,
        ))
    }
}

/// Connects to `addr` from `source` (bound first) if given, else as the kernel chooses; gives up
/// after `timeout`. Nagle is off, as for every connection of the clients.
pub async fn connect_from(
    source: Option<SocketAddr>,
    addr: SocketAddr,
    timeout: Duration,
) -> io::Result<Async<TcpStream>> {
    let Some(source) = source else {
        return handin_smol::connect_async(addr, timeout).await;
    };
    use handin_smol::smol::future::FutureExt;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.bind(&source.into())?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
        Err(e) => return Err(e),
    }
    let stream = Async::new(TcpStream::from(socket))?;
    async {
        stream.writable().await?;
        match stream.get_ref().take_error()? {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
    .or(async {
        handin_smol::smol::Timer::after(timeout).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "connection timed out",
        ))
    })
    .await?;
    // A refused connection is writable too, with its error taken above; a connected one has
    // a peer.
    stream.get_ref().peer_addr()?;
    let _ = stream.get_ref().set_nodelay(true);
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> SocketAddr {
        "127.0.0.1:4000".parse().unwrap()
    }

    #[test]
    fn few_clients_keep_the_kernels_choice() {
        let s = Sources::plan(10_000, server(), Some((32_768, 60_999)));
        assert_eq!(s.addresses(), 1);
        assert_eq!(s.source_of(0), None);
        assert_eq!(s.source_of(9_999), None);
    }

    #[test]
    fn many_clients_spread_over_loopback_addresses_half_a_range_each() {
        let s = Sources::plan(20_000, server(), Some((32_768, 60_999)));
        assert_eq!(s.addresses(), 2);
        let first = s.source_of(0).unwrap();
        assert_eq!(first.ip(), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(first.port(), 0);
        assert_eq!(s.source_of(14_115).unwrap(), first);
        assert_eq!(
            s.source_of(14_116).unwrap().ip(),
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))
        );
        assert_eq!(
            s.source_of(19_999).unwrap().ip(),
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))
        );
        // A narrow range needs more addresses; never more than 127.0.0.254.
        assert_eq!(
            Sources::plan(20_000, server(), Some((60_000, 60_999))).addresses(),
            40
        );
        let huge = Sources::plan(10_000_000, server(), Some((60_000, 60_099)));
        assert_eq!(huge.addresses(), 254);
        let last = (0..10_000_000)
            .step_by(50)
            .filter_map(|i| huge.source_of(i))
            .max();
        assert_eq!(
            last.unwrap().ip(),
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 254))
        );
    }

    #[test]
    fn a_server_elsewhere_than_loopback_keeps_the_kernels_choice() {
        let far: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        assert_eq!(Sources::plan(100_000, far, None).source_of(50_000), None);
    }

    #[test]
    fn a_bound_client_reaches_a_loopback_server_from_its_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let from: SocketAddr = "127.0.0.3:0".parse().unwrap();
        let stream =
            handin_smol::smol::block_on(connect_from(Some(from), addr, Duration::from_secs(5)))
                .unwrap();
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), from.ip());
        assert_eq!(stream.get_ref().local_addr().unwrap(), peer);
        // Nobody listening: a refusal, not a hang.
        drop(listener);
        let e = handin_smol::smol::block_on(connect_from(Some(from), addr, Duration::from_secs(5)))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
    }
}
