//! The data a lock protects here: two balances, and the invariant between them.
//!
//! A lock exists because some change takes more than one write. A transfer takes from `a`
//! and then gives to `b`: between the two, the sum is wrong, and only the lock keeps
//! anyone from looking. A holder killed at that moment leaves the sum wrong for good.

use std::sync::atomic::{AtomicI64, Ordering};

// ANCHOR: accounts
/// Two balances in shared memory, and the invariant a lock must protect: `a + b == TOTAL`.
/// Atomics only so that a reader in another process is sound; the lock around a transfer
/// is what keeps the two writes together.
#[repr(C)]
pub struct Accounts {
    pub a: AtomicI64,
    pub b: AtomicI64,
}

/// Each account opens with this much.
pub const OPENING: i64 = 100;
/// What `a + b` must always be, whenever nobody holds the lock.
pub const TOTAL: i64 = 2 * OPENING;

impl Accounts {
    /// Both balances back to [`OPENING`].
    pub fn open(&self) {
        self.a.store(OPENING, Ordering::Relaxed);
        self.b.store(OPENING, Ordering::Relaxed);
    }

    pub fn balances(&self) -> (i64, i64) {
        (
            self.a.load(Ordering::Relaxed),
            self.b.load(Ordering::Relaxed),
        )
    }

    pub fn sum(&self) -> i64 {
        let (a, b) = self.balances();
        a + b
    }

    /// Moves `amount` from `a` to `b`: two writes, with `halfway` run between them. Call it
    /// only with the lock held: between the two writes the invariant is broken.
    pub fn transfer(&self, amount: i64, halfway: impl FnOnce()) {
        self.a.fetch_sub(amount, Ordering::Relaxed);
        halfway();
        self.b.fetch_add(amount, Ordering::Relaxed);
    }
}

impl std::fmt::Display for Accounts {
    /// `a 50 + b 100 = 150, not 200` (or `= 200`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = self.balances();
        match a + b {
            TOTAL => write!(f, "a {a} + b {b} = {TOTAL}"),
            sum => write!(f, "a {a} + b {b} = {sum}, not {TOTAL}"),
        }
    }
}
// ANCHOR_END: accounts

#[cfg(test)]
mod tests {
    use super::*;

    /// Accounts in this process's memory: the tests need no other process.
    fn opened() -> Accounts {
        let accounts = Accounts {
            a: AtomicI64::new(0),
            b: AtomicI64::new(0),
        };
        accounts.open();
        accounts
    }

    #[test]
    fn a_transfer_keeps_the_sum_and_breaks_it_halfway() {
        let accounts = opened();
        assert_eq!(accounts.to_string(), "a 100 + b 100 = 200");
        accounts.transfer(50, || assert_eq!(accounts.sum(), 150));
        assert_eq!(accounts.to_string(), "a 50 + b 150 = 200");
    }

    #[test]
    fn a_broken_sum_says_what_it_should_be() {
        let accounts = opened();
        accounts.a.store(50, Ordering::Relaxed);
        assert_eq!(accounts.to_string(), "a 50 + b 100 = 150, not 200");
    }
}
