//! Lesson 12's exercise, solved: lock a robust mutex and repair what a dead holder left.

use std::sync::atomic::Ordering;

use common::{Error, Result};
use l10_sleeping_locks::{Acquired, PthreadMutex};

use crate::{Accounts, Journal, Recovery, TOTAL};

// ANCHOR: lock_and_repair
/// Locks `mutex` and returns with it held and `accounts` whole (`a + b == TOTAL`), after
/// undoing a transfer that a dead holder left half done.
pub fn lock_and_repair(
    mutex: &PthreadMutex,
    accounts: &Accounts,
    journal: &Journal,
) -> Result<Recovery> {
    if mutex.lock()? == Acquired::Clean {
        return Ok(Recovery::Clean);
    }
    // EOWNERDEAD: we hold the lock, and its last holder died holding it. Trust nothing it
    // wrote after the journal said "in progress": put back what was there before.
    let recovery = if journal.in_progress.load(Ordering::Relaxed) == 1 {
        accounts
            .a
            .store(journal.a_before.load(Ordering::Relaxed), Ordering::Relaxed);
        accounts
            .b
            .store(journal.b_before.load(Ordering::Relaxed), Ordering::Relaxed);
        journal.in_progress.store(0, Ordering::Relaxed);
        Recovery::RolledBack
    } else {
        Recovery::NothingToRepair
    };
    if accounts.sum() != TOTAL {
        // Broken, and no record of how: refuse. Unlocking without make_consistent leaves
        // the mutex ENOTRECOVERABLE, so nobody else can use the bad data either.
        mutex.unlock()?;
        return Err(Error::Failed(format!(
            "the accounts are broken ({accounts}) and the journal cannot repair them"
        )));
    }
    // Only now: the data is whole again, so the lock may go on being used.
    mutex.make_consistent()?;
    Ok(recovery)
}
// ANCHOR_END: lock_and_repair
