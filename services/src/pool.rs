//! A fixed pool of worker threads for disk work, signing and database commits, so that none of
//! it runs on a network event loop; strands that run one connection's jobs in order; the inbox
//! through which finished jobs report back to their connection; a batcher that hands work
//! waiting at the same time to one caller (group commit); and a byte budget shared by
//! connections, which wakes those waiting for room when room frees.
//!
//! A job that panics costs its own request only (see [`crate::contain`]): the worker, the
//! strand and the batching thread each catch it, log it and go on with the next job.

use crate::contain;
use handin_core::driver::Notify;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

type Job = Box<dyn FnOnce() + Send + 'static>;

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

    fn send(&self, job: Job) {
        // The workers live as long as the process, and survive the jobs that panic.
        if self.tx.send(job).is_err() {
            tracing::error!("the worker pool is gone: a job was dropped");
        }
    }

    #[cfg(not(any(test, feature = "fault-injection")))]
    fn job(&self, job: impl FnOnce() + Send + 'static) -> Job {
        Box::new(job)
    }

    #[cfg(any(test, feature = "fault-injection"))]
    fn job(&self, job: impl FnOnce() + Send + 'static) -> Job {
        self.faults.wrap(Box::new(job))
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
    use super::Job;
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

        pub(super) fn wrap(&self, job: Job) -> Job {
            let n = self.spawned.fetch_add(1, Ordering::SeqCst);
            let mut planned = self.planned.lock().unwrap_or_else(PoisonError::into_inner);
            match planned.iter().position(|&p| p == n) {
                Some(i) => {
                    planned.swap_remove(i);
                    Box::new(move || {
                        let _job = job;
                        panic!("a fault planted in job {n}");
                    })
                }
                None => job,
            }
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
            s.queue.push_back(pool.job(job));
            !std::mem::replace(&mut s.running, true)
        };
        if start {
            let state = self.state.clone();
            pool.send(Box::new(move || loop {
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
                // A job that panics is logged; the ones queued after it still run.
                contain::run(job);
            }));
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

struct BatchState<T> {
    queue: Vec<T>,
    /// A thread is handling batches (or a caller, if no thread could be started).
    running: bool,
    /// Every handle is gone: the thread ends once the queue is empty.
    closed: bool,
}

struct BatcherInner<T> {
    state: Mutex<BatchState<T>>,
    more: Condvar,
    max: usize,
    name: String,
    run: Box<dyn Fn(Vec<T>) + Send + Sync>,
}

impl<T> BatcherInner<T> {
    fn state(&self) -> MutexGuard<'_, BatchState<T>> {
        // The state is a queue and two flags, consistent after any panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self, s: &mut BatchState<T>) -> Vec<T> {
        let n = s.queue.len().min(self.max);
        s.queue.drain(..n).collect()
    }

    /// The batching thread: waits for items and handles them, a batch at a time.
    fn serve(&self) {
        loop {
            let batch = {
                let mut s = self.state();
                while s.queue.is_empty() {
                    if s.closed {
                        s.running = false;
                        return;
                    }
                    s = self.more.wait(s).unwrap_or_else(PoisonError::into_inner);
                }
                self.take(&mut s)
            };
            // A batch whose handler panics is dropped (its items answer for themselves); the
            // thread goes on with the next.
            contain::run(|| (self.run)(batch));
        }
    }

    /// Without a thread: handles batches on the calling thread until none is waiting.
    fn drain_here(&self) {
        loop {
            let batch = {
                let mut s = self.state();
                if s.queue.is_empty() {
                    s.running = false;
                    return;
                }
                self.take(&mut s)
            };
            contain::run(|| (self.run)(batch));
        }
    }
}

/// Ends the batching thread when the last [`Batcher`] handle goes.
struct Closer<T>(Arc<BatcherInner<T>>);

impl<T> Drop for Closer<T> {
    fn drop(&mut self) {
        self.0.state().closed = true;
        self.0.more.notify_all();
    }
}

/// Group work: items submitted while a batch is being handled wait, and are then handled
/// together, in one call, by a thread of its own (started with the first item, ended when the
/// last handle goes), in submission order and at most `max` at a time. Submitting never
/// waits. Should the thread fail to start, the submitting caller handles the batches itself.
pub struct Batcher<T> {
    inner: Arc<BatcherInner<T>>,
    _closer: Arc<Closer<T>>,
}

impl<T> Clone for Batcher<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _closer: self._closer.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Batcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("name", &self.inner.name)
            .field("max", &self.inner.max)
            .finish()
    }
}

