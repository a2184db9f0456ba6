//! Blackboard's open connections by student: the limits on how many one student may hold, and
//! the way to reach every open connection when the revoked set changes.
//!
//! A connection joins once its student is authenticated and leaves when it is dropped. A
//! student may hold at most [`Limits::per_student`] connections (a client needs one or two), and
//! once [`Limits::shared`] connections are open, only students with no connection open yet may
//! join: the rest of the server's capacity is kept for them, so that no one student (or a few)
//! can take every slot. A new CRL wakes every joined connection, which then checks its own
//! certificate against the new revoked set ([`Sessions::wake_all`]).

use handin_core::driver::Notify;
use handin_core::pki::PersonId;
use handin_core::{Refusal, RefusalCode};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How many connections students may hold, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most connections one student may have open at once.
    pub per_student: usize,
    /// Once this many authenticated connections are open, a student who already has one is
    /// refused another: the remaining capacity is kept for students with none.
    pub shared: usize,
    /// A connection open this long is closed once its request in flight is answered (the
    /// client reconnects for its next command).
    pub max_age: Duration,
}

/// The default number of connections one student may hold.
pub const DEFAULT_PER_STUDENT: usize = 4;
/// The default maximum age of a connection.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);

impl Limits {
    /// The defaults for a server that accepts at most `max_connections`: 4 per student, a
    /// quarter of the capacity kept for students with no connection, one hour per connection.
    pub fn for_capacity(max_connections: usize) -> Self {
        Self {
            per_student: DEFAULT_PER_STUDENT,
            shared: max_connections - max_connections / 4,
            max_age: DEFAULT_MAX_AGE,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::for_capacity(handin_core::driver::ServeOptions::default().max_connections)
    }
}

#[derive(Default)]
struct Inner {
    next: u64,
    open: usize,
    by_student: HashMap<PersonId, Vec<(u64, Notify)>>,
}

/// The joined connections. See the [module documentation](self).
pub struct Sessions {
    limits: Limits,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("limits", &self.limits)
            .field("open", &self.open())
            .finish()
    }
}

impl Sessions {
    /// No connections yet, under `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Admits a connection of `student` (a student, or a member of staff: a TA's submission
    /// and staff connections count together), reachable through `notify`; returns its key for
    /// [`Sessions::leave`], or the refusal to end it with.
    pub fn join(&self, student: &PersonId, notify: Notify) -> Result<u64, Refusal> {
        let mut inner = self.lock();
        let mine = inner.by_student.get(student).map_or(0, Vec::len);
        if mine >= self.limits.per_student {
            return Err(Refusal::new(
                RefusalCode::Unavailable,
                format!(
                    "you already have {mine} connections open to Blackboard (at most {} at once): \
                     wait for your other commands to finish, then try again",
                    self.limits.per_student
                ),
            ));
        }
        if mine > 0 && inner.open >= self.limits.shared {
            return Err(Refusal::new(
                RefusalCode::Unavailable,
                "Blackboard is busy and keeps its remaining connections for students with none \
                 open: wait for your other command to finish, then try again",
            ));
        }
        inner.next += 1;
        let key = inner.next;
        inner.open += 1;
        inner
            .by_student
            .entry(student.clone())
            .or_default()
            .push((key, notify));
        Ok(key)
    }

    /// Removes the connection `key` of `student`.
    pub fn leave(&self, student: &PersonId, key: u64) {
        let mut inner = self.lock();
        let Some(list) = inner.by_student.get_mut(student) else {
            return;
        };
        let before = list.len();
        list.retain(|(k, _)| *k != key);
        let removed = before - list.len();
        if list.is_empty() {
            inner.by_student.remove(student);
        }
        inner.open -= removed;
    }

    /// Wakes every joined connection (the revoked set changed: each checks its own
    /// certificate against it). Returns how many were woken.
    pub fn wake_all(&self) -> usize {
        // Notified outside the lock: a transport may run the connection at once.
        let all: Vec<Notify> = self
            .lock()
            .by_student
            .values()
            .flat_map(|l| l.iter().map(|(_, n)| n.clone()))
            .collect();
        for notify in &all {
            notify();
        }
        all.len()
    }

    /// Authenticated connections open now.
    pub fn open(&self) -> usize {
        self.lock().open
    }

    /// Connections `student` has open now.
    pub fn of(&self, student: &PersonId) -> usize {
        self.lock().by_student.get(student).map_or(0, Vec::len)
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the map consistent before it can panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn id(n: u32) -> PersonId {
        PersonId::parse(&format!("11550{n:05}")).expect("id")
    }

    fn noop() -> Notify {
        Arc::new(|| {})
    }

    fn limits(per_student: usize, shared: usize) -> Limits {
        Limits {
            per_student,
            shared,
            max_age: DEFAULT_MAX_AGE,
        }
    }

    #[test]
    fn one_student_cannot_hold_more_than_the_per_student_limit() {
        let s = Sessions::new(limits(2, 100));
        let a = s.join(&id(1), noop()).expect("first");
        s.join(&id(1), noop()).expect("second");
        let r = s.join(&id(1), noop()).expect_err("third");
        assert_eq!(r.code, RefusalCode::Unavailable);
        assert!(r.reason.contains("2 connections open"), "{}", r.reason);
        // Another student is not affected, and a slot freed can be taken again.
        s.join(&id(2), noop()).expect("another student");
        s.leave(&id(1), a);
        s.join(&id(1), noop()).expect("after one left");
        assert_eq!(s.of(&id(1)), 2);
        assert_eq!(s.open(), 3);
    }

    #[test]
    fn past_the_shared_part_only_students_with_no_connection_join() {
        let s = Sessions::new(limits(4, 3));
        for _ in 0..3 {
            s.join(&id(1), noop()).expect("within the shared part");
        }
        let r = s
            .join(&id(1), noop())
            .expect_err("a 4th for the same student");
        assert!(r.reason.contains("busy"), "{}", r.reason);
        for n in 2..10 {
            s.join(&id(n), noop())
                .expect("a student with none still gets in");
        }
        assert!(s.join(&id(2), noop()).is_err(), "but not a second one");
    }

    #[test]
    fn leaving_twice_or_unknown_keys_change_nothing() {
        let s = Sessions::new(limits(4, 100));
        let k = s.join(&id(1), noop()).expect("joins");
        s.leave(&id(1), k);
        s.leave(&id(1), k);
        s.leave(&id(3), 99);
        assert_eq!(s.open(), 0);
        assert_eq!(s.of(&id(1)), 0);
    }

    #[test]
    fn a_new_revoked_set_wakes_every_joined_connection() {
        let s = Sessions::new(limits(4, 100));
        let woken = Arc::new(AtomicUsize::new(0));
        let counter = || -> Notify {
            let w = woken.clone();
            Arc::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            })
        };
        s.join(&id(1), counter()).expect("joins");
        s.join(&id(1), counter()).expect("joins");
        let k = s.join(&id(2), counter()).expect("joins");
        s.leave(&id(2), k);
        assert_eq!(s.wake_all(), 2);
        assert_eq!(woken.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_default_keeps_a_quarter_for_students_with_none() {
        let l = Limits::for_capacity(64);
        assert_eq!(l.shared, 48);
        assert_eq!(l.per_student, DEFAULT_PER_STUDENT);
    }
}
