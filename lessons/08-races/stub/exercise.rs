//! Lesson 08's exercise: a transfer that no auditor ever catches half done.
//!
//! Step 3 of the lesson broke the rule `a + b = total` because a transfer took two atomic
//! steps. Here both balances share one `AtomicU64`. Fill in `transfer` and `audit`, then
//! run `cargo course check 08` until it is green. `cargo course hint 08` gives hints, one
//! level at a time; src/solution.rs has an answer.

#[allow(unused_imports)] // you will need these
use std::sync::atomic::{AtomicU64, Ordering};

// ANCHOR: accounts
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

// ANCHOR_END: accounts

impl Accounts {
    /// Sets both balances. Call it before any other process uses the accounts (before fork).
    pub fn open(&self, a: u32, b: u32) {
        self.word.store(pack(a, b), Ordering::SeqCst);
    }

    // ANCHOR: todo
    /// Moves `amount` from A to B in one indivisible step and returns true; or, if A holds
    /// less than `amount` (or B would overflow), changes nothing and returns false.
    ///
    /// Any number of processes call this at the same time, and others call `audit` while
    /// they do: no transfer may be lost, none may overdraw A, and no audit may ever see
    /// money missing or counted twice.
    pub fn transfer(&self, amount: u32) -> bool {
        let _ = amount;
        todo!(
            "load the word, decide on its two halves, install the new word with a compare_exchange loop"
        )
    }

    /// Both balances, as they were at one instant.
    pub fn audit(&self) -> (u32, u32) {
        todo!("one load of the word, taken apart")
    }
    // ANCHOR_END: todo
}
