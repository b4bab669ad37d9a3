//! A mutex in one word of shared memory, and two futex calls: the lesson's own sleeping lock.
//!
//! The word's three states say all: unlocked, locked, and locked with sleepers. Taking a
//! free lock is one compare-and-swap in user space; the kernel hears about the lock only
//! when processes collide. Its calls carry no `FUTEX_PRIVATE_FLAG`, because the sleepers
//! are other processes. The unlocking half is the lesson's exercise.

use std::sync::atomic::{AtomicU32, Ordering};

use common::Result;
use l08_races::ProcessLock;

use crate::{FutexScope, SharedLock, exercise, futex_wait};

// ANCHOR: futex_mutex
/// A mutex made of one word in shared memory, like "Mutex, Take 3" of Ulrich Drepper's
/// "Futexes Are Tricky". It never enters the kernel unless two processes want it at once.
/// All-zero bytes are an unlocked mutex, so a zeroed shared mapping holds one already.
#[repr(C)]
pub struct FutexMutex {
    /// 0: unlocked. 1: locked, and nobody sleeps on it. 2: locked, and some process may
    /// be asleep in `FUTEX_WAIT` on this word: whoever unlocks must wake one.
    state: AtomicU32,
}

impl FutexMutex {
    pub const fn new() -> FutexMutex {
        FutexMutex {
            state: AtomicU32::new(0),
        }
    }
}

impl ProcessLock for FutexMutex {
    fn acquire(&self) -> Result<()> {
        // Uncontended: 0 -> 1 in user space, no system call at all.
        if self
            .state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Ok(());
        }
        // Contended: say "someone sleeps" (2) and sleep while the word stays 2. A swap that
        // returns 0 means the lock was free: we now hold it, in state 2, which costs at
        // most one needless wake when we unlock.
        while self.state.swap(2, Ordering::Acquire) != 0 {
            futex_wait(&self.state, 2, FutexScope::Shared);
        }
        Ok(())
    }

    /// Releases the lock and wakes one sleeper if there may be one: the exercise
    /// (src/exercise.rs; the answer is in src/solution.rs).
    fn release(&self) {
        exercise::unlock(&self.state);
    }
}
// ANCHOR_END: futex_mutex

impl FutexMutex {
    /// The state word right now (0, 1 or 2), for the story and the tests.
    pub fn state(&self) -> u32 {
        self.state.load(Ordering::Relaxed)
    }

    /// The address of the state word: what waiters sleep on.
    pub fn word(&self) -> &AtomicU32 {
        &self.state
    }

    /// An unlocked mutex in a shared mapping of its own, to be created before fork.
    pub fn new_shared() -> Result<SharedLock<FutexMutex>> {
        // SAFETY: all-zero bytes are an unlocked FutexMutex; nothing else to initialize.
        unsafe { SharedLock::make(|_| Ok(())) }
    }
}

impl Default for FutexMutex {
    fn default() -> Self {
        FutexMutex::new()
    }
}

// With the `exercise` feature, unlock is the learner's stub: its own checks say more.
#[cfg(all(test, not(feature = "exercise")))]
mod tests {
    use super::*;

    #[test]
    fn an_uncontended_futex_mutex_goes_0_1_0() {
        let mutex = FutexMutex::new();
        let held = mutex.lock().unwrap();
        assert_eq!(mutex.state(), 1);
        drop(held);
        assert_eq!(mutex.state(), 0);
    }
}
