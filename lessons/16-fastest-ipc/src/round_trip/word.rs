//! Round trips through a word of shared memory: a ping is a store, the answer another
//! store, and the other side sees each when its CPU next reads the cache line. No system
//! call, unless the waiting side sleeps in the kernel (`Futex`) instead of spinning.

use std::sync::atomic::{AtomicU32, Ordering};

use l08_races::now_ns;
use l10_sleeping_locks::{FutexScope, futex_wait, futex_wake};

use super::{Budget, Channel};
use crate::ring::wait_a_little;

// ANCHOR: ping_word
/// The value the pinging side stores to say "we are done".
const STOP: u32 = u32::MAX;

/// Pings by storing an odd number into `word`, and waits for the other side to store the
/// next even one. Returns the round trips made and the nanoseconds they took.
pub fn ping_word(word: &AtomicU32, channel: Channel, budget: Budget) -> (u64, u64) {
    let (start, mut trips, mut pong) = (now_ns(), 0, 0);
    let deadline = start + budget.time.as_nanos() as u64;
    while trips < budget.trips && (trips % 64 != 0 || now_ns() < deadline) {
        announce(word, pong + 1, channel);
        pong = wait_for_change(word, pong + 1, channel);
        trips += 1;
    }
    let took = now_ns() - start;
    announce(word, STOP, channel);
    (trips, took)
}

/// Answers every odd number with the next even one, until [`STOP`].
pub fn pong_word(word: &AtomicU32, channel: Channel) {
    let mut seen = 0;
    loop {
        match wait_for_change(word, seen, channel) {
            STOP => return,
            ping => {
                announce(word, ping + 1, channel);
                seen = ping + 1;
            }
        }
    }
}

/// Release: whatever this side wrote before the store is visible to the side that sees it.
/// A futex waiter must also be woken: it sleeps in the kernel, not on the cache line.
fn announce(word: &AtomicU32, value: u32, channel: Channel) {
    word.store(value, Ordering::Release);
    if channel == Channel::Futex {
        futex_wake(word, 1, FutexScope::Shared);
    }
}

/// Waits until `word` no longer holds `seen` and returns what it holds now.
fn wait_for_change(word: &AtomicU32, seen: u32, channel: Channel) -> u32 {
    let mut waited = 0;
    loop {
        let now = word.load(Ordering::Acquire);
        if now != seen {
            return now;
        }
        match channel {
            // FUTEX_WAIT returns at once if the word changed after our load: no lost wake-up.
            Channel::Futex => futex_wait(word, seen, FutexScope::Shared),
            _ => wait_a_little(&mut waited),
        }
    }
}
// ANCHOR_END: ping_word
