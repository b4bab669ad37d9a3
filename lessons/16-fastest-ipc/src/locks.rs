//! What each lock of Part IV costs, as more processes than CPUs want it.
//!
//! Every process increments one shared counter under the lock, holding it for a load and a
//! store only, as PostgreSQL holds a spinlock. Each process also counts its own increments,
//! privately: the shared counter must end up equal to their sum, or the lock let two
//! processes in at once. Each race stops after a fixed number of increments per process or
//! after a time limit, whichever comes first: the System V semaphore, whose every contended
//! operation sleeps in the kernel, would otherwise take seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{Error, Result};
use l08_races::{MAX_WORKERS, NoLock, ProcessLock, Shared, now_ns, race};
use l09_spinlock::{Backoff, SpinLock, TasLock, lock_word, new_lock_word};
use l10_sleeping_locks::{FutexMutex, PosixSemaphore, PthreadMutex, Robustness, SysVSemaphore};

/// The locks of Part IV, and no lock at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// Lesson 09, step 1: swap until the swap returns 0.
    TestAndSet,
    /// Lesson 09, step 3: PostgreSQL's spinlock (test first, spin hint, sleep with backoff).
    SLock,
    /// Lesson 10: the three-state futex mutex.
    FutexMutex,
    /// Lesson 10: glibc's mutex with `PTHREAD_PROCESS_SHARED`.
    PthreadMutex,
    /// Lesson 10: an unnamed POSIX semaphore, `pshared` = 1.
    PosixSemaphore,
    /// Lesson 10: a System V semaphore, with `SEM_UNDO`.
    SysVSemaphore,
    /// Nothing: increments get lost.
    None,
}

impl Lock {
    pub const ALL: [Lock; 6] = [
        Lock::TestAndSet,
        Lock::SLock,
        Lock::FutexMutex,
        Lock::PthreadMutex,
        Lock::PosixSemaphore,
        Lock::SysVSemaphore,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Lock::TestAndSet => "plain test-and-set",
            Lock::SLock => "s_lock with backoff",
            Lock::FutexMutex => "futex mutex",
            Lock::PthreadMutex => "pthread mutex",
            Lock::PosixSemaphore => "POSIX semaphore",
            Lock::SysVSemaphore => "System V semaphore",
            Lock::None => "no lock",
        }
    }
}

/// How far each race may go.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Increments each process makes at most.
    pub increments: u64,
    /// Each process stops once this much time has passed since the start line.
    pub time: Duration,
}

/// What one race did.
#[derive(Debug, Clone, Copy)]
pub struct Counted {
    /// Increments the processes made (the sum of their own counts).
    pub made: u64,
    /// What the shared counter says.
    pub counter: u64,
    /// From the start line to the last process's finish.
    pub nanos: f64,
}

impl Counted {
    pub fn per_increment(&self) -> f64 {
        self.nanos / self.made.max(1) as f64
    }

    pub fn lost(&self) -> u64 {
        self.made - self.counter
    }
}

// ANCHOR: race_lock
/// `workers` processes, pinned round-robin over this process's CPUs, increment one shared
/// counter under a fresh `lock` until `limit`. Fails if the count is not exact under a
/// lock; without one, the loss is in the result.
pub fn increments(lock: Lock, workers: usize, limit: Limit) -> Result<Counted> {
    let counted = match lock {
        Lock::TestAndSet => {
            let shared = new_lock_word()?;
            count(
                &TasLock {
                    word: lock_word(&shared),
                },
                workers,
                limit,
            )?
        }
        Lock::SLock => {
            let shared = new_lock_word()?;
            let (word, backoff) = (lock_word(&shared), Backoff::POSTGRES);
            count(&SpinLock { word, backoff }, workers, limit)?
        }
        Lock::FutexMutex => count(&*FutexMutex::new_shared()?, workers, limit)?,
        Lock::PthreadMutex => count(
            &*PthreadMutex::new_shared(Robustness::Stalled)?,
            workers,
            limit,
        )?,
        Lock::PosixSemaphore => count(&*PosixSemaphore::new_shared(1)?, workers, limit)?,
        Lock::SysVSemaphore => {
            let semaphore = SysVSemaphore::create()?; // removed when dropped, error or not
            semaphore.set_value(1)?;
            count(&semaphore, workers, limit)?
        }
        Lock::None => return count(&NoLock, workers, limit),
    };
    if counted.counter != counted.made {
        return Err(Error::Failed(format!(
            "{}: {workers} processes made {} increments but the counter says {}",
            lock.name(),
            counted.made,
            counted.counter
        )));
    }
    Ok(counted)
}

fn count(lock: &impl ProcessLock, workers: usize, limit: Limit) -> Result<Counted> {
    let counter = Shared::<u64>::new()?;
    let counter = counter.as_ptr();
    let made = Shared::<[AtomicU64; MAX_WORKERS]>::new()?;
    // SAFETY: zeroed atomics in a live mapping, used by every process only atomically.
    let made = unsafe { &*made.as_ptr() };
    let finish = race(workers, true, |index| {
        let deadline = now_ns() + limit.time.as_nanos() as u64;
        let mut mine = 0;
        // Look at the clock every 64 increments only: reading it costs about as much as an
        // uncontended increment.
        while mine < limit.increments && (mine % 64 != 0 || now_ns() < deadline) {
            lock.lock();
            // SAFETY: a live, aligned u64 in shared memory; the lock (if any) keeps the
            // other processes out between this load and this store.
            unsafe { counter.write_volatile(counter.read_volatile() + 1) };
            lock.unlock();
            mine += 1;
        }
        made[index].store(mine, Ordering::Release);
    })?;
    Ok(Counted {
        made: made.iter().map(|slot| slot.load(Ordering::Acquire)).sum(),
        // SAFETY: every worker has exited (race waited for them); nobody writes any more.
        counter: unsafe { counter.read_volatile() },
        nanos: finish.elapsed.as_nanos() as f64,
    })
}
// ANCHOR_END: race_lock
