//! Each process's slot: where it sleeps, and its place in a wait queue.
//!
//! A waiter cannot sleep on the lock word itself and be woken one by one, so each process
//! has a slot of its own with a semaphore, like PostgreSQL's `PGPROC`. Slots live in shared
//! memory next to the lock, so that a releasing process can reach a waiter's semaphore.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use l10_sleeping_locks::PosixSemaphore;

use super::LwLock;

// ANCHOR: proc
/// One process's slot, like PostgreSQL's `PGPROC`: where it sleeps, and its place in a
/// wait queue. Slots live in shared memory, so a releasing process can reach a waiter's.
/// Links are slot numbers plus one (0: none), never pointers.
#[repr(C, align(64))] // one x86-64 cache line each, as PostgreSQL pads its semaphores (to 128)
pub struct Proc {
    /// Starts at 0; the process sleeps in `wait`, a releaser wakes it with `post`.
    pub(super) sem: PosixSemaphore,
    /// The process that claimed this slot (0: free).
    owner: AtomicU32,
    /// 1 from queueing until a releaser takes it off the queue (`lwWaiting`).
    pub(super) waiting: AtomicU32,
    /// The mode it waits for, a [`Mode`] (`lwWaitMode`).
    pub(super) mode: AtomicU32,
    /// The next slot in the queue, plus one (`lwWaitLink`).
    pub(super) next: AtomicU32,
}

/// How many processes can use one lock: slots are claimed once per process, never freed.
pub const MAX_PROCS: usize = 72;
// ANCHOR_END: proc

// ANCHOR: my_proc
impl LwLock {
    /// This process's slot, claimed the first time it must wait (PostgreSQL's
    /// `InitProcess` gives each backend its `PGPROC` when it starts; `MyProc` points to it).
    /// A forked child inherits its parent's memory, cache included, so the cache says
    /// whose it is.
    pub(super) fn my_proc(&self) -> usize {
        // Per process, not in shared memory: (pid, lock address, slot).
        static MINE: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
        let pid = std::process::id();
        let here = self as *const LwLock as u64;
        let cached = MINE[0].load(Ordering::Relaxed);
        if cached >> 32 == u64::from(pid) && MINE[1].load(Ordering::Relaxed) == here {
            return (cached & 0xffff_ffff) as usize;
        }
        let claimed = (self.claimed.load(Ordering::Acquire) as usize).min(MAX_PROCS);
        let slot = match (0..claimed).find(|&s| self.procs[s].owner.load(Ordering::Acquire) == pid)
        {
            Some(slot) => slot,
            None => {
                let slot = self.claimed.fetch_add(1, Ordering::AcqRel) as usize;
                if slot >= MAX_PROCS {
                    panic!(
                        "no free slot: all {MAX_PROCS} of this lock's process slots are \
                         taken (PostgreSQL: \"sorry, too many clients already\")"
                    );
                }
                self.procs[slot].owner.store(pid, Ordering::Release);
                slot
            }
        };
        MINE[0].store(u64::from(pid) << 32 | slot as u64, Ordering::Relaxed);
        MINE[1].store(here, Ordering::Relaxed);
        slot
    }
}
// ANCHOR_END: my_proc

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_one_cache_line() {
        assert_eq!(size_of::<Proc>(), 64);
    }
}
