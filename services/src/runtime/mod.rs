//! What keeps disk work off the network event loops: the worker [`Pool`], the [`Strand`]s
//! that run one connection's jobs in order and own its state, the [`Inbox`] through which jobs
//! answer their connection, the [`Batcher`] that groups work waiting at the same time (the one
//! group-commit engine), the [`Budget`] of upload bytes held in memory, and the containment of
//! panics in jobs ([`contain`]).

pub mod batcher;
pub mod budget;
pub mod contain;
pub mod pool;
pub mod strand;

pub use batcher::{Batcher, Take};
pub use budget::{Budget, Waiter};
pub use contain::Promise;
pub use pool::{Inbox, Pool};
pub use strand::Strand;
