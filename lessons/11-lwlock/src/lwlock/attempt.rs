//! One attempt at the lock, in either mode, that never waits: PostgreSQL's
//! `LWLockAttemptLock`.
//!
//! Checking that the lock is free enough and taking it must be one indivisible step, or a
//! writer could slip in between (lesson 08): so each attempt is a compare-and-swap loop on
//! the whole state word. The exclusive half is here; the shared half is the exercise.

use std::sync::atomic::{AtomicU32, Ordering};

use super::{EXCLUSIVE, LOCK_MASK, LwLock, Mode};
use crate::exercise;

// ANCHOR: attempt
/// One attempt at the exclusive mode, without waiting: succeeds only on a lock nobody
/// holds in either mode. Flags are kept as they are.
pub fn try_acquire_exclusive(state: &AtomicU32) -> bool {
    let mut old = state.load(Ordering::Relaxed);
    loop {
        if old & LOCK_MASK != 0 {
            return false;
        }
        match state.compare_exchange_weak(
            old,
            old + EXCLUSIVE,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(now) => old = now,
        }
    }
}

impl LwLock {
    /// `LWLockAttemptLock`: the shared mode is the exercise (src/exercise.rs).
    pub(super) fn attempt(&self, mode: Mode) -> bool {
        match mode {
            Mode::Shared => exercise::try_acquire_shared(&self.state),
            Mode::Exclusive => try_acquire_exclusive(&self.state),
        }
    }
}
// ANCHOR_END: attempt

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HAS_WAITERS, RELEASE_OK, SHARED};

    #[test]
    fn exclusive_takes_only_a_lock_nobody_holds_and_keeps_the_flags() {
        let state = AtomicU32::new(RELEASE_OK | HAS_WAITERS);
        assert!(try_acquire_exclusive(&state));
        assert_eq!(
            state.load(Ordering::Relaxed),
            EXCLUSIVE | RELEASE_OK | HAS_WAITERS
        );
        assert!(!try_acquire_exclusive(&state));
        let shared = AtomicU32::new(SHARED | RELEASE_OK);
        assert!(!try_acquire_exclusive(&shared));
    }
}
