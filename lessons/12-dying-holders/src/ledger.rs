//! The exercise's data: accounts under a robust mutex, with an undo journal that lets the
//! next locker repair what a dead holder left half written.
//!
//! A robust mutex tells the next locker that its holder died (`EOWNERDEAD`), and nothing
//! more: only the program knows what whole data looks like. The journal, written before a
//! transfer's first write and cleared after its last, is that knowledge: enough to put the
//! accounts back as they were (`exercise::lock_and_repair`).

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use common::Result;
use l09_spinlock::ProcessLock;
use l10_sleeping_locks::{PthreadMutex, Robustness, SharedLock};

use crate::Accounts;

// ANCHOR: ledger
/// The exercise's shared data: accounts under a robust mutex, and a journal that says what
/// a transfer is about to change, written before the first write of the transfer.
#[repr(C)]
pub struct Ledger {
    pub mutex: PthreadMutex,
    pub accounts: Accounts,
    pub journal: Journal,
}

/// An undo record: enough to put the accounts back as they were before a transfer that
/// did not finish. Written and cleared under the mutex.
#[repr(C)]
pub struct Journal {
    /// 0: no transfer under way. 1: one is under way, and the balances below are what the
    /// accounts held before it began.
    pub in_progress: AtomicU32,
    pub a_before: AtomicI64,
    pub b_before: AtomicI64,
}

/// A point in [`Ledger::transfer`] where a test may stop the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// After the first of the two writes (`a -= amount`), before the second.
    Halfway,
    /// After both writes and after the journal was cleared, before the unlock.
    Done,
}

impl Ledger {
    /// A ledger in a shared mapping of its own: a robust, process-shared mutex, both
    /// accounts open, no transfer in progress. Make it before fork.
    pub fn new_shared() -> Result<SharedLock<Ledger>> {
        // SAFETY: the fresh mapping is zeroed (a valid Journal and Accounts); `init` makes
        // the mutex in place, and the mapping is never moved.
        unsafe {
            SharedLock::make(|at: *mut Ledger| {
                PthreadMutex::init(&raw mut (*at).mutex, Robustness::Robust)?;
                (*at).accounts.open();
                Ok(())
            })
        }
    }

    /// Moves `amount` from `a` to `b` the careful way: lock; journal the balances before;
    /// the two writes; clear the journal; unlock (the guard's drop). `at(step)` is called
    /// at each [`Step`]. If the previous holder died, an error, and nothing written: the
    /// mutex is then held by this process, still marked inconsistent (that is what
    /// EOWNERDEAD hands over). Do not copy this shortcut: a caller must repair (as
    /// `lock_and_repair` does) or exit, so that the next locker is told in turn; unlocking
    /// it as it is would make the mutex unusable for good (ENOTRECOVERABLE).
    pub fn transfer(&self, amount: i64, mut at: impl FnMut(Step)) -> Result<()> {
        // Lesson 08's guard, which refuses a mutex whose holder died (lesson 10's
        // `ProcessLock` for `PthreadMutex`); not the `lock` that reports how it got it.
        let _held = ProcessLock::lock(&self.mutex)?;
        let (a, b) = self.accounts.balances();
        self.journal.a_before.store(a, Ordering::Relaxed);
        self.journal.b_before.store(b, Ordering::Relaxed);
        self.journal.in_progress.store(1, Ordering::Relaxed);
        self.accounts.transfer(amount, || at(Step::Halfway));
        self.journal.in_progress.store(0, Ordering::Relaxed);
        at(Step::Done);
        Ok(())
    }
}

/// What [`exercise::lock_and_repair`] found when it took the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The previous holder unlocked: nothing to repair.
    Clean,
    /// The previous holder died in the middle of a transfer; the journal put the accounts
    /// back as they were before it.
    RolledBack,
    /// The previous holder died, but not in the middle of a transfer: the data was whole.
    NothingToRepair,
}
// ANCHOR_END: ledger

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_transfer_clears_its_journal() {
        let ledger = Ledger::new_shared().unwrap();
        let mut steps = Vec::new();
        ledger.transfer(30, |step| steps.push(step)).unwrap();
        assert_eq!(steps, [Step::Halfway, Step::Done]);
        assert_eq!(ledger.accounts.balances(), (70, 130));
        assert_eq!(ledger.journal.in_progress.load(Ordering::Relaxed), 0);
        assert_eq!(ledger.journal.a_before.load(Ordering::Relaxed), 100);
    }
}
