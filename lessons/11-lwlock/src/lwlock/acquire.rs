//! Taking the lock: try, queue, try again, sleep. PostgreSQL's `LWLockAcquire`.
//!
//! A process that found the lock taken cannot simply queue and sleep: the holder may have
//! released it in between, looked at an empty queue, and gone, and nobody would ever wake
//! the sleeper. So it queues first and then tries once more; any release after that sees
//! it in the queue. A woken process does not own the lock: it tries again from the start.

use std::sync::atomic::Ordering;

use super::{LwLock, Mode, RELEASE_OK};

// ANCHOR: acquire
impl LwLock {
    /// `LWLockAcquire`: returns once this process holds the lock in `mode`; `true` if it
    /// had to sleep for it.
    pub fn acquire(&self, mode: Mode) -> bool {
        let mut slept = false;
        let mut extra_wakeups = 0;
        loop {
            // 1. Try. Nearly always enough, and no system call.
            if self.attempt(mode) {
                break;
            }
            // 2. Queue ourselves. The lock may have been freed a moment ago, by a process
            // that looked at the queue before we were in it: nobody would wake us.
            let me = self.my_proc();
            self.queue_self(me, mode);
            // 3. So try again. Any release from now on sees HAS_WAITERS and wakes us.
            if self.attempt(mode) {
                extra_wakeups += self.dequeue_self(me);
                break;
            }
            // 4. Sleep until a releaser takes us off the queue and posts our semaphore.
            extra_wakeups += self.sleep(me);
            slept = true;
            // Woken: we are off the queue. Let releases wake waiters again, and retry.
            self.state.fetch_or(RELEASE_OK, Ordering::Relaxed);
        }
        // Posts that came while we did not wait for them belong to a later sleep.
        for _ in 0..extra_wakeups {
            self.post(self.my_proc());
        }
        slept
    }

    /// Sleeps on slot `me`'s semaphore until a releaser has cleared `waiting`. Returns how
    /// many posts it took that were not that one (none, in this lesson: in PostgreSQL the
    /// same semaphore serves other waits too, so a post can mean something else).
    pub(super) fn sleep(&self, me: usize) -> u32 {
        let proc = &self.procs[me];
        let mut extra = 0;
        loop {
            if let Err(err) = proc.sem.wait() {
                panic!("{err}");
            }
            if proc.waiting.load(Ordering::Acquire) == 0 {
                return extra;
            }
            extra += 1;
        }
    }

    pub(super) fn post(&self, slot: usize) {
        if let Err(err) = self.procs[slot].sem.post() {
            panic!("{err}");
        }
    }
}
// ANCHOR_END: acquire
