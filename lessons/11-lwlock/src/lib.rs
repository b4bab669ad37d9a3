//! Lesson 11: a reader/writer lock for processes, built the way PostgreSQL's LWLock is.
//!
//! A spinlock (lesson 09) is for a few instructions; a futex mutex (lesson 10) lets one
//! process in at a time. Much of PostgreSQL's shared memory is read far more often than
//! it is written (the buffer mapping table, the lock tables), so its LWLocks have two
//! modes: *shared*, which any number of processes hold together, and *exclusive*, which
//! one holds alone. Waiters sleep, each on its own process's semaphore.
//!
//! The lock is `lwlock.rs`, one part of it per file under `lwlock/`; `readers_and_writers.rs`
//! is the harness that races it, for the lesson's story and the exercise's checks.

mod lwlock;
mod readers_and_writers;

pub use l10_sleeping_locks::{PosixSemaphore, SharedLock};
pub use lwlock::{
    EXCLUSIVE, HAS_WAITERS, Held, LOCK_MASK, LOCKED, LwLock, MAX_PROCS, Mode, Proc, RELEASE_OK,
    SHARED, SHARED_MASK, SharedMode, Woken, describe, describe_queue, try_acquire_exclusive,
};
pub use readers_and_writers::{Watched, readers_and_writers};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;
