//! Lesson 08: processes racing on shared memory, and the harness every lesson of Part IV
//! races them with.
//!
//! Two processes that read, change and write the same shared memory at once lose updates.
//! One atomic read-modify-write keeps one word right; a rule that spans two words needs a
//! lock, which the rest of Part IV builds. The files, in the chapter's order: `shared` (one
//! value every forked process sees), `race` (racers released together, each on a CPU of
//! its own), `lock` (what every lock of Part IV implements), `counting` (lost updates, and
//! `fetch_add`), `balances` (an invariant across two atomics that tears), and `random`
//! (numbers that stay random across fork).

mod balances;
mod counting;
mod lock;
mod race;
mod random;
mod shared;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

pub use balances::{Audited, Balances, audit, transfer_and_audit, transfer_one};
pub use counting::{
    WORK_BETWEEN_LOAD_AND_STORE, count_under_lock, count_with_fetch_add, increment,
};
pub use lock::{Guard, NoLock, ProcessLock};
pub use race::{Finish, MAX_RACES, MAX_WORKERS, now_ns, race, race_until, usable_cpus};
pub use random::{jitter, random_u64};
pub use shared::Shared;
