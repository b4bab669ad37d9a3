//! The wait queue and the tiny spinlock that guards it: PostgreSQL's `LWLockWaitListLock`,
//! `LWLockQueueSelf` and `LWLockDequeueSelf`.
//!
//! Several processes change the queue, so it needs a lock of its own; PostgreSQL uses one
//! more bit of the state word, `LOCKED`, held for the handful of instructions it takes to
//! link or unlink a slot. The queue itself is a list linked by slot numbers, never pointers.

use std::sync::atomic::Ordering;

use l09_spinlock::{Backoff, SpinDelay};

use super::{HAS_WAITERS, LOCKED, LwLock, Mode, RELEASE_OK};

// ANCHOR: wait_list
impl LwLock {
    /// `LWLockWaitListLock`: sets `LOCKED` in the state word, a spinlock inside the lock.
    /// Held for a few instructions, so a waiter spins, reading only, with lesson 09's
    /// backoff (`perform_spin_delay` in PostgreSQL) in case the holder was descheduled.
    pub(super) fn wait_list_lock(&self) {
        loop {
            let old = self.state.fetch_or(LOCKED, Ordering::Acquire);
            if old & LOCKED == 0 {
                return;
            }
            let mut delay = SpinDelay::new(Backoff::POSTGRES);
            while self.state.load(Ordering::Relaxed) & LOCKED != 0 {
                if let Err(stuck) = delay.perform() {
                    panic!("{stuck} (the wait-list lock)");
                }
            }
            delay.finish();
        }
    }

    fn wait_list_unlock(&self) {
        self.state.fetch_and(!LOCKED, Ordering::Release);
    }

    /// `LWLockQueueSelf`: slot `me` goes to the end of the queue, waiting for `mode`.
    pub(super) fn queue_self(&self, me: usize, mode: Mode) {
        self.wait_list_lock();
        self.state.fetch_or(HAS_WAITERS, Ordering::Relaxed);
        let proc = &self.procs[me];
        proc.waiting.store(1, Ordering::Relaxed);
        proc.mode.store(mode as u32, Ordering::Relaxed);
        proc.next.store(0, Ordering::Relaxed);
        let link = me as u32 + 1;
        match self.tail.load(Ordering::Relaxed) {
            0 => self.head.store(link, Ordering::Relaxed),
            last => self.procs[last as usize - 1]
                .next
                .store(link, Ordering::Relaxed),
        }
        self.tail.store(link, Ordering::Relaxed);
        self.wait_list_unlock();
    }

    /// `LWLockDequeueSelf`: after the second attempt succeeded, take slot `me` off the
    /// queue again. A releaser may have done it already, and then its post is on the way:
    /// wait for it, so it cannot end a later sleep too early. Returns posts taken besides.
    pub(super) fn dequeue_self(&self, me: usize) -> u32 {
        self.wait_list_lock();
        let link = me as u32 + 1;
        let (mut previous, mut current) = (0, self.head.load(Ordering::Relaxed));
        while current != 0 && current != link {
            previous = current;
            current = self.procs[current as usize - 1]
                .next
                .load(Ordering::Relaxed);
        }
        let found = current == link;
        if found {
            let next = self.procs[me].next.load(Ordering::Relaxed);
            self.unlink(previous, current, next);
        }
        if self.head.load(Ordering::Relaxed) == 0 {
            self.state.fetch_and(!HAS_WAITERS, Ordering::Relaxed);
        }
        self.wait_list_unlock();
        if found {
            self.procs[me].waiting.store(0, Ordering::Relaxed);
            return 0;
        }
        // Someone woke us, and cleared RELEASE_OK for us: we never needed it, so set it.
        self.state.fetch_or(RELEASE_OK, Ordering::Relaxed);
        self.sleep(me)
    }

    /// Takes `current` (whose predecessor is `previous`, 0 at the head) off the queue.
    /// Only with `LOCKED` held.
    pub(super) fn unlink(&self, previous: u32, current: u32, next: u32) {
        match previous {
            0 => self.head.store(next, Ordering::Relaxed),
            p => self.procs[p as usize - 1]
                .next
                .store(next, Ordering::Relaxed),
        }
        if self.tail.load(Ordering::Relaxed) == current {
            self.tail.store(previous, Ordering::Relaxed);
        }
        self.procs[current as usize - 1]
            .next
            .store(0, Ordering::Relaxed);
    }

    /// The queue right now: each waiting slot and the mode it waits for.
    pub fn waiters(&self) -> Vec<(usize, Mode)> {
        self.wait_list_lock();
        let mut list = Vec::new();
        let mut current = self.head.load(Ordering::Relaxed);
        while current != 0 {
            let proc = &self.procs[current as usize - 1];
            let mode = match proc.mode.load(Ordering::Relaxed) {
                1 => Mode::Shared,
                _ => Mode::Exclusive,
            };
            list.push((current as usize - 1, mode));
            current = proc.next.load(Ordering::Relaxed);
        }
        self.wait_list_unlock();
        list
    }
}
// ANCHOR_END: wait_list

/// The queue in words: `slot 0 (exclusive), slot 1 (shared)`, or `empty`.
pub fn describe_queue(waiters: &[(usize, Mode)]) -> String {
    if waiters.is_empty() {
        return "empty".into();
    }
    let each: Vec<String> = waiters
        .iter()
        .map(|(slot, mode)| match mode {
            Mode::Shared => format!("slot {slot} (shared)"),
            Mode::Exclusive => format!("slot {slot} (exclusive)"),
        })
        .collect();
    each.join(", ")
}
