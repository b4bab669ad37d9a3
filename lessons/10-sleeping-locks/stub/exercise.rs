//! Lesson 10's exercise: the futex mutex's unlock.
//!
//! Write `unlock`, then run `cargo course check 10` until it is green. `cargo course hint
//! 10` gives hints, one level at a time; src/solution.rs has an answer.

#[allow(unused_imports)] // you will need these
use std::sync::atomic::{AtomicU32, Ordering};

#[allow(unused_imports)]
use crate::{FutexScope, futex_wake};

/// Releases a [`FutexMutex`](crate::FutexMutex) whose state word is `state`, and wakes one
/// sleeping process if there may be one. The states, as `FutexMutex`'s `acquire` uses them:
/// 0 unlocked; 1 locked, nobody sleeps; 2 locked, and some process may be asleep in
/// `FUTEX_WAIT` on this word (waiting for it to stop being 2).
///
/// The sleepers are other processes. Leave the lock free (0) for the next `lock`, and make
/// sure no sleeper stays asleep while the lock is free.
pub fn unlock(state: &AtomicU32) {
    let _ = state;
    todo!("free the lock, and wake one sleeper if the state was 2")
}
