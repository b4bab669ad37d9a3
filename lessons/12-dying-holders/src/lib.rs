//! Lesson 12: a process that dies while it holds a lock.
//!
//! A lock protects an invariant: here, two balances whose sum is always 200. Whoever holds
//! the lock may break the invariant for a moment, because nobody else can look. If the
//! holder is killed in that moment, two things are left behind: a lock that nobody will
//! release, and data that is half written. Lessons 09 and 10's locks differ only in the
//! first: some hang for ever, a robust pthread mutex tells the next locker (`EOWNERDEAD`),
//! a System V semaphore with `SEM_UNDO` is released by the kernel. None of them can do
//! anything about the second.

mod accounts;
mod deadline;
mod halfway;
mod ledger;

pub use accounts::{Accounts, OPENING, TOTAL};
pub use deadline::{Waited, wait_with_deadline};
pub use halfway::{Scene, kill_and_reap, stop_halfway, wait_for_halfway};
pub use ledger::{Journal, Ledger, Recovery, Step};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;
