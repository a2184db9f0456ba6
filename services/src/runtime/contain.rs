//! Containing panics in worker jobs, so that a bug hit by one request costs that request only:
//! the thread that ran the job logs the panic and goes on with the next one, and the
//! connection waiting for the job's answer gets a refusal instead of waiting forever.

use super::Inbox;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `job`, catching a panic: logged once, with its message and the thread's name, and not
/// propagated. Returns whether the job finished. Whatever the job owned is dropped while its
/// panic unwinds, so the [`Promise`]s it held answer their connections.
pub fn run(job: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(()) => true,
        Err(payload) => {
            let thread = std::thread::current();
            tracing::error!(
                thread = thread.name().unwrap_or("unnamed"),
                panic = message(payload.as_ref()),
                "a job panicked: the request it served is refused, and the thread goes on"
            );
            false
        }
    }
}

/// The message a panic was raised with.
pub fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// A job's promise to answer its connection through an [`Inbox`]. Kept with
/// [`keep`](Promise::keep), or let go with [`release`](Promise::release) when no answer is due
/// (a write that succeeded); a promise dropped otherwise (the job panicked, or was dropped
/// without running) posts its fallback answer, so the connection never waits for nothing.
pub struct Promise<T: Send + 'static> {
    inbox: Option<Inbox<T>>,
    broken: fn() -> T,
}

impl<T: Send + 'static> std::fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Promise")
            .field("pending", &self.inbox.is_some())
            .finish()
    }
}

impl<T: Send + 'static> Promise<T> {
    /// A promise to answer through `inbox`; `broken` makes the answer posted if it is not kept.
    pub fn new(inbox: Inbox<T>, broken: fn() -> T) -> Self {
        Self {
            inbox: Some(inbox),
            broken,
        }
    }

    /// Posts the answer.
    pub fn keep(mut self, answer: T) {
        if let Some(inbox) = self.inbox.take() {
            inbox.post(answer);
        }
    }

    /// No answer is due after all.
    pub fn release(mut self) {
        self.inbox = None;
    }
}

impl<T: Send + 'static> Drop for Promise<T> {
    fn drop(&mut self) {
        if let Some(inbox) = self.inbox.take() {
            inbox.post((self.broken)());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn inbox() -> Inbox<&'static str> {
        Inbox::new(Arc::new(|| {}))
    }

    #[test]
    fn a_panicking_job_is_caught_and_its_broken_promise_answers() {
        let inbox = inbox();
        let promise = Promise::new(inbox.clone(), || "refused");
        let finished = run(move || {
            let _promise = promise;
            panic!("a bug");
        });
        assert!(!finished);
        assert_eq!(inbox.take(), ["refused"]);
    }

    #[test]
    fn a_kept_or_released_promise_posts_nothing_more() {
        let inbox = inbox();
        Promise::new(inbox.clone(), || "refused").keep("answer");
        Promise::new(inbox.clone(), || "refused").release();
        assert!(run(|| {}));
        assert_eq!(inbox.take(), ["answer"]);
    }

    #[test]
    fn a_panic_message_is_read_from_either_payload() {
        let text = catch_unwind(|| panic!("static")).expect_err("panics");
        assert_eq!(message(text.as_ref()), "static");
        let n = 3;
        let formatted = catch_unwind(|| panic!("formatted {n}")).expect_err("panics");
        assert_eq!(message(formatted.as_ref()), "formatted 3");
    }
}
