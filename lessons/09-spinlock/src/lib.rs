//! Lesson 09: a spinlock in shared memory, built up the way PostgreSQL's `s_lock` is.
//!
//! A spinlock is one word that every process changes atomically: 0 free, 1 held (`word`).
//! The files follow the chapter's three steps over that word: `tas` (swap in a 1 until the
//! swap returns 0), `tas_spin` (look before swapping, and tell the CPU that we spin), and
//! `spinlock` (PostgreSQL's: sleep a random, growing time when spinning has not been
//! enough, and give up as stuck after too many sleeps, `spin_delay`). The contract,
//! PostgreSQL's too: hold a spinlock for a few instructions only, never across a system call.

mod spin_delay;
mod spinlock;
mod tas;
mod tas_spin;
mod word;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

pub use l08_races::{ProcessLock, Shared, count_under_lock, race, usable_cpus};
pub use spin_delay::{
    Backoff, DEFAULT_SPINS_PER_DELAY, MAX_SPINS_PER_DELAY, MIN_SPINS_PER_DELAY, SpinDelay, Stuck,
    spins_per_delay,
};
pub use spinlock::SpinLock;
pub use tas::TasLock;
pub use tas_spin::{TasSpinLock, tas_spin};
pub use word::{LockWord, lock_word, new_lock_word, release, tas};
