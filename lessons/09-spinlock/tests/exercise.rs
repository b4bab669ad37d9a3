//! Checks for lesson 09's exercise. `cargo test -p l09-spinlock` runs them against
//! src/solution.rs; `cargo exercise l09-spinlock` against your src/exercise.rs.
//! They fork, so they run in this file's own single-threaded `main`.
//!
//! Every racing process arms its watchdog first (`common::watchdog`): an `acquire` that
//! never returns ends in SIGALRM after a few seconds, and the check says so, instead of
//! hanging.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use common::{Exit, fork_child, watchdog};
use l09_spinlock::{
    Backoff, ProcessLock, Shared, SpinLock, count_under_lock, lock_word, new_lock_word, tas,
    usable_cpus,
};

fn main() -> std::process::ExitCode {
    common::run_tests!(
        a_free_lock_is_taken_at_once,
        two_pinned_processes_count_exactly,
        more_processes_than_cpus_count_exactly,
        a_lock_held_forever_is_reported_stuck,
    )
}

/// Seconds a racing process may run before its watchdog ends it (the races take well under
/// one), and seconds a waiter for a lock held forever may wait (3 sleeps take about 5 ms).
const PATIENCE: u32 = 10;
const STUCK_PATIENCE: u32 = 3;

fn a_free_lock_is_taken_at_once() {
    let shared = new_lock_word().unwrap();
    let word = lock_word(&shared);
    let lock = SpinLock {
        word,
        backoff: Backoff::POSTGRES,
    };
    for round in 1..=3 {
        let held = ProcessLock::lock(&lock);
        assert!(
            held.is_ok(),
            "acquire on a free lock (round {round}) said Stuck: a free lock is taken at once"
        );
        let state = word.state.load(Ordering::Relaxed);
        assert_eq!(
            state, 1,
            "after acquire the word reads {state}: a held lock is 1 (swap in 1 when it reads 0)"
        );
        drop(held);
    }
}

fn two_pinned_processes_count_exactly() {
    race_and_count(2, 100_000);
}

fn more_processes_than_cpus_count_exactly() {
    let workers = 3 * usable_cpus().unwrap().len().min(4);
    race_and_count(workers, 10_000);
}

/// `workers` pinned processes, each making `iterations` of lesson 08's wide-window
/// increments under the learner's lock, after a start barrier: the count must be exact.
fn race_and_count(workers: usize, iterations: u64) {
    let shared = new_lock_word().unwrap();
    let lock = Watched(SpinLock {
        word: lock_word(&shared),
        backoff: Backoff::POSTGRES,
    });
    let expected = workers as u64 * iterations;
    let (count, _) = count_under_lock(&lock, workers, iterations, true).unwrap_or_else(|err| {
        let text = err.to_string();
        let why = if text.contains("101") {
            "acquire panicked in a racing process (its message is above)"
        } else if text.contains("SIGALRM") {
            "a process was still racing after 10 s: does acquire return once the word \
             reads 0 and your swap of 1 into it returned 0?"
        } else {
            "see the error"
        };
        panic!("racing {workers} processes failed: {text}: {why}")
    });
    assert_eq!(
        count,
        expected,
        "{workers} pinned processes x {iterations} increments under your SpinLock counted \
         {count}, not {expected}: {} updates were lost, so two processes were inside the lock \
         at once. Taking the lock must be ONE atomic step that both tests and sets: \
         `swap(1, Acquire)` (or `compare_exchange(0, 1, Acquire, Relaxed)`) and look at what \
         it returns; a `load` that sees 0 followed by a `store(1)` lets another process in \
         between the two",
        expected.saturating_sub(count)
    );
}

fn a_lock_held_forever_is_reported_stuck() {
    const MAX_DELAYS: u32 = 3;
    let shared = new_lock_word().unwrap();
    let word = lock_word(&shared);
    let holding = Shared::<AtomicU32>::new().unwrap();
    // SAFETY: a zeroed AtomicU32 in a live mapping, used only through atomic operations.
    let holding: &AtomicU32 = unsafe { &*holding.as_ptr() };
    let holder = fork_child(|| {
        if tas(word) != 0 {
            return 1;
        }
        holding.store(1, Ordering::Release);
        loop {
            nix::unistd::pause();
        }
    })
    .unwrap();
    while holding.load(Ordering::Acquire) == 0 {
        std::hint::spin_loop();
    }
    let waiter = fork_child(|| {
        watchdog::arm(STUCK_PATIENCE);
        let lock = SpinLock {
            word,
            backoff: Backoff {
                max_delays: MAX_DELAYS,
                ..Backoff::POSTGRES
            },
        };
        let slept_before = voluntary_switches();
        let outcome = lock.acquire();
        let slept = voluntary_switches() - slept_before;
        match outcome {
            Ok(()) => 2,
            Err(stuck) if stuck.delays != MAX_DELAYS => 3,
            Err(_) if slept < u64::from(MAX_DELAYS) => 4,
            Err(stuck) if !stuck.location.file().ends_with("tests/exercise.rs") => 5,
            Err(_) => 0,
        }
    })
    .unwrap();
    let exit = waiter.wait().unwrap();
    drop(holder); // kills and reaps the holder
    let why = match exit {
        Exit::Code(0) => return,
        Exit::Code(2) => "acquire returned Ok while another process held the lock",
        Exit::Code(3) => {
            "Stuck came back, but not after exactly max_delays (3) sleeps: return \
                          the error SpinDelay::perform gives you, as it is"
        }
        Exit::Code(4) => {
            "Stuck came back, but the waiter hardly slept: call \
                          SpinDelay::perform after every failed try; it sleeps every \
                          spins_per_delay tries, which gives the CPU to others"
        }
        Exit::Code(5) => {
            "Stuck does not say where acquire was called: keep #[track_caller] \
                          on acquire and make the SpinDelay inside it"
        }
        Exit::Code(101) => "acquire panicked (its message is above)",
        exit if watchdog::fired(&exit) => {
            "after 3 s, acquire still waited for a lock held forever: after each failed \
             try call SpinDelay::perform and return its Err(Stuck) with `?`"
        }
        _ => "unexpected",
    };
    panic!("a waiter for a lock held forever {exit}: {why}");
}

/// This process's voluntary context switches so far: each sleep is one.
fn voluntary_switches() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// The learner's lock, with two additions for the checks. A watchdog is armed in each
/// process the first time it locks, so that a lock that never returns cannot hang the checks. And
/// after each unlock, a pause of random length (0 to 31 spin hints) before the next lock,
/// as real work would make: a lock that is not one atomic step lets two processes in when
/// both find the word 0 at about the same moment, and without such pauses the releasing
/// process would nearly always take the lock back before the other one saw it free.
struct Watched<'a>(SpinLock<'a>);

impl ProcessLock for Watched<'_> {
    fn acquire(&self) -> common::Result<()> {
        // A private static: each forked process has its own copy, false at fork.
        static ARMED: AtomicBool = AtomicBool::new(false);
        if !ARMED.load(Ordering::Relaxed) {
            ARMED.store(true, Ordering::Relaxed);
            watchdog::arm(PATIENCE);
        }
        ProcessLock::acquire(&self.0)
    }
    fn release(&self) {
        self.0.release();
        l08_races::jitter(32);
    }
}
