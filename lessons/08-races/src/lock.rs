//! The one interface every lock of Part IV implements, and the guard that releases it.
//!
//! A lock in shared memory protects data by convention, as PostgreSQL's locks do: the lock
//! and the data it guards are separate words, and the code agrees to touch the data only
//! while holding the lock. What Rust can still check is the other half of the bargain:
//! that every path out of a critical section releases the lock. [`ProcessLock::lock`]
//! hands out a [`Guard`], and dropping the guard releases the lock, on an early `return`
//! and a `?` as much as at the end of a block.
//!
//! A guard only helps a process that runs its `Drop`. A process killed while holding a
//! lock runs nothing at all (lesson 12).

use common::Result;

// ANCHOR: lock_trait
/// A lock that lives in shared memory and works across processes: every lock of Part IV
/// implements it, so that one harness can prove each correct and measure what it costs.
///
/// The lock is made in place in shared memory by its own constructor, before fork; every
/// process then uses it through a `&` to that memory, which is sound because a lock is
/// made of atomics (or of something the kernel manages), never of plain fields.
pub trait ProcessLock: Sync {
    /// Blocks until this process holds the lock, or says why it cannot (a spinlock stuck
    /// for minutes, a semaphore the kernel no longer has).
    fn acquire(&self) -> Result<()>;

    /// Releases the lock this process holds. Releasing a lock you hold cannot fail unless
    /// its memory was destroyed under you; an implementation panics then, rather than leave
    /// every other process waiting.
    fn release(&self);

    /// Takes the lock and returns the guard that holds it: `let _held = lock.lock()?;`.
    #[track_caller]
    fn lock(&self) -> Result<Guard<'_, Self>>
    where
        Self: Sized,
    {
        self.acquire()?;
        Ok(Guard { lock: self })
    }
}

/// Proof that this process holds `lock`; dropping it releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct Guard<'a, L: ProcessLock> {
    lock: &'a L,
}

impl<L: ProcessLock> Drop for Guard<'_, L> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

/// No lock at all: what an unprotected read-modify-write looks like in the reports.
pub struct NoLock;

impl ProcessLock for NoLock {
    fn acquire(&self) -> Result<()> {
        Ok(())
    }
    fn release(&self) {}
}
// ANCHOR_END: lock_trait
