//! Lesson 11's exercise: the shared half of `LWLockAttemptLock`.
//!
//! Write `try_acquire_shared`, then run `cargo course check 11` until it is green. `cargo
//! course hint 11` gives hints, one level at a time; src/solution.rs has an answer.

#[allow(unused_imports)] // you will need these
use std::sync::atomic::{AtomicU32, Ordering};

#[allow(unused_imports)]
use crate::{EXCLUSIVE, SHARED};

/// One attempt to take the lock shared, without waiting: `true` if this process now holds
/// it, `false` if a writer holds it. The word's bits (see src/lwlock/state.rs):
/// bits 0-17 count the shared holders, `EXCLUSIVE` (bit 18) is set while a writer holds
/// the lock, and bits 29-31 are flags that other processes set and clear at any moment.
///
/// Many readers may hold the lock at once; none while a writer does. Add one shared
/// holder (`SHARED`) in a single atomic step that also makes sure no writer got in, and
/// leave every other bit as it is. Never wait here: `LwLock::acquire` queues and sleeps.
pub fn try_acquire_shared(state: &AtomicU32) -> bool {
    let _ = state;
    todo!("add one shared holder with compare_exchange, unless EXCLUSIVE is set")
}