impl<T: Send + 'static> Batcher<T> {
    /// A batcher whose thread (named `name`) hands batches of at most `max` items (at least
    /// one) to `run`.
    pub fn new(name: &str, max: usize, run: impl Fn(Vec<T>) + Send + Sync + 'static) -> Self {
        let inner = Arc::new(BatcherInner {
            state: Mutex::new(BatchState {
                queue: Vec::new(),
                running: false,
                closed: false,
            }),
            more: Condvar::new(),
            max: max.max(1),
            name: name.to_owned(),
            run: Box::new(run),
        });
        Self {
            _closer: Arc::new(Closer(inner.clone())),
            inner,
        }
    }

    /// Queues `item` for the next batch.
    pub fn submit(&self, item: T) {
        {
            let mut s = self.inner.state();
            s.queue.push(item);
            if s.running {
                drop(s);
                self.inner.more.notify_one();
                return;
            }
            s.running = true;
        }
        let inner = self.inner.clone();
        let started = std::thread::Builder::new()
            .name(self.inner.name.clone())
            .spawn(move || inner.serve());
        if let Err(e) = started {
            tracing::error!(name = %self.inner.name, error = %e, "cannot start the batching thread: batching on the caller");
            self.inner.drain_here();
        }
    }
}

/// One connection's place in a [`Budget`]'s waiting list: its wake-up, registered at most once.
#[derive(Clone)]
pub struct Waiter {
    registered: Arc<AtomicBool>,
    notify: Notify,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("registered", &self.registered.load(Ordering::SeqCst))
            .finish()
    }
}

impl Waiter {
    /// A waiter woken through `notify`.
    pub fn new(notify: Notify) -> Self {
        Self {
            registered: Arc::new(AtomicBool::new(false)),
            notify,
        }
    }
}

/// Bytes held in memory across all connections (uploaded bytes waiting for the disk), against
/// a cap. Holders [`charge`](Budget::charge) bytes they already hold and
/// [`release`](Budget::release) them once written; a connection asks
/// [`has_room`](Budget::has_room) before reading more. One that finds the budget spent is
/// registered and woken once the bytes held fall below three quarters of the cap (woken all
/// at once, rarely, rather than one by one on every release).
pub struct Budget {
    cap: usize,
    resume_below: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
    waits: AtomicU64,
    waiters: Mutex<Vec<Waiter>>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("cap", &self.cap)
            .field("used", &self.used())
            .finish()
    }
}

impl Budget {
    /// A budget of `cap` bytes (at least one).
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Self {
            cap,
            resume_below: cap - cap / 4,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            waits: AtomicU64::new(0),
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    /// The most bytes held at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// How many times a connection found the budget spent and had to wait.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::SeqCst)
    }

