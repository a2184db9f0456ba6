//! The event loops' listeners: with `SO_REUSEPORT` one listening socket per loop, each loop
//! accepting the connections the kernel gives its socket; without it, one shared socket.
//! Served by an echo connection over real loopback sockets.

use handin_core::driver::{Accept, Driven, Notify, ServeOptions, Shutdown};
use handin_core::Now;
use handin_mio::serve;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

include!("../../transport-smol/tests/common/loops.rs");

/// Each mio loop makes the connections it accepted, on its own thread: both made some.
fn per_loop_check(echoes: &Echoes) {
    let by_thread = echoes.by_thread.lock().expect("lock");
    assert_eq!(by_thread.len(), 2, "both loops accepted: {by_thread:?}");
}
