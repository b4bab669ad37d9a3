//! Step 2: test before set, with a spin hint (PostgreSQL's `TAS_SPIN` and `SPIN_DELAY`).
//!
//! Waiters that only read leave the holder's cache line alone; they try the write when a
//! read says the lock is free.

use std::sync::atomic::Ordering;

use common::Result;
use l08_races::ProcessLock;

use crate::{LockWord, release, tas};

// ANCHOR: tas_spin
/// Step 2: look before swapping (PostgreSQL's `TAS_SPIN`). A plain load can be answered
/// from the waiter's own cached copy of the line, so waiters only read until the holder's
/// release invalidates it; only then do they try the swap. Between looks, a spin hint
/// (`SPIN_DELAY()`: the PAUSE instruction on x86, YIELD/ISB on ARM) tells the CPU that this
/// is a wait loop: it saves power and lets a sibling hyperthread run.
pub struct TasSpinLock<'a> {
    pub word: &'a LockWord,
}

/// Test, then test-and-set: 0 if the lock was free and is now ours.
pub fn tas_spin(word: &LockWord) -> u32 {
    if word.state.load(Ordering::Relaxed) != 0 {
        return 1; // held: do not even try the write
    }
    tas(word)
}

impl ProcessLock for TasSpinLock<'_> {
    fn acquire(&self) -> Result<()> {
        while tas_spin(self.word) != 0 {
            std::hint::spin_loop();
        }
        Ok(())
    }
    fn release(&self) {
        release(self.word);
    }
}
// ANCHOR_END: tas_spin
