//! The region's spinlocks: lesson 09's lock word, kept in the region's header, and taken
//! through lesson 08's guard.
//!
//! A guard proves that a lock is held by borrowing the lock for as long as it holds it, so
//! the lock must be something that stays put: not lesson 09's `SpinLock`, a handle made on
//! the fly around a word, but the word itself, where every process finds it, in the
//! header. `RegionLock` is that word, and a `ProcessLock` that takes it the way PostgreSQL
//! takes `ShmemLock`: lesson 09's `s_lock`, with PostgreSQL's backoff.

use common::Result;
use l08_races::ProcessLock;
use l09_spinlock::{Backoff, LockWord, SpinLock};

// ANCHOR: region_lock
/// A spinlock that lives in the region: one [`LockWord`] (0: free, 1: held), no pointer.
#[repr(transparent)]
pub struct RegionLock {
    word: LockWord,
}

impl RegionLock {
    /// A free lock, the same bytes as zeroed memory.
    pub const fn free() -> RegionLock {
        RegionLock {
            word: LockWord {
                state: std::sync::atomic::AtomicU32::new(0),
            },
        }
    }

    fn spinlock(&self) -> SpinLock<'_> {
        SpinLock {
            word: &self.word,
            backoff: Backoff::POSTGRES,
        }
    }
}

impl ProcessLock for RegionLock {
    /// `SpinLockAcquire`: an error only if the lock stays taken for minutes (stuck).
    #[track_caller]
    fn acquire(&self) -> Result<()> {
        ProcessLock::acquire(&self.spinlock())
    }
    fn release(&self) {
        ProcessLock::release(&self.spinlock());
    }
}
// ANCHOR_END: region_lock
