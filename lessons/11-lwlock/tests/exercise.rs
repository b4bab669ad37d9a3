//! Checks for lesson 11's exercise, `try_acquire_shared`. `cargo test -p l11-lwlock` runs
//! them against src/solution.rs; `cargo exercise l11-lwlock` against your src/exercise.rs.
//! They fork, so they run in this file's own single-threaded `main`.
//!
//! The first three look at the state word in one process, each run in a child with its
//! watchdog armed (`common::watchdog`): an attempt that never returns ends in SIGALRM and a
//! message, not a hang. The last races pinned readers and writers through the whole lock,
//! whose shared mode calls your function, with counters in shared memory.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};

use common::watchdog::{Checked, check_in_child};
use l11_lwlock::{
    EXCLUSIVE, HAS_WAITERS, LOCK_MASK, LOCKED, LwLock, RELEASE_OK, SHARED, describe,
    exercise::try_acquire_shared, readers_and_writers,
};

fn main() -> ExitCode {
    common::run_tests!(
        a_second_reader_gets_in_while_the_first_reads,
        no_reader_gets_in_while_a_writer_holds_it,
        a_reader_keeps_every_flag_bit,
        racing_readers_share_and_writers_exclude,
    )
}

/// Seconds a single-process check may take (it takes microseconds).
const QUICK: u32 = 2;
/// Seconds a racing process may run; the race takes a fraction of one.
const PATIENCE: u32 = 4;

/// Runs `check` in a forked child with its watchdog armed, and fails with `hint` if the
/// watchdog ends it. A panic in the child prints its own message (the panic hook is
/// inherited).
fn in_child(what: &str, hint: &str, check: fn()) {
    match check_in_child(QUICK, check) {
        Checked::Passed => {}
        Checked::Failed => panic!("{what}: failed (the message is above)"),
        Checked::Hung => {
            panic!("{what}: try_acquire_shared had not returned after {QUICK} s. {hint}")
        }
        Checked::Ended(exit) => panic!("{what}: the checking process {exit}"),
    }
}

fn word(value: u32) -> AtomicU32 {
    AtomicU32::new(value)
}

fn a_second_reader_gets_in_while_the_first_reads() {
    in_child(
        "a second reader gets in while the first reads",
        "On a free lock it must add one shared holder and return true at once",
        || {
            let state = word(RELEASE_OK);
            assert!(
                try_acquire_shared(&state),
                "on a free lock (state free | RELEASE_OK) try_acquire_shared returned false: \
                 a lock nobody holds must be taken"
            );
            let now = state.load(Ordering::Relaxed);
            assert_eq!(
                now,
                RELEASE_OK + SHARED,
                "after one reader got in, the word reads {} ({now:#x}); expected \
                 1 shared | RELEASE_OK: add SHARED (1) to the count, and leave the other bits",
                describe(now)
            );
            assert!(
                try_acquire_shared(&state),
                "with one reader inside (1 shared | RELEASE_OK) a second reader was refused. \
                 Readers share: refuse only when EXCLUSIVE is set, not whenever the count is \
                 above 0 (that makes it a mutex)"
            );
            let now = state.load(Ordering::Relaxed);
            assert_eq!(
                now,
                RELEASE_OK + 2 * SHARED,
                "after two readers got in, the word reads {} ({now:#x}); expected \
                 2 shared | RELEASE_OK",
                describe(now)
            );
        },
    );
}

fn no_reader_gets_in_while_a_writer_holds_it() {
    in_child(
        "no reader gets in while a writer holds the lock",
        "When EXCLUSIVE is set, return false at once: LwLock::acquire does the waiting \
         (it queues the process and sleeps on its semaphore), not the attempt",
        || {
            for held in [EXCLUSIVE | RELEASE_OK, EXCLUSIVE | HAS_WAITERS | LOCKED] {
                let state = word(held);
                assert!(
                    !try_acquire_shared(&state),
                    "a reader got in while a writer holds the lock (state {}): return \
                     false when the EXCLUSIVE bit is set",
                    describe(held)
                );
                let now = state.load(Ordering::Relaxed);
                assert_eq!(
                    now,
                    held,
                    "a refused reader changed the word from {} to {}: a failed attempt must \
                     leave it exactly as it was (the writer's release subtracts only its own \
                     EXCLUSIVE, so anything you add stays for ever)",
                    describe(held),
                    describe(now)
                );
            }
        },
    );
}

