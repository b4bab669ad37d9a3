//! An unnamed POSIX semaphore in shared memory: PostgreSQL's choice on Linux.
//!
//! A semaphore is a counter that a process takes one from, sleeping while it is 0, and
//! another adds one to. Started at 1 it is a lock; started at 0, a place for one process to
//! sleep until another posts, which is how lesson 11's waiters use it. Made with
//! `pshared = 1`, glibc sleeps on it without `FUTEX_PRIVATE_FLAG`, so any process that maps
//! the memory can wake a sleeper.

use std::cell::UnsafeCell;

use common::parent_death::{leave_if_orphaned_too_long, lock_wait_nap};
use common::{Error, Result};
use l08_races::ProcessLock;
use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_gettime};

use crate::SharedLock;

// ANCHOR: posix_semaphore
/// An unnamed POSIX semaphore in shared memory, made with `sem_init(sem, 1, value)`: the
/// 1 (`pshared`) makes glibc wait without `FUTEX_PRIVATE_FLAG`. A counter that `wait`
/// takes one from (sleeping while it is 0) and `post` adds one to. With 1 to start with,
/// it is a lock (PostgreSQL's `PGSemaphoreCreate`); with 0, a place for one process to
/// sleep until another posts (lesson 11).
#[repr(C)]
pub struct PosixSemaphore {
    sem: UnsafeCell<libc::sem_t>,
}

impl PosixSemaphore {
    /// `sem_init(at, 1, value)`.
    ///
    /// # Safety
    /// `at` is aligned, writable memory for a `PosixSemaphore` that no process uses yet,
    /// and the semaphore is never moved or copied afterwards.
    pub unsafe fn init(at: *mut PosixSemaphore, value: u32) -> Result<()> {
        // SAFETY: the caller's promise: valid, unshared memory for a sem_t.
        let rc = unsafe { libc::sem_init(UnsafeCell::raw_get(&raw const (*at).sem), 1, value) };
        Errno::result(rc).map_err(Error::sys("sem_init")).map(drop)
    }

    /// A process-shared semaphore holding `value`, in a shared mapping of its own.
    pub fn new_shared(value: u32) -> Result<SharedLock<PosixSemaphore>> {
        // SAFETY: `init` makes a valid semaphore in the fresh mapping, which is never moved.
        unsafe { SharedLock::make(|at| PosixSemaphore::init(at, value)) }
    }

    /// `sem_wait`, again after a signal (`EINTR`), like `PGSemaphoreLock`. A postmaster's child
    /// sleeps in naps instead (`sem_timedwait`), and leaves if its parent died more than a
    /// second ago: the holder it waits for may be dead too (`common::parent_death`).
    pub fn wait(&self) -> Result<()> {
        loop {
            let waited = match lock_wait_nap() {
                // SAFETY: initialized by `init`, never moved.
                None => unsafe { libc::sem_wait(self.sem.get()) },
                Some(nap) => {
                    let now = clock_gettime(ClockId::CLOCK_REALTIME)
                        .map_err(Error::sys("clock_gettime"))?;
                    let until = now + TimeSpec::from_duration(nap);
                    // SAFETY: as above; `until` is a live timespec during the call.
                    unsafe { libc::sem_timedwait(self.sem.get(), until.as_ref()) }
                }
            };
            match Errno::result(waited).map_err(Error::sys("sem_wait")) {
                Err(Error::Sys {
                    errno: Errno::EINTR | Errno::ETIMEDOUT,
                    ..
                }) => leave_if_orphaned_too_long(), // else: again
                other => return other.map(drop),
            }
        }
    }

    /// `sem_trywait`: `false` instead of sleeping when the value is 0 (`EAGAIN`).
    pub fn try_wait(&self) -> Result<bool> {
        // SAFETY: as in `wait`.
        match Errno::result(unsafe { libc::sem_trywait(self.sem.get()) })
            .map_err(Error::sys("sem_trywait"))
        {
            Ok(_) => Ok(true),
            Err(Error::Sys {
                errno: Errno::EAGAIN,
                ..
            }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// `sem_post`: adds one, and wakes a sleeper if there is one.
    pub fn post(&self) -> Result<()> {
        // SAFETY: as in `wait`.
        Errno::result(unsafe { libc::sem_post(self.sem.get()) })
            .map_err(Error::sys("sem_post"))
            .map(drop)
    }

    /// `sem_getvalue`: the value right now (already stale when you read it).
    pub fn value(&self) -> Result<i32> {
        let mut value = 0;
        // SAFETY: as in `wait`; `value` is a live int to write.
        Errno::result(unsafe { libc::sem_getvalue(self.sem.get(), &mut value) })
            .map_err(Error::sys("sem_getvalue"))?;
        Ok(value)
    }
}

// SAFETY: a sem_t exists to be used through a pointer by many threads and, made with
// pshared = 1, processes at once; every access goes through sem_* calls.
unsafe impl Sync for PosixSemaphore {}

impl ProcessLock for PosixSemaphore {
    fn acquire(&self) -> Result<()> {
        self.wait()
    }
    fn release(&self) {
        if let Err(err) = self.post() {
            panic!(
                "{err}: releasing a semaphore this process holds fails only if its memory was \
                 unmapped or overwritten under it; the processes waiting for it would wait \
                 for ever"
            );
        }
    }
}
// ANCHOR_END: posix_semaphore

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_posix_semaphore_counts() {
        let sem = PosixSemaphore::new_shared(0).unwrap();
        assert!(!sem.try_wait().unwrap());
        sem.post().unwrap();
        sem.post().unwrap();
        assert_eq!(sem.value().unwrap(), 2);
        sem.wait().unwrap();
        assert!(sem.try_wait().unwrap());
        assert_eq!(sem.value().unwrap(), 0);
    }
}
