//! The accept loops' listeners: with `SO_REUSEPORT` one listening socket per executor thread,
//! each with its own accept loop; without it, one socket. Served by an echo connection over
//! real loopback sockets.

use handin_core::driver::{Accept, Driven, Notify, ServeOptions, Shutdown};
use handin_core::Now;
use handin_smol::serve;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

include!("common/loops.rs");

/// smol runs connections on whichever executor thread is free, so which thread made a
/// connection says nothing of the listener it came from: `echo_many` is the check.
fn per_loop_check(_echoes: &Echoes) {}
