//! Holding the lock through a guard, and the lock as lesson 08's `ProcessLock`.
//!
//! Code that takes an LWLock and gives it back should not have to remember the giving
//! back: [`LwLock::hold`] returns a [`Held`] guard, and dropping it is `LWLockRelease`, on
//! every path out of the block. In exclusive mode the lock is a mutex, so it also plugs
//! into lesson 08's harness, which races and times any `ProcessLock`.

use common::Result;
use l08_races::ProcessLock;

use super::{LwLock, Mode};

// ANCHOR: held
impl LwLock {
    /// Takes the lock in `mode` and returns the guard that holds it; dropping the guard is
    /// `LWLockRelease`. A semaphore that fails under a sleeping waiter ends the process
    /// (PostgreSQL's `PGSemaphoreLock` reports it as FATAL).
    pub fn hold(&self, mode: Mode) -> Held<'_> {
        let slept = self.acquire(mode);
        Held {
            lock: self,
            mode,
            slept,
        }
    }
}

/// Proof that this process holds an [`LwLock`] in `mode`; dropping it releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct Held<'a> {
    lock: &'a LwLock,
    mode: Mode,
    slept: bool,
}

impl Held<'_> {
    /// Whether this process had to sleep for the lock.
    pub fn slept(&self) -> bool {
        self.slept
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.lock.release(self.mode);
    }
}
// ANCHOR_END: held

// ANCHOR: process_lock
/// In exclusive mode an LWLock is a mutex: lesson 08's harness can count under it.
impl ProcessLock for LwLock {
    fn acquire(&self) -> Result<()> {
        LwLock::acquire(self, Mode::Exclusive);
        Ok(())
    }
    fn release(&self) {
        LwLock::release(self, Mode::Exclusive);
    }
}

/// The same lock in shared mode, for races where every process only reads.
pub struct SharedMode<'a>(pub &'a LwLock);

impl ProcessLock for SharedMode<'_> {
    fn acquire(&self) -> Result<()> {
        self.0.acquire(Mode::Shared);
        Ok(())
    }
    fn release(&self) {
        self.0.release(Mode::Shared);
    }
}
// ANCHOR_END: process_lock
