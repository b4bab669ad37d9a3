//! Checks for lesson 08's exercise. `cargo test -p l08-races` runs them against
//! src/solution.rs; `cargo exercise l08-races` against your src/exercise.rs.
//! The racing checks fork, so they run in this file's own single-threaded `main`.
//!
//! The races use the lesson's harness: every process pinned to a CPU of its own where there
//! are enough, all released together at a start barrier, thousands of transfers each.

use std::sync::atomic::{AtomicU64, Ordering};

use common::watchdog;
use l08_races::exercise::Accounts;
use l08_races::{Shared, race, usable_cpus};

fn main() -> std::process::ExitCode {
    if usable_cpus().map(|cpus| cpus.len()).unwrap_or(1) < 2 {
        println!(
            "\n  note: this process may use one CPU only, so the racing processes take turns \
             instead of running at once; a racy answer may pass here and fail elsewhere"
        );
    }
    common::run_tests!(
        a_transfer_moves_money_from_a_to_b,
        a_transfer_that_would_overdraw_a_changes_nothing,
        no_transfer_is_lost_when_four_pinned_processes_race,
        an_auditor_never_sees_money_missing_or_counted_twice,
    )
}

/// Accounts in shared memory, opened with `a` and `b`: made before any fork, like every
/// structure PostgreSQL shares.
fn open(a: u32, b: u32) -> Shared<Accounts> {
    let accounts = Shared::<Accounts>::new().expect("map shared memory");
    // SAFETY: all-zero bytes are valid Accounts (one AtomicU64); the mapping lives on.
    unsafe { &*accounts.as_ptr() }.open(a, b);
    accounts
}

fn a_transfer_moves_money_from_a_to_b() {
    let memory = open(10, 0);
    // SAFETY: as in `open`; only atomics inside, only this process.
    let accounts = unsafe { &*memory.as_ptr() };
    assert_eq!(accounts.audit(), (10, 0), "opened with A = 10, B = 0");
    assert!(
        accounts.transfer(3),
        "transfer(3) with A = 10 should succeed (return true)"
    );
    assert_eq!(
        accounts.audit(),
        (7, 3),
        "after transfer(3), A should be 10 - 3 and B 0 + 3 (A is the high half, B the low)"
    );
    assert!(
        accounts.transfer(7),
        "transfer(7) with A = 7 should succeed"
    );
    assert_eq!(
        accounts.audit(),
        (0, 10),
        "after transfer(7), A = 0 and B = 10"
    );
}

fn a_transfer_that_would_overdraw_a_changes_nothing() {
    let memory = open(5, u32::MAX - 1);
    // SAFETY: as in `open`.
    let accounts = unsafe { &*memory.as_ptr() };
    assert!(
        !accounts.transfer(6),
        "transfer(6) with A = 5 should be refused (return false): A cannot go below 0"
    );
    assert_eq!(
        accounts.audit(),
        (5, u32::MAX - 1),
        "a refused transfer must change nothing"
    );
    assert!(
        !accounts.transfer(2),
        "transfer(2) with B = u32::MAX - 1 should be refused: B would overflow (checked_add)"
    );
    assert_eq!(
        accounts.audit(),
        (5, u32::MAX - 1),
        "a refused transfer must change nothing"
    );
    assert!(accounts.transfer(1), "transfer(1) fits: A 4, B u32::MAX");
    assert_eq!(accounts.audit(), (4, u32::MAX));
}

/// Processes in each race, and transfers each one tries.
const RACERS: usize = 4;
const ATTEMPTS: u64 = 5_000;
/// What A holds at the start of a round: less than all the attempts together, so some
/// must be refused; and A runs dry at the end of every round, where overdrafts happen.
const OPENING: u32 = 15_000;
const ROUNDS: usize = 10;

fn no_transfer_is_lost_when_four_pinned_processes_race() {
    let tried = RACERS as u64 * ATTEMPTS;
    for round in 1..=ROUNDS {
        let (a, b, reported) = drain_a();
        let after = format!(
            "in round {round} of {ROUNDS}, {RACERS} pinned processes tried {tried} transfers \
             of 1 from A = {OPENING}, B = 0. Afterwards A = {a}, B = {b}, and {reported} \
             transfers had returned true"
        );
        assert!(
            u64::from(a) + u64::from(b) == u64::from(OPENING),
            "{after}: money was made or destroyed. If A = {a} is huge, A went below 0 and \
             wrapped: two processes both saw enough money for one last transfer, and both \
             took it. Decide and change in one step: compare_exchange stores the new word \
             only if the word is still the one you decided on"
        );
        assert!(
            u64::from(b) == reported,
            "{after}: {} transfers were lost. A load, then a store, lets another process's \
             transfer land in between, and the store overwrites it. Install the new word with \
             compare_exchange(_weak), which stores only if the word still holds what you \
             loaded, and retry with the value it returns when it does not",
            reported.saturating_sub(u64::from(b))
        );
        assert!(
            (a, reported) == (0, u64::from(OPENING)),
            "{after}: exactly {OPENING} should have succeeded, leaving A = 0. Refuse a \
             transfer only when the A you loaded is less than the amount"
        );
    }
}

