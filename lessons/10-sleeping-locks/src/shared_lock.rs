//! A lock made in place in shared memory, before fork, and never moved.
//!
//! The futex mutex, the pthread mutex and the POSIX semaphore are plain memory whose
//! address is part of their identity: the kernel files futex sleepers by it, and a
//! `pthread_mutex_t` or `sem_t` must not be copied once initialized. So each lives in a
//! shared mapping of its own, made before fork, and processes pass around handles to it.

use std::ops::Deref;

use common::Result;
use l08_races::Shared;

// ANCHOR: shared_lock
/// A lock made in place in a shared mapping of its own (lesson 08's [`Shared`]), before
/// fork: every process forked afterwards finds it at the same address. Moving a
/// `SharedLock` moves the handle, never the lock, whose address is part of its identity
/// (the kernel files futex waiters by it). Dereferences to the lock.
pub struct SharedLock<L> {
    memory: Shared<L>,
}

impl<L> SharedLock<L> {
    /// Maps zeroed shared memory for an `L` and runs `init` on it.
    ///
    /// # Safety
    /// When `init` returns `Ok`, the memory must hold a valid `L`, usable through `&L` by
    /// many processes at once.
    pub unsafe fn make(init: impl FnOnce(*mut L) -> Result<()>) -> Result<SharedLock<L>> {
        let memory = Shared::<L>::new()?;
        init(memory.as_ptr())?;
        Ok(SharedLock { memory })
    }

    pub fn as_ptr(&self) -> *mut L {
        self.memory.as_ptr()
    }
}

impl<L: Sync> Deref for SharedLock<L> {
    type Target = L;
    fn deref(&self) -> &L {
        // SAFETY: `make`'s caller promised a valid, shareable L; the mapping lives as long
        // as `self`.
        unsafe { &*self.memory.as_ptr() }
    }
}
// SAFETY: a `&SharedLock<L>` gives out nothing but a `&L`, which `L: Sync` allows to share.
unsafe impl<L: Sync> Sync for SharedLock<L> {}
// ANCHOR_END: shared_lock
