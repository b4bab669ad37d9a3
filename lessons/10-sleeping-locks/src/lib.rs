//! Lesson 10: locks that sleep, shared by processes.
//!
//! A spinlock (lesson 09) waits by running; a sleeping lock asks the kernel to put the
//! waiter to sleep and to wake it when the holder lets go. Four of them, each behind lesson
//! 08's `ProcessLock`: our own `futex_mutex` over the `futex` call, glibc's `pthread_mutex`,
//! a `posix_semaphore` (PostgreSQL's choice on Linux), and a `sysv_semaphore` (its choice
//! elsewhere; with the kernel's view of its sets in `semaphore_set`, their keys in
//! `set_keys`). The first three are plain memory, made in place before fork
//! (`shared_lock`); the fourth lives in the kernel. `proc_syscall` shows where a waiter
//! sleeps.

mod futex;
mod futex_mutex;
mod posix_semaphore;
mod proc_syscall;
mod pthread_mutex;
mod semaphore_set;
mod shared_lock;
mod sysv_semaphore;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;
pub mod set_keys;

pub use futex::{FutexScope, futex_op_name, futex_wait, futex_wake};
pub use futex_mutex::FutexMutex;
pub use posix_semaphore::PosixSemaphore;
pub use proc_syscall::{Blocked, blocked_in, wait_until_blocked};
pub use pthread_mutex::{Acquired, PthreadMutex, Robustness};
pub use semaphore_set::{SemStat, remove_semaphore_set, semaphore_set_stat, semaphore_sets};
pub use shared_lock::SharedLock;
pub use sysv_semaphore::SysVSemaphore;
