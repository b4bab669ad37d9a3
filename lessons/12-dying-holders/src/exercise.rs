//! Lesson 12's exercise: take a robust mutex whose last holder may have died, and repair
//! what it was protecting before anyone else sees it.
//!
//! Write `lock_and_repair`, then run `cargo course check 12` until it is green. `cargo
//! course hint 12` gives hints, one level at a time; src/solution.rs has an answer.

#[allow(unused_imports)] // you will need these
use std::sync::atomic::Ordering;

#[allow(unused_imports)]
use common::{Error, Result};
#[allow(unused_imports)]
use l10_sleeping_locks::{Acquired, PthreadMutex};

#[allow(unused_imports)]
use crate::{Accounts, Journal, Recovery, TOTAL};

/// Locks `mutex` (robust and process-shared) and returns with it held, and with `accounts`
/// whole again: `a + b == TOTAL`.
///
/// - If the last holder unlocked it (`Acquired::Clean`): nothing to do; `Recovery::Clean`.
/// - If it died holding it (`Acquired::OwnerDied`, from `EOWNERDEAD`): the accounts may be
///   half written. `journal.in_progress == 1` means it died inside a transfer, and
///   `journal.a_before`/`b_before` hold the balances from before that transfer: put them
///   back and clear `in_progress` (`Recovery::RolledBack`). Otherwise the data is whole
///   (`Recovery::NothingToRepair`). Either way, tell the mutex the data is consistent again
///   before you return, or it becomes unusable for everyone once it is unlocked.
pub fn lock_and_repair(
    mutex: &PthreadMutex,
    accounts: &Accounts,
    journal: &Journal,
) -> Result<Recovery> {
    let _ = (mutex, accounts, journal);
    todo!("lock; on OwnerDied repair the accounts from the journal and make the mutex consistent")
}
