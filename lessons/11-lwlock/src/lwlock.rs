//! The LWLock: one atomic state word, a wait queue, and the processes' slots to sleep in.
//!
//! The design is `lwlock.c`'s since PostgreSQL 9.5. Its parts, one file each under
//! `src/lwlock/`, in the order the chapter tells them:
//! - `state.rs`: the whole lock is one atomic word: a count of shared holders, an exclusive
//!   bit, and flags. Taking and releasing it needs no system call while nobody waits;
//! - `proc.rs`: each process's slot (like a `PGPROC`), with the semaphore it sleeps on;
//! - `attempt.rs` and `acquire.rs`: one compare-and-swap; failing that, queue, try once
//!   more, and sleep;
//! - `wait_list.rs`: the queue, guarded by one more bit of the same word (`LOCKED`);
//! - `release.rs`: one atomic subtraction; a release that leaves the lock free with
//!   waiters queued wakes them, and they try again (no hand-over);
//! - `held.rs`: the guard a process holds the lock through, and the lock as lesson 08's
//!   `ProcessLock`.

use std::sync::atomic::{AtomicU32, Ordering};

use common::Result;
use l10_sleeping_locks::{PosixSemaphore, SharedLock};

mod acquire;
mod attempt;
mod held;
mod proc;
mod release;
mod state;
mod wait_list;

pub use attempt::try_acquire_exclusive;
pub use held::{Held, SharedMode};
pub use proc::{MAX_PROCS, Proc};
pub use release::Woken;
pub use state::{
    EXCLUSIVE, HAS_WAITERS, LOCK_MASK, LOCKED, Mode, RELEASE_OK, SHARED, SHARED_MASK, describe,
};
pub use wait_list::describe_queue;

// ANCHOR: lwlock
/// The lock: one state word, a wait queue, and the processes' slots (in PostgreSQL the
/// `PGPROC`s are one array for every lock; one lock per mapping keeps the lesson short).
#[repr(C)]
pub struct LwLock {
    /// Holders and flags: see [`SHARED`], [`EXCLUSIVE`], [`LOCKED`], [`RELEASE_OK`] and
    /// [`HAS_WAITERS`]. A new lock is `RELEASE_OK`: free, nobody waiting.
    state: AtomicU32,
    /// The first and last queued slot, plus one (0: empty). Only with `LOCKED` held.
    head: AtomicU32,
    tail: AtomicU32,
    /// How many slots processes have claimed.
    claimed: AtomicU32,
    procs: [Proc; MAX_PROCS],
}
// ANCHOR_END: lwlock

impl LwLock {
    /// A free lock and its slots in a shared mapping of their own, to be made before fork.
    pub fn new_shared() -> Result<SharedLock<LwLock>> {
        // SAFETY: a fresh mapping is zeroed, aligned, and used by nobody yet.
        unsafe { SharedLock::make(|at| LwLock::init(at)) }
    }

    /// Makes a free lock in place, in shared memory that is already mapped (lesson 14 puts
    /// its page locks in its region this way, as PostgreSQL puts its LWLocks in its own).
    ///
    /// # Safety
    /// `at` is zeroed, 64-byte aligned, writable memory for an `LwLock` that no process
    /// uses yet, and the lock is never moved or copied afterwards.
    pub unsafe fn init(at: *mut LwLock) -> Result<()> {
        // SAFETY: zeroed memory holds valid atomics and an empty queue (the caller's
        // promise); each semaphore is made in place and never moves; then RELEASE_OK.
        unsafe {
            for slot in 0..MAX_PROCS {
                PosixSemaphore::init(&raw mut (*at).procs[slot].sem, 0)?;
            }
            (*at).state.store(RELEASE_OK, Ordering::Release);
        }
        Ok(())
    }

    /// The state word right now (already stale when you look at it).
    pub fn state(&self) -> u32 {
        self.state.load(Ordering::Acquire)
    }

    /// The address of slot `slot`'s semaphore: what a sleeping waiter's futex call names.
    pub fn semaphore_address(&self, slot: usize) -> usize {
        &self.procs[slot].sem as *const PosixSemaphore as usize
    }
}

// Not with the `exercise` feature: this test takes the lock, which then runs the learner's
// `try_acquire_shared`, and a wrong one could make it sleep for ever; the exercise's own
// checks have deadlines and say what is wrong.
#[cfg(all(test, not(feature = "exercise")))]
mod tests {
    use super::*;

    #[test]
    fn one_process_takes_and_releases_in_both_modes() {
        let lock = LwLock::new_shared().unwrap();
        let first = lock.hold(Mode::Shared);
        let second = lock.hold(Mode::Shared);
        assert!(!first.slept() && !second.slept());
        assert_eq!(describe(lock.state()), "2 shared | RELEASE_OK");
        drop((first, second));
        // By hand, as the lesson's story does, to see whom a release woke: nobody.
        assert!(!lock.acquire(Mode::Exclusive));
        assert_eq!(describe(lock.state()), "exclusive | RELEASE_OK");
        assert_eq!(lock.release(Mode::Exclusive).slots(), &[] as &[u32]);
        assert_eq!(lock.state(), RELEASE_OK);
        assert!(lock.waiters().is_empty());
    }
}
