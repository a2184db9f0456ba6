//! A byte budget shared by connections (uploaded bytes held in memory), which wakes those
//! waiting for room when room frees.

use handin_core::driver::Notify;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
    use std::sync::mpsc;

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
