//! Releasing the lock, and whom a release wakes: PostgreSQL's `LWLockRelease` and
//! `LWLockWakeup`.
//!
//! A release is one atomic subtraction, and the lock is free for anyone from that instant.
//! Only a release that leaves it free with waiters queued (and waking allowed) takes the
//! wait-list lock and wakes someone: the first waiter if it wants the lock exclusive, or
//! every waiter that wants it shared. They get no hand-over: they try again, like anyone.

use std::sync::atomic::Ordering;

use super::{
    EXCLUSIVE, HAS_WAITERS, LOCK_MASK, LOCKED, LwLock, MAX_PROCS, Mode, RELEASE_OK, SHARED,
    SHARED_MASK, describe,
};

// ANCHOR: release
/// The slots one release woke, in queue order.
pub struct Woken {
    slots: [u32; MAX_PROCS],
    count: usize,
}

impl Woken {
    pub fn slots(&self) -> &[u32] {
        &self.slots[..self.count]
    }
}

impl LwLock {
    /// `LWLockRelease`: gives up this process's hold (taken in `mode`) and, if that left the
    /// lock free with waiters queued, wakes them. Returns the slots it woke.
    pub fn release(&self, mode: Mode) -> Woken {
        let value = match mode {
            Mode::Shared => SHARED,
            Mode::Exclusive => EXCLUSIVE,
        };
        // From here on, any process may take the lock, even before we wake anybody.
        let old = self.state.fetch_sub(value, Ordering::Release);
        let held = match mode {
            Mode::Shared => old & SHARED_MASK != 0 && old & EXCLUSIVE == 0,
            Mode::Exclusive => old & EXCLUSIVE != 0,
        };
        if !held {
            panic!(
                "release({mode:?}) of a lock not held that way: the word read {}",
                describe(old)
            );
        }
        let now = old - value;
        let wake = HAS_WAITERS | RELEASE_OK;
        if now & wake == wake && now & LOCK_MASK == 0 {
            self.wake_up()
        } else {
            Woken {
                slots: [0; MAX_PROCS],
                count: 0,
            }
        }
    }

    /// `LWLockWakeup`: takes waiters off the queue and posts their semaphores. If the first
    /// waiter wants the lock exclusive, it alone; otherwise every waiter that wants it
    /// shared, anywhere in the queue (they can all hold it together), and no writer.
    fn wake_up(&self) -> Woken {
        let mut woken = Woken {
            slots: [0; MAX_PROCS],
            count: 0,
        };
        self.wait_list_lock();
        let (mut previous, mut current) = (0, self.head.load(Ordering::Relaxed));
        while current != 0 {
            let proc = &self.procs[current as usize - 1];
            let next = proc.next.load(Ordering::Relaxed);
            let exclusive = proc.mode.load(Ordering::Relaxed) == Mode::Exclusive as u32;
            if exclusive && woken.count > 0 {
                (previous, current) = (current, next); // a writer stays queued behind readers
                continue;
            }
            self.unlink(previous, current, next);
            woken.slots[woken.count] = current - 1;
            woken.count += 1;
            if exclusive {
                break; // a writer alone
            }
            current = next;
        }
        // Drop the wait-list lock, and in the same step: no more wake-ups until a woken
        // process has run (RELEASE_OK); no HAS_WAITERS once the queue is empty.
        let empty = self.head.load(Ordering::Relaxed) == 0;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            let mut new = old & !LOCKED;
            if woken.count > 0 {
                new &= !RELEASE_OK;
            }
            if empty {
                new &= !HAS_WAITERS;
            }
            match self
                .state
                .compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
        for &slot in woken.slots() {
            // Release: the unlinking above happens before the waiter sees 0 here.
            self.procs[slot as usize]
                .waiting
                .store(0, Ordering::Release);
            self.post(slot as usize);
        }
        woken
    }
}
// ANCHOR_END: release
