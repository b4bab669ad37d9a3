//! Random numbers for racing processes: a backoff's delays (lesson 09), a check's pauses.
//!
//! Processes that draw the same numbers stay in step, and processes in step collide again
//! and again, or never; so every process must draw its own, which fork makes harder than
//! it looks.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::now_ns;

/// A random number from a small generator (xorshift) private to this process. After fork,
/// a child starts with a copy of its parent's generator: left alone, every child would
/// draw the same numbers and racing processes would stay in step. So the generator notes
/// which process seeded it and reseeds in a new one (PostgreSQL reseeds its random state
/// in every new backend for the same reason).
pub fn random_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    static SEEDED_BY: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    let mut x = STATE.load(Ordering::Relaxed);
    if SEEDED_BY.load(Ordering::Relaxed) != pid || x == 0 {
        SEEDED_BY.store(pid, Ordering::Relaxed);
        x = (u64::from(pid) << 32 ^ now_ns()) | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x
}

/// Spins for a random 0 to `max_spins - 1` spin hints: a test puts this around a lock's
/// operations to shake the processes out of step, so that an interleaving a broken lock
/// allows happens in every run rather than in a lucky few.
pub fn jitter(max_spins: u32) {
    for _ in 0..random_u64() % u64::from(max_spins.max(1)) {
        std::hint::spin_loop();
    }
}