fn a_reader_keeps_every_flag_bit() {
    in_child(
        "a reader keeps every flag bit",
        "With flag bits set but no writer inside, the reader must get in",
        || {
            let held = (3 * SHARED) | HAS_WAITERS | LOCKED;
            let state = word(held);
            assert!(
                try_acquire_shared(&state),
                "with 3 readers inside and flags set ({}), a fourth was refused: only \
                 EXCLUSIVE keeps a reader out; HAS_WAITERS and LOCKED belong to the wait \
                 queue",
                describe(held)
            );
            let now = state.load(Ordering::Relaxed);
            assert_eq!(
                now,
                held + SHARED,
                "the word went from {} to {}; expected {}: compute the new word from the \
                 whole old one (old + SHARED), so the flags other processes set survive",
                describe(held),
                describe(now),
                describe(held + SHARED)
            );
        },
    );
}

fn racing_readers_share_and_writers_exclude() {
    const READERS: usize = 3;
    const WRITERS: usize = 2;
    const WRITES: u64 = 1500;
    let lock = LwLock::new_shared().expect("map the lock");
    let total = WRITERS as u64 * WRITES;
    let seen = readers_and_writers(&lock, READERS, WRITERS, WRITES, true, PATIENCE).unwrap_or_else(
        |err| {
            let text = err.to_string();
            let why = if text.contains("SIGALRM") {
                "it slept (or spun) for good, because the word went wrong. A shared count \
                 that gained too much (a mode taken the wrong way) or lost an increment (a \
                 load and then a store, instead of one compare_exchange) never comes back to \
                 0, so no writer gets in and no release wakes anyone; a store can also wipe \
                 out a flag or a writer's EXCLUSIVE that another process set in between"
            } else if text.contains("101") {
                "it panicked (the message is above). If a release found the lock not held the \
                 way it expected, the count went wrong on the way in: one compare_exchange \
                 from the old word to the new one, not a load and then a store"
            } else {
                "see the error"
            };
            panic!("{READERS} readers and {WRITERS} writers raced, pinned; {text}: {why}")
        },
    );
    let context = format!(
        "{READERS} pinned readers read A and B under the shared lock while {WRITERS} writers \
         made {WRITES} transfers each under the exclusive lock"
    );
    assert!(
        !seen.starved,
        "{context}: the writers had made only {} of {total} transfers after {} s. The \
         shared count must come back to 0 once the readers are out: each reader adds exactly \
         SHARED in one atomic step, and its release takes exactly that away",
        seen.writes,
        PATIENCE / 2
    );
    assert_eq!(
        (seen.overlaps, seen.torn),
        (0, 0),
        "{context}: {} times a reader and a writer (or two writers) were inside together, and \
         {} reads saw A + B != {total}. A reader must never get in while EXCLUSIVE is set, and \
         the check and the increment must be one compare_exchange: a writer can set EXCLUSIVE \
         between a load and a store",
        seen.overlaps,
        seen.torn
    );
    assert_eq!(
        (seen.a, seen.b),
        (0, total),
        "{context}: at the end A = {} and B = {}, not 0 and {total}",
        seen.a,
        seen.b
    );
    assert!(
        seen.max_readers >= 2,
        "{context}: in {} shared reads, never two readers were inside at once. Readers \
         share the lock: a reader must get in while other readers hold it",
        seen.reads
    );
    let left = seen.state_after & (LOCK_MASK | LOCKED | HAS_WAITERS);
    assert_eq!(
        left,
        0,
        "{context}: with every process gone, the word reads {}: holders or flags were left \
         behind. Add SHARED to the word as it is, in one compare_exchange",
        describe(seen.state_after)
    );
}
