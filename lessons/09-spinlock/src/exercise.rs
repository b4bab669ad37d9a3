//! Lesson 09's exercise: the spinlock's acquire, as PostgreSQL's `s_lock` does it.
//!
//! Write `SpinLock::acquire`, then run `cargo course check 09` until it is green. `cargo
//! course hint 09` gives hints, one level at a time; src/solution.rs has an answer.

#[allow(unused_imports)] // you will need some of these
use std::sync::atomic::Ordering;

#[allow(unused_imports)]
use crate::{SpinDelay, SpinLock, Stuck, release, tas};

impl SpinLock<'_> {
    /// Takes the lock: `self.word.state` goes from 0 (free) to 1 (held, by us), atomically,
    /// with Acquire ordering. Looks before each swap (test before set: only try the swap
    /// when a plain load says 0). After each failed try, `SpinDelay::perform` pauses, and
    /// every so often sleeps; it says `Err(Stuck)` once `self.backoff.max_delays` sleeps
    /// have not been enough: return that error. Once the lock is ours, `finish` the wait.
    ///
    /// Keep `#[track_caller]`: a stuck lock then reports where `acquire` was called.
    #[track_caller]
    pub fn acquire(&self) -> Result<(), Stuck> {
        todo!(
            "write SpinLock::acquire in src/exercise.rs: test before set, back off with SpinDelay"
        )
    }
}
