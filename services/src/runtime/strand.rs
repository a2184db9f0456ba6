//! Strands: one connection's jobs, run one after another in submission order on a
//! [`Pool`], each with the strand's own state.
//!
//! The state (a connection's upload in progress, say) has one owner, the strand: each job gets
//! it by `&mut` while it runs, and no job can hold it past its end. A job that panics is
//! contained (see [`super::contain`]); the state it left half-changed is dropped and replaced
//! by its default, and the jobs queued after it still run.

use super::contain;
use super::pool::Pool;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

type StateJob<S> = Box<dyn FnOnce(&mut S) + Send + 'static>;

struct Queue<S> {
    jobs: VecDeque<StateJob<S>>,
    /// The state, here while no job runs; `None` while the runner holds it.
    state: Option<S>,
    running: bool,
}

/// Runs its jobs one after another, in submission order, on a [`Pool`], handing each the
/// strand's state `S`.
pub struct Strand<S = ()> {
    queue: Arc<Mutex<Queue<S>>>,
}

impl<S> Clone for Strand<S> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<S: Default> Default for Strand<S> {
    fn default() -> Self {
        Self {
            queue: Arc::new(Mutex::new(Queue {
                jobs: VecDeque::new(),
                state: Some(S::default()),
                running: false,
            })),
        }
    }
}

impl<S> std::fmt::Debug for Strand<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Strand")
    }
}

fn lock<S>(q: &Mutex<Queue<S>>) -> MutexGuard<'_, Queue<S>> {
    // The queue is changed only in small steps that a panic cannot interrupt half-way.
    q.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Strand<()> {
    /// Queues `job` after every job queued before it.
    pub fn spawn(&self, pool: &Pool, job: impl FnOnce() + Send + 'static) {
        self.run(pool, move |_: &mut ()| job());
    }
}

impl<S: Default + Send + 'static> Strand<S> {
    /// Queues `job` after every job queued before it; it gets the strand's state when it runs.
    pub fn run(&self, pool: &Pool, job: impl FnOnce(&mut S) + Send + 'static) {
        let job: StateJob<S> = match pool.planned_fault() {
            None => Box::new(job),
            Some(n) => Box::new(move |_: &mut S| {
                let _job = job;
                panic!("a fault planted in job {n}");
            }),
        };
        let start = {
            let mut q = lock(&self.queue);
            q.jobs.push_back(job);
            !std::mem::replace(&mut q.running, true)
        };
        if start {
            let queue = self.queue.clone();
            pool.send(Box::new(move || drain(&queue)));
        }
    }
}

/// The runner: takes the state, runs every job queued, puts the state back.
fn drain<S: Default>(queue: &Mutex<Queue<S>>) {
    let mut state = lock(queue).state.take().unwrap_or_default();
    loop {
        let job = {
            let mut q = lock(queue);
            match q.jobs.pop_front() {
                Some(j) => j,
                None => {
                    q.state = Some(state);
                    q.running = false;
                    return;
                }
            }
        };
        // A job that panics is logged; what it left of the state goes, and the jobs queued
        // after it still run.
        if !contain::run(|| job(&mut state)) {
            state = S::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_strand_hands_its_state_to_each_job_in_turn() {
        let pool = Pool::new(4, "test").unwrap();
        let strand: Strand<Vec<u32>> = Strand::default();
        let (tx, rx) = mpsc::channel();
        for i in 0..200 {
            strand.run(&pool, move |seen| seen.push(i));
        }
        strand.run(&pool, move |seen| tx.send(std::mem::take(seen)).unwrap());
        let seen = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn a_job_that_panics_leaves_the_next_one_a_fresh_state() {
        struct Flag(mpsc::Sender<&'static str>);
        impl Drop for Flag {
            fn drop(&mut self) {
                let _ = self.0.send("dropped");
            }
        }
        let pool = Pool::new(1, "test").unwrap();
        let strand: Strand<Option<Flag>> = Strand::default();
        let (tx, rx) = mpsc::channel();
        let flag_tx = tx.clone();
        strand.run(&pool, move |s| *s = Some(Flag(flag_tx)));
        strand.run(&pool, |_| panic!("a bug while holding the state"));
        strand.run(&pool, move |s| {
            tx.send(if s.is_none() { "fresh" } else { "stale" })
                .unwrap()
        });
        let got: Vec<_> = (0..2)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(got, ["dropped", "fresh"]);
    }
}
