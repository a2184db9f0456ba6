//! The applications behind handin's connections: CUHK's registrar records and enrollment
//! service, Blackboard's durable submission store and submission service, and the worker pool
//! that keeps disk work off the network event loops.

pub mod blackboard;
pub mod board;
pub mod contain;
pub mod crl_watch;
pub mod cuhk;
pub mod pool;
pub mod quota;
pub mod registrar;
pub mod sessions;
pub mod sqlite;
