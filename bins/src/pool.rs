//! A fixed pool of worker threads for disk work, signing and database commits, so that none of
//! it runs on a network event loop; strands that run one connection's jobs in order; and the
//! inbox through which finished jobs report back to their connection.

use handin_core::driver::Notify;
use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Worker threads taking jobs from one queue.
#[derive(Debug, Clone)]
pub struct Pool {
    tx: mpsc::Sender<Job>,
}

impl Pool {
    /// Starts `threads` workers (at least one).
    pub fn new(threads: usize, name: &str) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })?;
        }
        Ok(Self { tx })
    }

    /// Runs `job` on some worker.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        // The workers live as long as the process; a send can only fail if all panicked.
        if self.tx.send(Box::new(job)).is_err() {
            tracing::error!("the worker pool is gone: a job was dropped");
        }
    }
}

#[derive(Default)]
struct StrandState {
    queue: VecDeque<Job>,
    running: bool,
}

/// Runs its jobs one after another, in submission order, on a [`Pool`].
#[derive(Clone, Default)]
pub struct Strand {
    state: Arc<Mutex<StrandState>>,
}

impl std::fmt::Debug for Strand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Strand")
    }
}

impl Strand {
    /// Queues `job` after every job queued before it.
    pub fn spawn(&self, pool: &Pool, job: impl FnOnce() + Send + 'static) {
        let start = {
            let Ok(mut s) = self.state.lock() else { return };
            s.queue.push_back(Box::new(job));
            !std::mem::replace(&mut s.running, true)
        };
        if start {
            let state = self.state.clone();
            pool.spawn(move || loop {
                let job = {
                    let Ok(mut s) = state.lock() else { return };
                    match s.queue.pop_front() {
                        Some(j) => j,
                        None => {
                            s.running = false;
                            return;
                        }
                    }
                };
                job();
            });
        }
    }
}

/// Where jobs leave their results for a connection, which its event loop collects on wake.
pub struct Inbox<T> {
    items: Arc<Mutex<VecDeque<T>>>,
    notify: Notify,
}

impl<T> Clone for Inbox<T> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
            notify: self.notify.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Inbox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inbox")
    }
}

impl<T: Send + 'static> Inbox<T> {
    /// An inbox that wakes its connection through `notify`.
    pub fn new(notify: Notify) -> Self {
        Self {
            items: Arc::new(Mutex::new(VecDeque::new())),
            notify,
        }
    }

    /// Leaves a result and wakes the connection.
    pub fn post(&self, item: T) {
        if let Ok(mut q) = self.items.lock() {
            q.push_back(item);
        }
        (self.notify)();
    }

    /// Takes every result left so far.
    pub fn take(&self) -> VecDeque<T> {
        match self.items.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(_) => VecDeque::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_strand_runs_its_jobs_in_order_even_on_many_workers() {
        let pool = Pool::new(4, "test").unwrap();
        let strand = Strand::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        for i in 0..500 {
            let seen = seen.clone();
            let tx = tx.clone();
            strand.spawn(&pool, move || {
                seen.lock().unwrap().push(i);
                if i == 499 {
                    tx.send(()).unwrap();
                }
            });
        }
        rx.recv().unwrap();
        assert_eq!(*seen.lock().unwrap(), (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn posting_to_an_inbox_wakes_its_connection() {
        let woken = Arc::new(AtomicUsize::new(0));
        let w = woken.clone();
        let inbox = Inbox::new(Arc::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        inbox.post(1);
        inbox.clone().post(2);
        assert_eq!(woken.load(Ordering::SeqCst), 2);
        assert_eq!(inbox.take(), VecDeque::from(vec![1, 2]));
        assert!(inbox.take().is_empty());
    }
}
