//! Counting under a lock, and counting with one atomic.
//!
//! An increment of shared memory is three steps: a load, some work, a store. Without a
//! lock, another process's increment that falls between this load and this store is lost.
//! [`count_under_lock`] races increments under any [`ProcessLock`] (`NoLock` is no lock at
//! all); [`count_with_fetch_add`] does the same work with one indivisible read-modify-write,
//! which no other process can split.

use std::sync::atomic::{AtomicU64, Ordering};

use common::Result;

#[cfg(doc)]
use crate::NoLock;
use crate::{Finish, ProcessLock, Shared, race};

// ANCHOR: increment
/// One increment of a plain (non-atomic) counter: a load, a short delay standing in for
/// real work between reading a value and writing it back, and a store. Without a lock,
/// another process's increment that falls between this load and this store is lost.
///
/// # Safety
/// `counter` points to a live, aligned `u64` in shared memory. Concurrent calls race (that
/// is the point of lesson 08); under a lock they do not.
pub unsafe fn increment(counter: *mut u64) {
    // Volatile: the compiler must really load and store each time, not fold a loop of
    // increments into one addition.
    // SAFETY: the caller promises a valid, aligned counter.
    let value = unsafe { counter.read_volatile() };
    for _ in 0..WORK_BETWEEN_LOAD_AND_STORE {
        std::hint::spin_loop();
    }
    // SAFETY: as above.
    unsafe { counter.write_volatile(value + 1) };
}

/// How many spin hints [`increment`] waits between its load and its store: a race window
/// wide enough that racing processes collide often. How wide in time depends on the CPU:
/// one spin hint (x86's PAUSE) costs from a few to over a hundred cycles, so 20 of them
/// took about 0.75 µs on the AMD EPYC this course was written on.
pub const WORK_BETWEEN_LOAD_AND_STORE: u32 = 20;

/// A race of `workers` processes, each doing `iterations` [`increment`]s of one shared
/// counter, each increment inside `lock`. Returns the final count (exactly `workers *
/// iterations` if the lock works) and how the race went.
pub fn count_under_lock<L: ProcessLock>(
    lock: &L,
    workers: usize,
    iterations: u64,
    pin: bool,
) -> Result<(u64, Finish)> {
    let counter = Shared::<u64>::new()?;
    let counter_ptr = counter.as_ptr();
    let finish = race(workers, pin, |_| {
        for _ in 0..iterations {
            let _held = lock.lock()?;
            // SAFETY: the counter is a live u64 in shared memory; the lock (if it is one)
            // keeps other processes out of this load-and-store.
            unsafe { increment(counter_ptr) };
        }
        Ok(())
    })?;
    // SAFETY: every worker has exited (race waited for them): nobody writes any more.
    Ok((unsafe { counter_ptr.read_volatile() }, finish))
}
// ANCHOR_END: increment

// ANCHOR: fetch_add
/// The same race as [`count_under_lock`] with [`NoLock`], the same work per increment, but
/// the increment is one atomic read-modify-write (`fetch_add`, `lock xadd` on x86-64): no
/// other process's increment can fall between its read and its write. Returns the final
/// count, always exactly `workers * iterations`.
pub fn count_with_fetch_add(workers: usize, iterations: u64, pin: bool) -> Result<(u64, Finish)> {
    let counter = Shared::<AtomicU64>::new()?;
    // SAFETY: a zeroed AtomicU64 in a live, page-aligned mapping that outlives `count`,
    // used by every process through atomic operations only.
    let count = unsafe { &*counter.as_ptr() };
    let finish = race(workers, pin, |_| {
        for _ in 0..iterations {
            for _ in 0..WORK_BETWEEN_LOAD_AND_STORE {
                std::hint::spin_loop(); // the same work, done before the add
            }
            // Relaxed: atomicity does not depend on the ordering; nothing else is published.
            count.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    })?;
    Ok((count.load(Ordering::Relaxed), finish))
}
// ANCHOR_END: fetch_add
