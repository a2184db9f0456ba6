//! Group work: items submitted while a batch is being handled wait, and are then handled
//! together (group commit). The one engine behind CUHK's enrollment batches and Blackboard's
//! submission batches.
//!
//! A batch whose handler panics is contained (see [`super::contain`]): its items are dropped,
//! so whatever promises they hold answer their connections, and the thread goes on with the
//! next batch.

use super::contain;
use std::cell::Cell;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

struct BatchState<T> {
    queue: Vec<T>,
    /// A thread is handling batches (or a caller, if no thread could be started).
    running: bool,
    /// Every handle is gone: the thread ends once the queue is empty.
    closed: bool,
}

type Handler<T> = Box<dyn Fn(Take<'_, T>) + Send + Sync>;

struct BatcherInner<T> {
    state: Mutex<BatchState<T>>,
    more: Condvar,
    max: usize,
    name: String,
    run: Handler<T>,
}

impl<T> BatcherInner<T> {
    fn state(&self) -> MutexGuard<'_, BatchState<T>> {
        // The state is a queue and two flags, consistent after any panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next batch: at most `max` of the items waiting now, oldest first.
    fn take(&self) -> Vec<T> {
        let mut s = self.state();
        let n = s.queue.len().min(self.max);
        s.queue.drain(..n).collect()
    }

    /// Hands the waiting items to the handler, containing a panic: a batch whose handler
    /// panics is dropped (its items answer for themselves). A handler that ends, or panics,
    /// without taking the batch has it dropped too, rather than handed to it again and again.
    fn handle(&self) {
        let taken = Cell::new(false);
        let take = Take {
            inner: self,
            taken: &taken,
        };
        contain::run(|| (self.run)(take));
        if !taken.get() {
            drop(self.take());
        }
    }

    /// The batching thread: waits for items and handles them, a batch at a time.
    fn serve(&self) {
        loop {
            {
                let mut s = self.state();
                while s.queue.is_empty() {
                    if s.closed {
                        s.running = false;
                        return;
                    }
                    s = self.more.wait(s).unwrap_or_else(PoisonError::into_inner);
                }
            }
            self.handle();
        }
    }

    /// Without a thread: handles batches on the calling thread until none is waiting.
    fn drain_here(&self) {
        loop {
            {
                let mut s = self.state();
                if s.queue.is_empty() {
                    s.running = false;
                    return;
                }
            }
            self.handle();
        }
    }
}

/// The handler's access to the items waiting: it takes them when it is ready for them, so
/// that whatever arrives while it waits for something first (a lock on the records, say)
/// joins the batch.
pub struct Take<'a, T> {
    inner: &'a BatcherInner<T>,
    taken: &'a Cell<bool>,
}

impl<T> std::fmt::Debug for Take<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Take")
            .field("name", &self.inner.name)
            .finish()
    }
}

impl<T> Take<'_, T> {
    /// The batch: at most the batcher's `max` of the items waiting now, in submission order.
    /// A handler must take it: if it does not, the batch is dropped once the handler ends.
    pub fn batch(self) -> Vec<T> {
        self.taken.set(true);
        self.inner.take()
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
///
/// The guarantees its users build on: the handler sees every item once; a handler that panics
/// costs its own batch only (its items are dropped, so a [`Promise`](super::Promise) they hold
/// answers); the next batch is handled all the same.
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
        Self::taking(name, max, move |take: Take<'_, T>| run(take.batch()))
    }

    /// A batcher whose handler `run` is called whenever items wait, and takes them with
    /// [`Take::batch`] when it is ready: what arrives before it takes joins the batch.
    pub fn taking(
        name: &str,
        max: usize,
        run: impl Fn(Take<'_, T>) + Send + Sync + 'static,
    ) -> Self {
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

    /// Items waiting for a batch (not yet taken by the handler).
    pub fn waiting(&self) -> usize {
        self.inner.state().queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::contain::Promise;
    use crate::runtime::Inbox;
    use std::sync::mpsc;

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
    fn what_arrives_before_the_handler_takes_joins_the_batch() {
        // The handler waits for a gate before it takes, as CUHK's committer waits for the
        // registrar: everything submitted meanwhile is one batch.
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let (batches_tx, batches_rx) = mpsc::channel::<Vec<u32>>();
        let batches_tx = Mutex::new(batches_tx);
        let in_handler = gate.clone();
        let b = Batcher::taking("test-batcher", 100, move |take: Take<'_, u32>| {
            let _open = in_handler.lock().unwrap();
            batches_tx.lock().unwrap().send(take.batch()).unwrap();
        });
        for i in 0..5 {
            b.submit(i);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while b.waiting() < 5 {
            assert!(
                std::time::Instant::now() < deadline,
                "items were taken early"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(held);
        let first = batches_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        assert_eq!(first, [0, 1, 2, 3, 4]);
        assert_eq!(b.waiting(), 0);
    }

    #[test]
    fn a_handler_that_panics_before_taking_costs_its_batch_only() {
        let inbox = Inbox::new(Arc::new(|| {}));
        let (tx, rx) = mpsc::channel::<Vec<u32>>();
        let tx = Mutex::new(tx);
        let b = Batcher::taking(
            "test-batcher",
            8,
            move |take: Take<'_, (u32, Promise<u32>)>| {
                let mut batch = Vec::new();
                let first = take.inner.state().queue.first().map(|(i, _)| *i);
                if first == Some(0) {
                    panic!("a bug before taking");
                }
                for (i, promise) in take.batch() {
                    promise.keep(i);
                    batch.push(i);
                }
                tx.lock().unwrap().send(batch).unwrap();
            },
        );
        b.submit((0, Promise::new(inbox.clone(), || u32::MAX)));
        // The first batch is dropped, not handed to the handler again and again.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while inbox.take().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never answered");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        b.submit((1, Promise::new(inbox.clone(), || u32::MAX)));
        let next = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(next, [1]);
        assert_eq!(inbox.take(), [1]);
    }
}
