//! Two balances whose sum must never change, and an auditor that checks it.
//!
//! Each balance is an atomic of its own, and each step of a transfer is indivisible; the
//! transfer, two steps, is not. An auditor that looks between the two steps sees money
//! missing or counted twice, whatever the memory ordering: a rule that spans two words
//! needs a lock (or one word holding both, the lesson's exercise).

use std::sync::atomic::{AtomicU64, Ordering};

use common::{Error, Result};

use crate::{Finish, Shared, race};

// ANCHOR: balances
/// Two balances whose sum must never change: money moves from `a` to `b`, it is never made
/// or destroyed. Each balance is an atomic of its own.
#[repr(C)]
pub struct Balances {
    pub a: AtomicU64,
    pub b: AtomicU64,
}

/// Moves 1 from `a` to `b`: two atomic steps, each indivisible, the pair not. SeqCst, the
/// strongest ordering there is, to show that no ordering makes two steps into one.
pub fn transfer_one(balances: &Balances) {
    balances.a.fetch_sub(1, Ordering::SeqCst);
    balances.b.fetch_add(1, Ordering::SeqCst);
}

/// One look at both balances, the way a reader without a lock takes it: `a`, then `b`.
pub fn audit(balances: &Balances) -> (u64, u64) {
    let a = balances.a.load(Ordering::SeqCst);
    let b = balances.b.load(Ordering::SeqCst);
    (a, b)
}
// ANCHOR_END: balances

/// What [`transfer_and_audit`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audited {
    /// The sum the balances must always have: what `a` started with.
    pub total: u64,
    /// The balances once every process has finished.
    pub a: u64,
    pub b: u64,
    /// How many times the auditor looked, and how often the sum it saw was not `total`.
    pub audits: u64,
    pub torn: u64,
    pub finish: Finish,
}

/// The auditor's side of the shared memory: how many transferers have finished, and what
/// the auditor counted.
#[repr(C)]
struct AuditLog {
    /// 0 until the auditor is running and about to audit.
    watching: AtomicU64,
    /// How many transferers have made all their transfers.
    finished: AtomicU64,
    audits: AtomicU64,
    torn: AtomicU64,
}

// ANCHOR: transfer_and_audit
/// `transferers` processes each make `iterations` transfers of 1 from `a` (which starts
/// with all the money) to `b`, while one more process, the auditor, checks `a + b` again
/// and again until they have all finished. Every process is released at one start barrier,
/// and the transferers begin only once the auditor is watching: a process that shares its
/// CPU with the auditor could otherwise finish all its transfers before the auditor first
/// runs.
pub fn transfer_and_audit(transferers: usize, iterations: u64, pin: bool) -> Result<Audited> {
    let total = iterations
        .checked_mul(transferers as u64)
        .ok_or_else(|| Error::Usage(format!("{transferers} x {iterations} transfers overflow")))?;
    let (balances_memory, log_memory) = (Shared::<Balances>::new()?, Shared::<AuditLog>::new()?);
    // SAFETY: zeroed atomics in live mappings that outlive these references, used by every
    // process through atomic operations only.
    let (balances, log) = unsafe { (&*balances_memory.as_ptr(), &*log_memory.as_ptr()) };
    balances.a.store(total, Ordering::SeqCst); // before fork: every worker sees it

    let finish = race(transferers + 1, pin, |index| {
        if index < transferers {
            while log.watching.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now(); // let the auditor have our CPU if it shares it
            }
            for _ in 0..iterations {
                transfer_one(balances);
            }
            log.finished.fetch_add(1, Ordering::SeqCst);
        } else {
            let (mut audits, mut torn) = (0, 0);
            log.watching.store(1, Ordering::SeqCst);
            loop {
                let all_done = log.finished.load(Ordering::SeqCst) == transferers as u64;
                let (a, b) = audit(balances);
                audits += 1;
                if a.wrapping_add(b) != total {
                    torn += 1; // money missing (a already paid, b not yet) or counted twice
                }
                if all_done {
                    break;
                }
            }
            log.audits.store(audits, Ordering::SeqCst);
            log.torn.store(torn, Ordering::SeqCst);
        }
        Ok(())
    })?;
    let (a, b) = audit(balances);
    Ok(Audited {
        total,
        a,
        b,
        audits: log.audits.load(Ordering::SeqCst),
        torn: log.torn.load(Ordering::SeqCst),
        finish,
    })
}
// ANCHOR_END: transfer_and_audit
