//! Lesson 09's exercise, solved: `SpinLock::acquire`, PostgreSQL's `S_LOCK` and `s_lock`.

use crate::{SpinDelay, SpinLock, Stuck, tas, tas_spin};

impl SpinLock<'_> {
    /// Takes the lock, or gives up with [`Stuck`] after `self.backoff.max_delays` sleeps.
    #[track_caller]
    pub fn acquire(&self) -> Result<(), Stuck> {
        // The fast path, PostgreSQL's S_LOCK macro: one TAS, and when the lock is free
        // (nearly always, if it is held for a few instructions) that is all.
        if tas(self.word) == 0 {
            return Ok(());
        }
        // s_lock(): look before each swap, and let SpinDelay pause, sleep or give up.
        let mut delay = SpinDelay::new(self.backoff);
        while tas_spin(self.word) != 0 {
            delay.perform()?;
        }
        delay.finish();
        Ok(())
    }
}
