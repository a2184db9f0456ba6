//! A value that many readers share and that is replaced whole, such as the TLS configuration a
//! server gives new connections (replaced when the CRL changes).
//!
//! Readers get an [`Arc`] to the value in force and keep it as long as they like; a replacement
//! only affects later reads. A poisoned lock is used anyway: the value behind it is only ever
//! replaced whole, so it cannot be left half-written.

use std::sync::{Arc, RwLock};

/// A shared value, replaced whole. See the [module documentation](self).
#[derive(Debug)]
pub struct Swap<T>(RwLock<Arc<T>>);

impl<T> Swap<T> {
    /// Starts with `value`.
    pub fn new(value: T) -> Self {
        Self(RwLock::new(Arc::new(value)))
    }

    /// The value in force now.
    pub fn get(&self) -> Arc<T> {
        load(&self.0)
    }

    /// Replaces the value for every later [`Swap::get`].
    pub fn set(&self, value: T) {
        store(&self.0, value);
    }
}

/// The value in force now in `lock`, for a lock held outside a [`Swap`].
pub fn load<T>(lock: &RwLock<Arc<T>>) -> Arc<T> {
    match lock.read() {
        Ok(c) => c.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Replaces the value in `lock`, for a lock held outside a [`Swap`].
pub fn store<T>(lock: &RwLock<Arc<T>>, value: T) {
    let value = Arc::new(value);
    match lock.write() {
        Ok(mut c) => *c = value,
        Err(poisoned) => *poisoned.into_inner() = value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_what_they_got_and_see_replacements_later() {
        let swap = Swap::new(1);
        let before = swap.get();
        swap.set(2);
        assert_eq!(*before, 1);
        assert_eq!(*swap.get(), 2);
    }

    #[test]
    fn a_poisoned_lock_is_still_used() {
        let lock = Arc::new(RwLock::new(Arc::new(1)));
        let held = lock.clone();
        let _ = std::thread::spawn(move || {
            let _guard = held.write();
            panic!("poison the lock");
        })
        .join();
        assert!(lock.is_poisoned());
        store(&lock, 3);
        assert_eq!(*load(&lock), 3);
    }
}
