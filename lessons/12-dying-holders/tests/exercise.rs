//! Checks for lesson 12's exercise, `lock_and_repair`. `cargo test -p l12-dying-holders`
//! runs them against src/solution.rs; `cargo exercise l12-dying-holders` against your
//! src/exercise.rs. They fork a holder and kill it, so they run in this file's own
//! single-threaded `main`.
//!
//! Every kill is deterministic: the holder takes the mutex, makes the first write of a
//! transfer (or all of it), raises a flag in shared memory and waits; the test sees the
//! flag and sends SIGKILL. No sleeps, no luck.
//!
//! The ledgers are never unmapped (`forget`): a robust mutex that this process may still
//! hold is on glibc's list of robust mutexes, and that list must never point at memory
//! that is gone. They stay mapped until this process exits.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{Error, Exit, fork_child};
use l10_sleeping_locks::{Acquired, SharedLock};
use l12_dying_holders::exercise::lock_and_repair;
use l12_dying_holders::{Ledger, OPENING, Recovery, Step, TOTAL, kill_and_reap};
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};

fn main() -> ExitCode {
    common::run_tests!(
        a_clean_lock_needs_no_repair,
        a_transfer_cut_halfway_is_rolled_back,
        the_mutex_works_again_after_a_repair,
        a_holder_that_finished_its_writes_is_not_undone,
    )
}

const AMOUNT: i64 = 50;

/// A fresh ledger, kept mapped until the process exits (see the file's comment).
fn ledger() -> &'static Ledger {
    let shared: SharedLock<Ledger> = Ledger::new_shared().expect("map a ledger");
    let ledger: *const Ledger = &*shared;
    std::mem::forget(shared);
    // SAFETY: the mapping is never unmapped now, so the Ledger lives until the process ends.
    unsafe { &*ledger }
}

/// Forks a holder that runs `ledger.transfer(AMOUNT)` and stops at `step`, and kills it
/// there with SIGKILL.
fn kill_holder_at(ledger: &'static Ledger, step: Step) {
    // SAFETY: zeroed memory is a valid AtomicU32, shared only through atomic operations.
    let flag_memory: SharedLock<AtomicU32> =
        unsafe { SharedLock::make(|_| Ok(())) }.expect("map a flag");
    let flag: &AtomicU32 = &flag_memory;
    let holder = fork_child(|| {
        let stop = |at: Step| {
            if at == step {
                flag.store(1, Ordering::Release);
                loop {
                    nix::unistd::pause(); // until SIGKILL
                }
            }
        };
        match ledger.transfer(AMOUNT, stop) {
            Ok(()) => 2, // it should never get here
            Err(_) => 3,
        }
    })
    .expect("fork the holder");
    while flag.load(Ordering::Acquire) == 0 {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        let alive = matches!(
            waitid(Id::Pid(holder.pid()), flags),
            Ok(WaitStatus::StillAlive)
        );
        assert!(
            alive,
            "the holder ended before it reached {step:?} (test bug)"
        );
        std::thread::yield_now();
    }
    let exit = kill_and_reap(holder).expect("kill the holder");
    assert_eq!(exit, Exit::Signal(Signal::SIGKILL));
}

/// Calls the learner's function; on success the mutex is held, so unlock it right away
/// (after noting the balances), and report what came back.
fn call(ledger: &Ledger) -> (Recovery, (i64, i64)) {
    let result = lock_and_repair(&ledger.mutex, &ledger.accounts, &ledger.journal);
    let balances = ledger.accounts.balances();
    match result {
        Ok(recovery) => {
            ledger
                .mutex
                .unlock()
                .expect("lock_and_repair returned Ok, so the mutex should be held: unlock");
            (recovery, balances)
        }
        Err(err) => panic!(
            "lock_and_repair returned an error: {err} (the accounts: a {} + b {})",
            balances.0, balances.1
        ),
    }
}

fn a_clean_lock_needs_no_repair() {
    let ledger = ledger();
    ledger.transfer(AMOUNT, |_| {}).expect("a transfer");
    let (recovery, balances) = call(ledger);
    assert_eq!(
        recovery,
        Recovery::Clean,
        "nobody died: pthread_mutex_lock returned 0 (Acquired::Clean); lock_and_repair \
         should say Recovery::Clean"
    );
    assert_eq!(
        balances,
        (OPENING - AMOUNT, OPENING + AMOUNT),
        "nobody died, so nothing may be changed: the finished transfer must stay"
    );
}

fn a_transfer_cut_halfway_is_rolled_back() {
    let ledger = ledger();
    kill_holder_at(ledger, Step::Halfway);
    let (recovery, (a, b)) = call(ledger);
    assert_eq!(
        a + b,
        TOTAL,
        "the holder was killed between `a -= {AMOUNT}` and `b += {AMOUNT}`; after \
         lock_and_repair the accounts read a {a} + b {b} = {}, not {TOTAL}: the data a dead \
         holder leaves cannot be trusted. The journal says a transfer was in progress \
         (journal.in_progress == 1): put back journal.a_before and journal.b_before",
        a + b
    );
    assert_eq!(
        (a, b),
        (OPENING, OPENING),
        "the sum is right, but the balances should be what they were before the transfer \
         (the journal's a_before and b_before)"
    );
    assert_eq!(
        recovery,
        Recovery::RolledBack,
        "the accounts were repaired from the journal: say Recovery::RolledBack"
    );
    assert_eq!(
        ledger.journal.in_progress.load(Ordering::Relaxed),
        0,
        "after the repair no transfer is in progress any more: clear journal.in_progress"
    );
}

fn the_mutex_works_again_after_a_repair() {
    let ledger = ledger();
    kill_holder_at(ledger, Step::Halfway);
    let _ = call(ledger);
    match ledger.mutex.try_lock() {
        Ok(Some(Acquired::Clean)) => ledger.mutex.unlock().expect("unlock"),
        Ok(Some(Acquired::OwnerDied)) => {
            ledger.mutex.unlock().expect("unlock");
            panic!("the mutex still reports EOWNERDEAD after lock_and_repair and unlock")
        }
        Ok(None) => panic!("the mutex is still held after lock_and_repair and one unlock"),
        Err(
            err @ Error::Sys {
                errno: Errno::ENOTRECOVERABLE,
                ..
            },
        ) => panic!(
            "after lock_and_repair and unlock, the next lock failed: {err}. A robust mutex \
             taken with EOWNERDEAD and unlocked without pthread_mutex_consistent is unusable \
             for good: call mutex.make_consistent() once the data is repaired, before \
             returning"
        ),
        Err(err) => panic!("the next lock failed: {err}"),
    }
}

fn a_holder_that_finished_its_writes_is_not_undone() {
    let ledger = ledger();
    kill_holder_at(ledger, Step::Done);
    let (recovery, balances) = call(ledger);
    assert_eq!(
        balances,
        (OPENING - AMOUNT, OPENING + AMOUNT),
        "the holder was killed after both writes and after it cleared the journal \
         (in_progress 0), only before its unlock: the transfer is complete and must stay. \
         Roll back only when journal.in_progress is 1"
    );
    assert_eq!(
        recovery,
        Recovery::NothingToRepair,
        "the holder died (EOWNERDEAD), but the data was whole: say Recovery::NothingToRepair"
    );
}
