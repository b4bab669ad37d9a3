//! The harness that puts the lock under load: readers that keep coming while writers
//! make their transfers (the lesson's step 5, and the exercise's race).
//!
//! This is not the lock: it is how the lesson proves it. Readers and writers count in a
//! shared notebook what the lock must prevent (a reader beside a writer, a read that sees
//! A + B torn), so that both sides bear witness, and the race ends on its own: readers give
//! up after half the patience, and every racer's watchdog ends one that sleeps for good.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use common::{Error, Result};
use l08_races::{Finish, Shared, jitter, now_ns, race};

use crate::{LwLock, Mode};

// ANCHOR: readers_and_writers
/// What [`readers_and_writers`] saw, counted in shared memory by the racers themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// Shared acquisitions the readers made, and the most readers inside at one moment.
    pub reads: u64,
    pub max_readers: u32,
    /// Exclusive acquisitions (transfers) the writers made, and the balances at the end.
    pub writes: u64,
    pub a: u64,
    pub b: u64,
    /// Times a reader found a writer inside, or a writer found anyone else inside.
    pub overlaps: u64,
    /// Reads that saw A + B wrong.
    pub torn: u64,
    /// How often the writers slept for the lock, and their longest wait for it.
    pub writer_sleeps: u64,
    pub longest_wait: Duration,
    /// Set if the readers gave up waiting for the writers to finish (half the patience).
    pub starved: bool,
    /// The lock's state once every racer has gone: free, no waiters.
    pub state_after: u32,
    pub finish: Finish,
}

/// The racers' shared notebook.
#[repr(C)]
struct Notebook {
    readers_inside: AtomicU32,
    writers_inside: AtomicU32,
    max_readers: AtomicU32,
    writers_done: AtomicU32,
    starved: AtomicU32,
    reads: AtomicU64,
    overlaps: AtomicU64,
    torn: AtomicU64,
    writer_sleeps: AtomicU64,
    longest_wait_ns: AtomicU64,
    /// The data the lock protects: money moves from A to B, A + B never changes.
    a: AtomicU64,
    b: AtomicU64,
}

/// Spin hints a reader spends inside the lock, and at most outside it (a random number
/// of them, from lesson 08's `jitter`, so that the racers do not move in step).
const READ_WORK: u32 = 20;
const PAUSE_WORK: u32 = 256;

/// `readers` processes read A and B under the shared lock, again and again, for as long
/// as the `writers` are busy; each writer makes `writes` transfers of 1 from A to B under
/// the exclusive lock. All are released together at lesson 08's start barrier.
///
/// Nothing here waits for ever. Each racer arms its watchdog (`common::watchdog`) for
/// `patience_seconds`: one that sleeps for good (a broken lock) dies of SIGALRM, and the
/// race returns that as an error.
/// Readers stop after half the patience even if the writers are not done, and the result
/// says `starved`.
pub fn readers_and_writers(
    lock: &LwLock,
    readers: usize,
    writers: usize,
    writes: u64,
    pin: bool,
    patience_seconds: u32,
) -> Result<Watched> {
    let total = writes
        .checked_mul(writers as u64)
        .ok_or_else(|| Error::Usage(format!("{writers} x {writes} transfers overflow")))?;
    let memory = Shared::<Notebook>::new()?;
    // SAFETY: zeroed atomics in a live mapping that outlives `book`, used only atomically.
    let book: &Notebook = unsafe { &*memory.as_ptr() };
    book.a.store(total, Ordering::SeqCst);

    let finish = race(readers + writers, pin, |index| {
        common::watchdog::arm(patience_seconds);
        if index < readers {
            let give_up = Duration::from_secs(patience_seconds.into()) / 2;
            read_until_writers_are_done(lock, book, writers as u32, total, give_up);
        } else {
            write(lock, book, writes);
        }
        Ok(())
    })?;
    Ok(Watched {
        reads: book.reads.load(Ordering::SeqCst),
        max_readers: book.max_readers.load(Ordering::SeqCst),
        writes: total - book.a.load(Ordering::SeqCst).min(total),
        a: book.a.load(Ordering::SeqCst),
        b: book.b.load(Ordering::SeqCst),
        overlaps: book.overlaps.load(Ordering::SeqCst),
        torn: book.torn.load(Ordering::SeqCst),
        writer_sleeps: book.writer_sleeps.load(Ordering::SeqCst),
        longest_wait: Duration::from_nanos(book.longest_wait_ns.load(Ordering::SeqCst)),
        starved: book.starved.load(Ordering::SeqCst) != 0,
        state_after: lock.state(),
        finish,
    })
}

fn read_until_writers_are_done(
    lock: &LwLock,
    book: &Notebook,
    writers: u32,
    total: u64,
    give_up: Duration,
) {
    let give_up = now_ns() + give_up.as_nanos() as u64;
    let (mut reads, mut overlaps, mut torn) = (0, 0, 0);
    while book.writers_done.load(Ordering::Acquire) < writers {
        if now_ns() > give_up {
            book.starved.store(1, Ordering::SeqCst);
            break;
        }
        let held = lock.hold(Mode::Shared);
        let inside = book.readers_inside.fetch_add(1, Ordering::SeqCst) + 1;
        book.max_readers.fetch_max(inside, Ordering::Relaxed);
        if book.writers_inside.load(Ordering::SeqCst) != 0 {
            overlaps += 1;
        }
        let a = book.a.load(Ordering::Relaxed);
        spin(READ_WORK);
        let b = book.b.load(Ordering::Relaxed);
        if a + b != total {
            torn += 1;
        }
        book.readers_inside.fetch_sub(1, Ordering::SeqCst);
        drop(held);
        reads += 1;
        jitter(PAUSE_WORK);
    }
    book.reads.fetch_add(reads, Ordering::Relaxed);
    book.overlaps.fetch_add(overlaps, Ordering::Relaxed);
    book.torn.fetch_add(torn, Ordering::Relaxed);
}

fn write(lock: &LwLock, book: &Notebook, writes: u64) {
    let (mut sleeps, mut longest, mut overlaps) = (0, 0, 0);
    for _ in 0..writes {
        let asked = now_ns();
        let held = lock.hold(Mode::Exclusive);
        sleeps += u64::from(held.slept());
        longest = longest.max(now_ns() - asked);
        let writers = book.writers_inside.fetch_add(1, Ordering::SeqCst);
        if writers != 0 || book.readers_inside.load(Ordering::SeqCst) != 0 {
            overlaps += 1;
        }
        // Two steps, with readers forbidden to look in between: that is the lock's job.
        book.a.fetch_sub(1, Ordering::Relaxed);
        spin(READ_WORK);
        book.b.fetch_add(1, Ordering::Relaxed);
        book.writers_inside.fetch_sub(1, Ordering::SeqCst);
        drop(held);
        jitter(PAUSE_WORK);
    }
    book.writer_sleeps.fetch_add(sleeps, Ordering::Relaxed);
    book.longest_wait_ns.fetch_max(longest, Ordering::Relaxed);
    book.overlaps.fetch_add(overlaps, Ordering::Relaxed);
    book.writers_done.fetch_add(1, Ordering::Release);
}
// ANCHOR_END: readers_and_writers

/// The work inside a critical section: spin hints, no memory touched.
fn spin(hints: u32) {
    for _ in 0..hints {
        std::hint::spin_loop();
    }
}
