//! Step 3: PostgreSQL's spinlock (`S_LOCK` and `s_lock`), whose waiters stop spinning when
//! spinning does not help.
//!
//! The type is here; how it waits is in spin_delay.rs, and how it takes the lock is the
//! lesson's exercise (src/exercise.rs; an answer is in src/solution.rs).

use common::Result;
use l08_races::ProcessLock;

use crate::{Backoff, LockWord, release};

// ANCHOR: spinlock
/// Step 3: PostgreSQL's spinlock. Test before set, spin hint, sleep with randomized
/// backoff, and "stuck" after `backoff.max_delays` sleeps. Its `acquire` is the lesson's
/// exercise (src/exercise.rs; an answer is in src/solution.rs).
pub struct SpinLock<'a> {
    pub word: &'a LockWord,
    pub backoff: Backoff,
}

impl ProcessLock for SpinLock<'_> {
    /// Like `SpinLockAcquire`: the lock's own `acquire` (the exercise), whose `Stuck` ends
    /// the caller's work as an error. PostgreSQL PANICs there, and the whole server restarts.
    #[track_caller]
    fn acquire(&self) -> Result<()> {
        Ok(SpinLock::acquire(self)?)
    }
    fn release(&self) {
        release(self.word);
    }
}
// ANCHOR_END: spinlock