    /// Counts `n` more bytes held (they are already in memory: this never refuses).
    pub fn charge(&self, n: usize) {
        let now = self.used.fetch_add(n, Ordering::SeqCst) + n;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    /// Counts `n` bytes no longer held; wakes every waiter once the bytes held fall below
    /// three quarters of the cap.
    pub fn release(&self, n: usize) {
        let before = self.used.fetch_sub(n, Ordering::SeqCst);
        debug_assert!(before >= n, "released more than was charged");
        if before.saturating_sub(n) >= self.resume_below {
            return;
        }
        let woken = std::mem::take(&mut *self.lock_waiters());
        for w in woken {
            w.registered.store(false, Ordering::SeqCst);
            (w.notify)();
        }
    }

    /// Whether there is room to read more now. If not, `waiter` is registered (once) and will
    /// be woken when room frees; call again then.
    pub fn has_room(&self, waiter: &Waiter) -> bool {
        if self.used() < self.cap {
            return true;
        }
        if !waiter.registered.swap(true, Ordering::SeqCst) {
            self.waits.fetch_add(1, Ordering::SeqCst);
            self.lock_waiters().push(waiter.clone());
        }
        // Look again after registering: a release between the first look and the
        // registration found nobody to wake.
        self.used() < self.cap
    }

    fn lock_waiters(&self) -> MutexGuard<'_, Vec<Waiter>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contain::Promise;
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
    fn a_batcher_goes_on_with_what_waited_after_a_batch_panicked() {
        let inbox = Inbox::new(Arc::new(|| {}));
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = Mutex::new(go_rx);
        let b = Batcher::new("test-batcher", 8, move |batch: Vec<(u32, Promise<u32>)>| {
            if batch[0].0 == 0 {
                entered_tx.send(()).unwrap();
                go_rx.lock().unwrap().recv().unwrap();
                panic!("a bug in the batch handler");
            }
            for (i, promise) in batch {
                promise.keep(i);
            }
        });
        let item = |i: u32| (i, Promise::new(inbox.clone(), || u32::MAX));
        b.submit(item(0));
        entered_rx.recv().unwrap();
        // These wait while the batch that is about to panic is handled.
        b.submit(item(1));
        b.submit(item(2));
        go_tx.send(()).unwrap();
        // Nothing else is submitted: the thread itself must go on with them.
        let answers = poll_inbox(&inbox, 3);
        assert_eq!(answers, [1, 2, u32::MAX], "the panicked item is refused");
    }

    /// Waits (up to 10 s) until `inbox` holds `n` items; returns them sorted.
    fn poll_inbox<T: Ord + Send + 'static>(inbox: &Inbox<T>, n: usize) -> Vec<T> {
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while got.len() < n {
            got.extend(inbox.take());
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {n} answers came",
                got.len()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        got.sort();
        got
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

    #[test]
    fn a_batcher_hands_what_waits_meanwhile_to_the_next_batch() {
        let (batches_tx, batches_rx) = mpsc::channel::<Vec<u32>>();
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = Mutex::new(go_rx);
        let batches_tx = Mutex::new(batches_tx);
        let b = Batcher::new("test-batcher", 3, move |batch: Vec<u32>| {
            if batch == [0] {
                // Hold the first batch until the others are queued.
                entered_tx.send(()).unwrap();
                go_rx.lock().unwrap().recv().unwrap();
            }
            batches_tx.lock().unwrap().send(batch).unwrap();
        });
        b.submit(0);
        entered_rx.recv().unwrap();
        // A batch is being handled: these wait for the next ones.
        for i in 1..=4 {
            b.clone().submit(i);
        }
        go_tx.send(()).unwrap();
        let got: Vec<Vec<u32>> = (0..3).map(|_| batches_rx.recv().unwrap()).collect();
        assert_eq!(got, vec![vec![0], vec![1, 2, 3], vec![4]]);
        // Idle, the thread takes the next item at once.
        b.submit(5);
        assert_eq!(batches_rx.recv().unwrap(), vec![5]);
    }

    #[test]
    fn the_batching_thread_ends_with_the_last_handle() {
        let (tx, rx) = mpsc::channel::<()>();
        struct Flag(mpsc::Sender<()>);
        impl Drop for Flag {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        // The handler owns a flag that reports when it is dropped with the thread's state.
        let flag = Flag(tx);
        let b = Batcher::new("test-batcher", 8, move |_: Vec<u32>| {
            let _ = &flag;
        });
        b.submit(1);
        let other = b.clone();
        drop(b);
        other.submit(2);
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop(other);
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the thread ended and dropped the handler");
    }

    #[test]
    fn a_batcher_handles_every_item_once_from_many_threads() {
        let (tx, rx) = mpsc::channel::<Vec<u32>>();
        let tx = Mutex::new(tx);
        let b = Batcher::new("test-batcher", 64, move |batch: Vec<u32>| {
            std::thread::sleep(std::time::Duration::from_micros(200));
            tx.lock().unwrap().send(batch).unwrap();
        });
        std::thread::scope(|s| {
            for t in 0..8u32 {
                let b = b.clone();
                s.spawn(move || {
                    for i in 0..200 {
                        b.submit(t * 1000 + i);
                    }
                });
            }
        });
        let mut seen = Vec::new();
        let mut largest = 0;
        while seen.len() < 1600 {
            let batch = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
            largest = largest.max(batch.len());
            seen.extend(batch);
        }
        seen.sort();
        let mut want: Vec<u32> = (0..8)
            .flat_map(|t| (0..200).map(move |i| t * 1000 + i))
            .collect();
        want.sort();
        assert_eq!(seen, want);
        assert!(largest > 1, "items that waited were batched");
    }

    #[test]
    fn a_spent_budget_wakes_its_waiters_once_a_quarter_is_free() {
        let woken = Arc::new(AtomicUsize::new(0));
        let w = woken.clone();
        let waiter = Waiter::new(Arc::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        let budget = Budget::new(1000);
        assert!(budget.has_room(&waiter));
        budget.charge(600);
        budget.charge(500);
        assert_eq!((budget.used(), budget.peak()), (1100, 1100));
        assert!(!budget.has_room(&waiter));
        // Asking again does not register twice.
        assert!(!budget.has_room(&waiter));
        assert_eq!(budget.waits(), 1);
        budget.release(200);
        assert_eq!(woken.load(Ordering::SeqCst), 0, "900 held: still above 750");
        // Under the cap there is room, though waiters are only woken below 750.
        assert!(budget.has_room(&waiter));
        budget.release(200);
        assert_eq!(woken.load(Ordering::SeqCst), 1, "700 held: woken");
        assert!(budget.has_room(&waiter));
        budget.release(700);
        assert_eq!(woken.load(Ordering::SeqCst), 1, "woken once per wait");
        assert_eq!((budget.used(), budget.peak()), (0, 1100));
        // Spent again: registered again, and woken again.
        budget.charge(1000);
        assert!(!budget.has_room(&waiter));
        assert_eq!(budget.waits(), 2);
        budget.release(1000);
        assert_eq!(woken.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn no_waiter_is_left_asleep_when_charges_and_releases_race() {
        // Readers on several threads take room, a writer thread gives it back; every reader
        // that finds the budget spent must be woken (or find room) and finish.
        let budget = Arc::new(Budget::new(64 * 1024));
        let (tx, rx) = mpsc::channel::<usize>();
        let writer = {
            let budget = budget.clone();
            std::thread::spawn(move || {
                while let Ok(n) = rx.recv() {
                    budget.release(n);
                }
            })
        };
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (budget, tx) = (budget.clone(), tx.clone());
                s.spawn(move || {
                    let (wake_tx, wake_rx) = mpsc::channel::<()>();
                    let wake_tx = Mutex::new(wake_tx);
                    let waiter = Waiter::new(Arc::new(move || {
                        let _ = wake_tx.lock().unwrap().send(());
                    }));
                    let mut read = 0;
                    while read < 8 * 1024 * 1024 {
                        if budget.has_room(&waiter) {
                            budget.charge(16 * 1024);
                            tx.send(16 * 1024).unwrap();
                            read += 16 * 1024;
                        } else {
                            wake_rx
                                .recv_timeout(std::time::Duration::from_secs(10))
                                .expect("a waiter was never woken");
                        }
                    }
                });
            }
        });
        drop(tx);
        writer.join().unwrap();
        assert_eq!(budget.used(), 0);
    }
}
