//! Lesson 11's exercise, solved: the shared half of `LWLockAttemptLock`.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::{EXCLUSIVE, SHARED};

// ANCHOR: try_acquire_shared
/// One attempt to take the lock shared, without waiting: `true` if this process now holds
/// it (one more shared holder in `state`), `false` if a writer holds it.
pub fn try_acquire_shared(state: &AtomicU32) -> bool {
    let mut old = state.load(Ordering::Relaxed);
    loop {
        if old & EXCLUSIVE != 0 {
            return false; // a writer is inside: the caller queues itself and sleeps
        }
        // One more holder, every flag bit kept as it was. If anything changed the word
        // since we read it (another reader, a writer, a flag), the exchange fails, hands
        // us the word as it is now, and we decide again.
        match state.compare_exchange_weak(old, old + SHARED, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(now) => old = now,
        }
    }
}
// ANCHOR_END: try_acquire_shared
