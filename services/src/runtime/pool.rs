//! A fixed pool of worker threads for disk work, signing and database commits, so that none of
//! it runs on a network event loop, and the inbox through which finished jobs report back to
//! their connection.
//!
//! A job that panics costs its own request only (see [`super::contain`]): the worker and the
//! strand each catch it, log it and go on with the next job.

use super::contain;
use handin_core::driver::Notify;
use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

pub(super) type Job = Box<dyn FnOnce() + Send + 'static>;

/// Worker threads taking jobs from one queue.
#[derive(Debug, Clone)]
pub struct Pool {
    tx: mpsc::Sender<Job>,
    /// Tests make chosen jobs panic (see `faults`; only with the `fault-injection` feature).
    #[cfg(any(test, feature = "fault-injection"))]
    faults: Arc<faults::Faults>,
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
                    // The lock is held only while waiting, never while a job runs.
                    let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    match job {
                        Ok(job) => {
                            contain::run(job);
                        }
                        Err(_) => return,
                    }
                })?;
        }
        Ok(Self {
            tx,
            #[cfg(any(test, feature = "fault-injection"))]
            faults: Arc::default(),
        })
    }

    /// Runs `job` on some worker.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        self.send(self.job(job));
    }

    pub(super) fn send(&self, job: Job) {
        // The workers live as long as the process, and survive the jobs that panic.
        if self.tx.send(job).is_err() {
            tracing::error!("the worker pool is gone: a job was dropped");
        }
    }

    fn job(&self, job: impl FnOnce() + Send + 'static) -> Job {
        match self.planned_fault() {
            None => Box::new(job),
            Some(n) => Box::new(move || {
                let _job = job;
                panic!("a fault planted in job {n}");
            }),
        }
    }

    /// Counts a job spawned (on the pool or a strand); `Some(n)` if the `n`th job was planned
    /// to panic (see [`Pool::danger_panic_job`]).
    #[cfg(not(any(test, feature = "fault-injection")))]
    pub(super) fn planned_fault(&self) -> Option<u64> {
        None
    }

    #[cfg(any(test, feature = "fault-injection"))]
    pub(super) fn planned_fault(&self) -> Option<u64> {
        self.faults.next()
    }

    /// Tests: the job spawned `after` jobs from now (on the pool or on any of its strands)
    /// panics when it runs, before it does anything; what it holds is dropped as the panic
    /// unwinds, as when a job panics part-way.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn danger_panic_job(&self, after: u64) {
        self.faults.plan(after);
    }
}

#[cfg(any(test, feature = "fault-injection"))]
mod faults {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, PoisonError};

    /// Jobs of one pool planned to panic, by spawn number.
    #[derive(Debug, Default)]
    pub(super) struct Faults {
        spawned: AtomicU64,
        planned: Mutex<Vec<u64>>,
    }

    impl Faults {
        pub(super) fn plan(&self, after: u64) {
            let n = self.spawned.load(Ordering::SeqCst) + after;
            self.planned
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(n);
        }

        /// Counts a job spawned; `Some(n)` if it was planned to panic.
        pub(super) fn next(&self) -> Option<u64> {
            let n = self.spawned.fetch_add(1, Ordering::SeqCst);
            let mut planned = self.planned.lock().unwrap_or_else(PoisonError::into_inner);
            let i = planned.iter().position(|&p| p == n)?;
            planned.swap_remove(i);
            Some(n)
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
    use crate::runtime::contain::Promise;
    use crate::runtime::Strand;
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
    fn a_worker_survives_a_panicking_job() {
        // One worker: if the panic ended it, nothing would run the next job.
        let pool = Pool::new(1, "test").unwrap();
        let (tx, rx) = mpsc::channel();
        pool.spawn(|| panic!("a bug in a job"));
        pool.spawn(move || tx.send(()).unwrap());
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the worker ran the job after the one that panicked");
    }

    #[test]
    fn a_strand_runs_the_jobs_after_one_that_panicked_in_order() {
        let pool = Pool::new(2, "test").unwrap();
        let strand = Strand::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        for i in 0..10 {
            let (seen, tx) = (seen.clone(), tx.clone());
            strand.spawn(&pool, move || {
                if i == 3 {
                    panic!("a bug in job 3");
                }
                seen.lock().unwrap().push(i);
                if i == 9 {
                    tx.send(()).unwrap();
                }
            });
        }
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the strand went on after the job that panicked");
        assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn a_planted_fault_breaks_the_promise_of_the_job_it_hits() {
        let pool = Pool::new(1, "test").unwrap();
        let strand = Strand::default();
        let inbox = Inbox::new(Arc::new(|| {}));
        let (tx, rx) = mpsc::channel();
        // The second job from now: the first on the strand.
        pool.danger_panic_job(1);
        for (i, on_strand) in [(0, false), (1, true), (2, true), (3, false)] {
            let promise = Promise::new(inbox.clone(), || "refused");
            let tx = tx.clone();
            let job = move || {
                promise.keep("answered");
                tx.send(i).unwrap();
            };
            if on_strand {
                strand.spawn(&pool, job);
            } else {
                pool.spawn(job);
            }
        }
        let mut ran: Vec<i32> = (0..3)
            .map(|_| rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap())
            .collect();
        ran.sort();
        assert_eq!(ran, [0, 2, 3]);
        let mut answers: Vec<_> = inbox.take().into_iter().collect();
        answers.sort();
        assert_eq!(answers, ["answered", "answered", "answered", "refused"]);
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
