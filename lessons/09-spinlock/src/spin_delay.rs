//! How a spinlock's waiter waits once spinning has not been enough: PostgreSQL's
//! `perform_spin_delay`.
//!
//! Spinners assume that the holder is running on another CPU and about to let go. With more
//! processes than CPUs that can be false, and every waiter then spins through the time the
//! holder needs to run. So a waiter spins only for a while, then sleeps, a random and
//! growing time; a process learns from each wait how long to spin before sleeping; and a
//! wait that sleeps too often ends as [`Stuck`]: the holder has died or hangs.

use std::panic::Location;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[cfg(doc)]
use crate::SpinLock;

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
