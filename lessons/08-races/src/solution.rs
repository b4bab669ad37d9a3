//! Lesson 08's exercise, one answer: two balances in one atomic word.
//!
//! Step 3 of the lesson broke the rule `a + b = total` because a transfer took two atomic
//! steps. Here both balances share one `AtomicU64` (A in the high 32 bits, B in the low
//! 32), so a transfer is one compare-and-swap of the whole word and an audit is one load:
//! no process can ever see half a transfer. It works only because the state fits in one
//! word; the next lessons build locks for state that does not.

use std::sync::atomic::{AtomicU64, Ordering};

/// Two balances packed into one word. All-zero bytes are a valid value (both balances 0),
/// so it can live in lesson 08's `Shared<Accounts>`.
#[repr(C)]
pub struct Accounts {
    /// `pack(a, b)`: A in the high 32 bits, B in the low 32 bits.
    word: AtomicU64,
}

/// Puts A in the high half of a word and B in the low half.
pub fn pack(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

/// Takes a word apart again: `(a, b)`.
pub fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

impl Accounts {
    /// Sets both balances. Call it before any other process uses the accounts (before fork).
    pub fn open(&self, a: u32, b: u32) {
        self.word.store(pack(a, b), Ordering::SeqCst);
    }

    // ANCHOR: transfer
    /// Moves `amount` from A to B in one indivisible step and returns true; or, if A holds
    /// less than `amount` (or B would overflow), changes nothing and returns false.
    pub fn transfer(&self, amount: u32) -> bool {
        let mut seen = self.word.load(Ordering::Relaxed);
        loop {
            let (a, b) = unpack(seen);
            let (Some(a), Some(b)) = (a.checked_sub(amount), b.checked_add(amount)) else {
                return false; // decided on a consistent look at both balances
            };
            // Install the new word only if the word is still the one we decided on;
            // otherwise someone else's transfer came first: decide again on what it left.
            match self.word.compare_exchange_weak(
                seen,
                pack(a, b),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => seen = now,
            }
        }
    }

    /// Both balances, as they were at one instant.
    pub fn audit(&self) -> (u32, u32) {
        unpack(self.word.load(Ordering::Acquire))
    }
    // ANCHOR_END: transfer
}
