//! Lesson 10's exercise, solved: the futex mutex's unlock.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::{FutexScope, futex_wake};

// ANCHOR: unlock
/// Releases a [`FutexMutex`](crate::FutexMutex) whose state word is `state` (0 unlocked,
/// 1 locked, 2 locked with possible sleepers), waking one sleeper if there may be one.
pub fn unlock(state: &AtomicU32) {
    // One atomic step reads the old state and frees the lock: a waiter that turns 1 into
    // 2 does so either before the swap (we see 2 and wake it) or after it (it finds 0 and
    // takes the lock). Release: our writes under the lock happen before the next holder's.
    if state.swap(0, Ordering::Release) == 2 {
        // Without FUTEX_PRIVATE_FLAG: the sleeper may be another process.
        futex_wake(state, 1, FutexScope::Shared);
    }
}
// ANCHOR_END: unlock
