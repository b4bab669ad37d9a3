//! Lesson 09: a spinlock in shared memory, built up the way PostgreSQL's `s_lock` is.
//!
//! A spinlock is one word that every process can change atomically: 0 free, 1 held. To
//! take it, swap in a 1 and look at what was there (test-and-set, `TAS`): a 0 means it was
//! free and is now ours. PostgreSQL builds its spinlocks in three layers, and so does this
//! file, one type per layer, all over the same [`LockWord`]:
//! 1. [`TasLock`]: retry the swap until it returns 0;
//! 2. [`TasSpinLock`]: look before swapping (`TAS_SPIN`), and hint the CPU that we spin;
//! 3. [`SpinLock`]: after every `spins_per_delay` failed tries, *sleep*, a little longer each
//!    time ([`SpinDelay`]), and give up with "stuck spinlock" after too many sleeps.
//!
//! The contract, PostgreSQL's too: hold a spinlock for a few instructions only, never
//! across a system call. Waiters spin on the assumption that the holder is running and
//! about to let go; step 3 exists for the times when that assumption fails.

use std::panic::Location;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::Result;
pub use l08_races::{ProcessLock, Shared, count_under_lock, race, usable_cpus};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

// ANCHOR: word
/// A spinlock's whole state: one word in shared memory (PostgreSQL's `slock_t`).
#[repr(C)]
pub struct LockWord {
    /// 0: free; 1: held. All-zero memory is a free lock.
    pub state: AtomicU32,
}

/// A free lock word in a shared mapping of its own, made before fork so that every child
/// inherits it.
pub fn new_lock_word() -> Result<Shared<LockWord>> {
    Shared::new()
}

/// The lock word in `shared`, for as long as the mapping lives.
pub fn lock_word(shared: &Shared<LockWord>) -> &LockWord {
    // SAFETY: the mapping holds one zero-initialized, page-aligned LockWord, which is a
    // valid free lock; it is only ever accessed through its atomic, so a `&` to it is sound
    // even while other processes change it. The borrow cannot outlive the mapping.
    unsafe { &*shared.as_ptr() }
}

/// Test-and-set: store 1, return what was there. 0 means "it was free, now it is ours",
/// as PostgreSQL's `TAS()` returns 0 on success. Acquire: what the previous holder wrote
/// before its Release store of 0 is visible to us once we see that 0.
pub fn tas(word: &LockWord) -> u32 {
    word.state.swap(1, Ordering::Acquire)
}

/// Release: everything written under the lock becomes visible to the next holder.
pub fn release(word: &LockWord) {
    word.state.store(0, Ordering::Release);
}
// ANCHOR_END: word

// ANCHOR: tas
/// Step 1: swap until the swap returns 0. Correct, and fine when nobody waits long; but
/// every try is a write, and a write needs the cache line to itself, so waiting processes
/// pull the line away from the holder (and from each other) over and over.
pub struct TasLock<'a> {
    pub word: &'a LockWord,
}

impl ProcessLock for TasLock<'_> {
    fn acquire(&self) -> Result<()> {
        while tas(self.word) != 0 {}
        Ok(())
    }
    fn release(&self) {
        release(self.word);
    }
}
// ANCHOR_END: tas

// ANCHOR: tas_spin
/// Step 2: look before swapping (PostgreSQL's `TAS_SPIN`). A plain load can be answered
/// from the waiter's own cached copy of the line, so waiters only read until the holder's
/// release invalidates it; only then do they try the swap. Between looks, a spin hint
/// (`SPIN_DELAY()`: the PAUSE instruction on x86, YIELD/ISB on ARM) tells the CPU that this
/// is a wait loop: it saves power and lets a sibling hyperthread run.
pub struct TasSpinLock<'a> {
    pub word: &'a LockWord,
}

/// Test, then test-and-set: 0 if the lock was free and is now ours.
pub fn tas_spin(word: &LockWord) -> u32 {
    if word.state.load(Ordering::Relaxed) != 0 {
        return 1; // held: do not even try the write
    }
    tas(word)
}

impl ProcessLock for TasSpinLock<'_> {
    fn acquire(&self) -> Result<()> {
        while tas_spin(self.word) != 0 {
            std::hint::spin_loop();
        }
        Ok(())
    }
    fn release(&self) {
        release(self.word);
    }
}
// ANCHOR_END: tas_spin

// ANCHOR: backoff
/// How a [`SpinLock`] waits once spinning has not been enough: the shape of PostgreSQL's
/// `perform_spin_delay`, with the numbers as parameters so that the lesson can shrink them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first sleep (PostgreSQL: `MIN_DELAY_USEC`, 1 ms).
    pub min_delay: Duration,
    /// A sleep that grows past this starts over at `min_delay` (`MAX_DELAY_USEC`, 1 s).
    pub max_delay: Duration,
    /// How many sleeps before giving up: "stuck spinlock" (`NUM_DELAYS`, 1000).
    pub max_delays: u32,
}

impl Backoff {
    /// PostgreSQL's numbers: 1000 sleeps of 1 ms to 1 s, a couple of minutes in all.
    pub const POSTGRES: Backoff = Backoff {
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_secs(1),
        max_delays: 1000,
    };
}

/// The bounds and the start of `spins_per_delay`, PostgreSQL's own.
pub const MIN_SPINS_PER_DELAY: u32 = 10;
pub const MAX_SPINS_PER_DELAY: u32 = 1000;
pub const DEFAULT_SPINS_PER_DELAY: u32 = 100;

