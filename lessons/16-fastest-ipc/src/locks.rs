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
use l08_races::{MAX_WORKERS, NoLock, ProcessLock, Shared, now_ns, race, usable_cpus};
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
/// lock; without one, the loss is in the result. The System V semaphore is not made fresh:
/// it is `set`, made once for the whole run (a set is a kernel object, and lesson 10 lets
/// one process make 16), and reset to 1 here.
pub fn increments(
    lock: Lock,
    workers: usize,
    limit: Limit,
    set: &SysVSemaphore,
) -> Result<Counted> {
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
            // Removed when the run drops it, error or not; by its signal handler on Ctrl-C;
            // and by the next run after a kill -9 (lesson 10's SysVSemaphore does all three).
            set.set_value(1)?;
            count(set, workers, limit)?
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
    let (counter, made) = (
        Shared::<AtomicU64>::new()?,
        Shared::<[AtomicU64; MAX_WORKERS]>::new()?,
    );
    let running = Shared::<AtomicU64>::new()?;
    // SAFETY: zeroed atomics in live mappings, used by every process only atomically.
    let (counter, made, running) =
        unsafe { (&*counter.as_ptr(), &*made.as_ptr(), &*running.as_ptr()) };
    let a_cpu_each = workers <= usable_cpus()?.len();
    let finish = race(workers, true, |index| {
        // A second start line, for when other programs compete for the CPUs: race releases
        // its workers together, but a worker that gave its CPU away while waiting may run
        // only later. Here those with a CPU each spin without giving it away, so that they
        // start while all of them are running. (With more workers than CPUs, they must
        // take turns anyway.)
        running.fetch_add(1, Ordering::AcqRel);
        while running.load(Ordering::Acquire) < workers as u64 {
            match a_cpu_each {
                true => std::hint::spin_loop(),
                false => std::thread::yield_now(),
            }
        }
        let deadline = now_ns() + limit.time.as_nanos() as u64;
        let mut mine = 0;
        // Look at the clock every 64 increments only: reading it costs about as much as an
        // uncontended increment.
        while mine < limit.increments && (mine % 64 != 0 || now_ns() < deadline) {
            let held = lock.lock()?;
            // A load and a store, not one atomic add: the lock must keep the others out
            // between the two (without one, increments get lost). Atomic all the same, so
            // that even the race without a lock is well defined; Relaxed, because the lock's
            // Acquire and Release order them.
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            drop(held);
            mine += 1;
        }
        made[index].store(mine, Ordering::Release);
        Ok(())
    })?;
    Ok(Counted {
        made: made.iter().map(|slot| slot.load(Ordering::Acquire)).sum(),
        counter: counter.load(Ordering::Relaxed), // every worker has exited

        nanos: finish.elapsed.as_nanos() as f64,
    })
}
// ANCHOR_END: race_lock