/// One round: accounts opened with A = OPENING, B = 0; RACERS pinned processes each try
/// ATTEMPTS transfers of 1. Returns A, B, and how many transfers returned true.
fn drain_a() -> (u32, u32, u64) {
    let memory = open(OPENING, 0);
    // SAFETY: as in `open`; from here on every process uses it through atomics only.
    let accounts = unsafe { &*memory.as_ptr() };
    let succeeded = Shared::<[AtomicU64; RACERS]>::new().expect("map shared memory");
    // SAFETY: zeroed atomics in a live mapping, used through atomic operations only.
    let succeeded = unsafe { &*succeeded.as_ptr() };

    race(RACERS, true, |index| {
        watchdog::arm(DEADLINE_SECONDS);
        let mut mine = 0;
        for _ in 0..ATTEMPTS {
            if accounts.transfer(1) {
                mine += 1;
            }
        }
        succeeded[index].store(mine, Ordering::SeqCst);
        Ok(())
    })
    .unwrap_or_else(|err| panic!("the race failed: {err}{}", why_the_race_failed(&err)));

    let (a, b) = accounts.audit();
    (
        a,
        b,
        succeeded.iter().map(|s| s.load(Ordering::SeqCst)).sum(),
    )
}

/// The auditor's results, and a flag it raises once it is watching.
#[repr(C)]
struct Watch {
    watching: AtomicU64,
    finished: AtomicU64,
    audits: AtomicU64,
    torn: AtomicU64,
    /// The first torn look: pack(a, b) as the auditor saw it.
    example: AtomicU64,
}

fn an_auditor_never_sees_money_missing_or_counted_twice() {
    const TRANSFERERS: usize = RACERS - 1;
    const TRANSFERS: u64 = 20_000; // each
    let total = TRANSFERERS as u32 * TRANSFERS as u32;
    let memory = open(total, 0);
    // SAFETY: as in `open`.
    let accounts = unsafe { &*memory.as_ptr() };
    let watch = Shared::<Watch>::new().expect("map shared memory");
    // SAFETY: zeroed atomics in a live mapping, used through atomic operations only.
    let watch = unsafe { &*watch.as_ptr() };

    race(RACERS, true, |index| {
        watchdog::arm(DEADLINE_SECONDS);
        if index < TRANSFERERS {
            // Start once the auditor looks, even if it shares our CPU.
            while watch.watching.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            for _ in 0..TRANSFERS {
                accounts.transfer(1);
            }
            watch.finished.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        let (mut audits, mut torn) = (0_u64, 0_u64);
        watch.watching.store(1, Ordering::SeqCst);
        loop {
            let done = watch.finished.load(Ordering::SeqCst) == TRANSFERERS as u64;
            let (a, b) = accounts.audit();
            audits += 1;
            if u64::from(a) + u64::from(b) != u64::from(total) {
                if torn == 0 {
                    let seen = (u64::from(a) << 32) | u64::from(b);
                    watch.example.store(seen, Ordering::SeqCst);
                }
                torn += 1;
            }
            if done {
                break;
            }
        }
        watch.audits.store(audits, Ordering::SeqCst);
        watch.torn.store(torn, Ordering::SeqCst);
        Ok(())
    })
    .unwrap_or_else(|err| panic!("the race failed: {err}{}", why_the_race_failed(&err)));

    let (audits, torn) = (
        watch.audits.load(Ordering::SeqCst),
        watch.torn.load(Ordering::SeqCst),
    );
    let example = watch.example.load(Ordering::SeqCst);
    let (a, b) = ((example >> 32) as u32, example as u32);
    assert!(
        torn == 0,
        "while {TRANSFERERS} pinned processes moved money from A to B, an auditor looked \
         {audits} times and {torn} times saw A + B != {total} (the first: A = {a}, B = {b}, \
         sum {}). Half a transfer was visible: change both balances with one atomic \
         operation on the word (compare_exchange), and read them with one load",
        u64::from(a) + u64::from(b)
    );
    assert!(
        accounts.audit() == (0, total),
        "after {total} transfers of 1, A should be 0 and B {total}; they are {:?}",
        accounts.audit()
    );
}

/// Seconds a racing process may take before its watchdog ends it: far more than a correct
/// `transfer` needs, so only a hang (a compare-exchange loop that never succeeds) hits it.
/// Each racing process arms its own (`common::watchdog`): a `transfer` that never returns
/// then fails the check with a message, instead of hanging it.
const DEADLINE_SECONDS: u32 = 10;

fn why_the_race_failed(err: &common::Error) -> &'static str {
    if err.to_string().contains("SIGALRM") {
        ". A racing process was still inside transfer or audit after 10 s: a compare-exchange \
         loop that retries with the value it loaded first never succeeds once another process \
         has changed the word. On Err(now), decide again on `now`"
    } else {
        " (a panic in transfer or audit? see above)"
    }
}