/// How many failed tries before a sleep. One per process, like PostgreSQL's static
/// `spins_per_delay` in each backend: a forked child starts with its parent's value, then
/// learns on its own (see [`SpinDelay::finish`]). An ordinary static, not shared memory.
static SPINS_PER_DELAY: AtomicU32 = AtomicU32::new(DEFAULT_SPINS_PER_DELAY);

/// This process's current `spins_per_delay`.
pub fn spins_per_delay() -> u32 {
    SPINS_PER_DELAY.load(Ordering::Relaxed)
}

// ANCHOR_END: backoff

// ANCHOR: spin_delay
/// The state of one wait for a spinlock (PostgreSQL's `SpinDelayStatus`).
pub struct SpinDelay {
    backoff: Backoff,
    /// Failed tries since the last sleep.
    spins: u32,
    /// Sleeps so far.
    delays: u32,
    /// The next sleep; zero until the first one.
    cur_delay: Duration,
    /// Where the lock was taken, for the "stuck" message.
    location: &'static Location<'static>,
}

/// A wait that went on for `delays` sleeps without getting the lock: the holder has most
/// likely died or hangs. PostgreSQL PANICs ("stuck spinlock detected at ..."), which
/// makes the postmaster restart every process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stuck {
    pub delays: u32,
    pub location: &'static Location<'static>,
}

impl From<Stuck> for common::Error {
    fn from(stuck: Stuck) -> common::Error {
        common::Error::Failed(stuck.to_string())
    }
}

impl std::fmt::Display for Stuck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stuck spinlock detected at {}:{} (gave up after {} sleeps)",
            self.location.file(),
            self.location.line(),
            self.delays
        )
    }
}

impl SpinDelay {
    /// A new wait. `#[track_caller]`: the location reported if it gets stuck is where the
    /// lock was asked for (PostgreSQL passes `__FILE__` and `__LINE__` down the same way).
    #[track_caller]
    pub fn new(backoff: Backoff) -> SpinDelay {
        SpinDelay {
            backoff,
            spins: 0,
            delays: 0,
            cur_delay: Duration::ZERO,
            location: Location::caller(),
        }
    }

    /// Call after each failed try. Spin hint; and every `spins_per_delay` tries, sleep:
    /// 1 ms the first time, then a random 1 to 2 times longer each time, back to 1 ms past
    /// the maximum. Random, so that waiters that collided once do not collide again in step.
    /// Before a sleep beyond `max_delays`: give up.
    pub fn perform(&mut self) -> Result<(), Stuck> {
        std::hint::spin_loop();
        self.spins += 1;
        if self.spins < spins_per_delay() {
            return Ok(());
        }
        self.delays += 1;
        if self.delays > self.backoff.max_delays {
            return Err(Stuck {
                delays: self.delays - 1,
                location: self.location,
            });
        }
        if self.cur_delay.is_zero() {
            self.cur_delay = self.backoff.min_delay;
        }
        std::thread::sleep(self.cur_delay); // nanosleep: the CPU goes to someone else
        self.cur_delay += self.cur_delay.mul_f64(random_fraction());
        if self.cur_delay > self.backoff.max_delay {
            self.cur_delay = self.backoff.min_delay;
        }
        self.spins = 0;
        Ok(())
    }

    /// Call once the lock is ours: learn from this wait. Got it without sleeping? Then
    /// spinning pays here (the holder was running): spin longer next time (+100). Had to
    /// sleep? Then spin a little less (-1). This is how PostgreSQL ends up spinning long on
    /// machines with many CPUs and short on one CPU, where spinning can never help.
    pub fn finish(self) {
        let spins = spins_per_delay();
        let adapted = if self.cur_delay.is_zero() {
            (spins + 100).min(MAX_SPINS_PER_DELAY)
        } else {
            spins.saturating_sub(1).max(MIN_SPINS_PER_DELAY)
        };
        SPINS_PER_DELAY.store(adapted, Ordering::Relaxed);
    }

    /// Sleeps so far.
    pub fn delays(&self) -> u32 {
        self.delays
    }
}
// ANCHOR_END: spin_delay

// ANCHOR: spinlock
/// Step 3: PostgreSQL's spinlock. Test before set, spin hint, sleep with randomized
/// backoff, and "stuck" after `backoff.max_delays` sleeps. Its `acquire` is the lesson's
/// exercise (src/exercise.rs; an answer is in src/solution.rs).
pub struct SpinLock<'a> {
    pub word: &'a LockWord,
    pub backoff: Backoff,
}

impl ProcessLock for SpinLock<'_> {
    /// Like `SpinLockAcquire`: the lock's own `acquire` (the exercise), whose `Stuck` ends
    /// the caller's work as an error. PostgreSQL PANICs there, and the whole server restarts.
    #[track_caller]
    fn acquire(&self) -> Result<()> {
        Ok(SpinLock::acquire(self)?)
    }
    fn release(&self) {
        release(self.word);
    }
}
// ANCHOR_END: spinlock

/// A random number in [0, 1), from lesson 08's per-process generator (reseeded in every
/// forked child, so that waiters do not draw the same delays and stay in step).
fn random_fraction() -> f64 {
    (l08_races::random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_fractions_lie_between_0_and_1_and_vary() {
        let draws: Vec<f64> = (0..1000).map(|_| random_fraction()).collect();
        assert!(draws.iter().all(|&d| (0.0..1.0).contains(&d)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((0.4..0.6).contains(&mean), "mean {mean}");
    }

    #[test]
    fn stuck_says_where_like_postgres() {
        let stuck = Stuck {
            delays: 5,
            location: Location::caller(),
        };
        let text = stuck.to_string();
        assert!(text.starts_with("stuck spinlock detected at "), "{text}");
        assert!(text.ends_with("(gave up after 5 sleeps)"), "{text}");
    }
}
