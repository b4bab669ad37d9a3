//! Step 1: plain test-and-set, retried until it succeeds.
//!
//! The simplest lock that works across processes, and a correct one. What it costs shows
//! only when processes wait for it: every try is a write.

use common::Result;
use l08_races::ProcessLock;

use crate::{LockWord, release, tas};

// ANCHOR: tas
/// Step 1: swap until the swap returns 0. Correct, and fine when nobody waits long; but
/// every try is a write, and a write needs the cache line to itself, so waiting processes
/// pull the line away from the holder (and from each other) over and over.
pub struct TasLock<'a> {
    pub word: &'a LockWord,
}

impl ProcessLock for TasLock<'_> {
    fn acquire(&self) -> Result<()> {
        while tas(self.word) != 0 {}
        Ok(())
    }
    fn release(&self) {
        release(self.word);
    }
}
// ANCHOR_END: tas
