//! Lesson 09: a spinlock in shared memory, in PostgreSQL's three steps.
//!
//! The story: one lock word and what test-and-set returns; three spinlocks over it (plain
//! TAS, test before set with a spin hint, and s_lock's backoff), each raced by pinned
//! processes on lesson 08's counter and each exact; what a contended increment costs under
//! each as processes outnumber CPUs, as ratios measured in this one run; and a holder that
//! never lets go, which a waiter with a short limit reports as a stuck spinlock. The
//! lesson confines itself to two CPUs, so that "more processes than CPUs" means the same
//! on every machine. Every step is ordered by `waitpid` or a flag in shared memory;
//! nothing sleeps to wait for another process.

use std::sync::atomic::{AtomicU32, Ordering};

use clap::Parser;
use common::{Error, Exit, Result, child, fork_child, parent, section};
use l09_spinlock::{
    Backoff, ProcessLock, Shared, SpinLock, TasLock, TasSpinLock, count_under_lock, lock_word,
    new_lock_word, race, release, tas, usable_cpus,
};
use nix::sched::{CpuSet, sched_setaffinity};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Build a spinlock three ways, race processes on it, and watch a stuck one get detected.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Processes in the largest race (the others are 1, and one per CPU).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = common::up_to::<{ l08_races::MAX_WORKERS as u64 }>)]
    workers: u64,

    /// Increments each process makes, every one under the lock.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = common::up_to::<{ 1_000_000_000 }>)]
    iterations: u64,

    /// Measure for real: step 3's races 100 times longer, each run 3 times (the fastest
    /// counts). Takes seconds instead of milliseconds; build with --release.
    #[arg(long)]
    measure: bool,
}

/// The lesson runs on at most this many CPUs, the first ones it may use.
const CPUS: usize = 2;

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    let (longer, rounds) = if args.measure { (100, 3) } else { (1, 1) };
    test_and_set()?;
    let cpus = confine_to_cpus(CPUS)?;
    let mut counts = vec![1, cpus, args.workers as usize];
    counts.sort();
    counts.dedup();
    race_each_lock(&counts, args.iterations)?;
    show_costs(&counts, args.iterations * longer, rounds)?;
    stuck_spinlock()
}

// ANCHOR: test_and_set
fn test_and_set() -> Result<()> {
    section("1. One word in shared memory: 0 free, 1 held");
    let shared = new_lock_word()?;
    let word = lock_word(&shared);
    parent!("tas() swaps in 1 and returns what was there:");
    parent!("  tas() = {}: it was free; now it is ours", tas(word));
    parent!("  tas() = {}: it was held (by us), try again", tas(word));
    release(word);
    parent!(
        "release(): store 0; the word reads {}",
        word.state.load(Ordering::Relaxed)
    );
    Ok(())
}
// ANCHOR_END: test_and_set

/// Restricts this process (and the children it forks from now on) to the first `n` CPUs
/// it may use, like `taskset`. Returns how many it got (fewer if it had fewer).
fn confine_to_cpus(n: usize) -> Result<usize> {
    let mut set = CpuSet::new();
    let cpus = usable_cpus()?;
    for &cpu in cpus.iter().take(n) {
        set.set(cpu).map_err(Error::sys("CpuSet::set"))?;
    }
    sched_setaffinity(Pid::from_raw(0), &set).map_err(Error::sys("sched_setaffinity"))?;
    Ok(cpus.len().min(n))
}

// ANCHOR: race
fn race_each_lock(counts: &[usize], iterations: u64) -> Result<()> {
    section(&format!(
        "2. Three spinlocks, raced by {} processes pinned to {}",
        list(counts),
        match usable_cpus()?.len() {
            1 => "1 CPU".to_string(),
            n => format!("{n} CPUs"),
        }
    ));
    let times = common::count(iterations, "time", "times");
    parent!("each process adds 1 to lesson 08's counter {times}, under the lock");
    let shared = new_lock_word()?;
    let word = lock_word(&shared);
    let backoff = Backoff::POSTGRES;
    exact("plain TAS", &TasLock { word }, counts, iterations)?;
    exact(
        "TAS_SPIN + PAUSE",
        &TasSpinLock { word },
        counts,
        iterations,
    )?;
    exact(
        "s_lock backoff",
        &SpinLock { word, backoff },
        counts,
        iterations,
    )
}

/// Races `lock` once per count of processes; each count must come out exact.
fn exact(name: &str, lock: &impl ProcessLock, counts: &[usize], iterations: u64) -> Result<()> {
    let mut totals = Vec::new();
    for &workers in counts {
        let expected = workers as u64 * iterations;
        let (count, _) = count_under_lock(lock, workers, iterations, true)?;
        if count != expected {
            return Err(Error::Failed(format!(
                "{name}: {workers} processes counted {count}, not {expected}: \
                 the lock let two processes in at once"
            )));
        }
        totals.push(count);
    }
    parent!(
        "{:<17} counts {}: every one exact",
        format!("{name}:"),
        list(&totals)
    );
    Ok(())
}
// ANCHOR_END: race

// ANCHOR: costs
fn show_costs(counts: &[usize], iterations: u64, rounds: u32) -> Result<()> {
    section("3. What an increment costs as processes outnumber CPUs");
    parent!("the same races, now holding the lock for a load and a store only, as PostgreSQL");
    parent!("would; ns per increment with 1 process, then relative to that, in this run:");
    let header: Vec<String> = counts
        .iter()
        .map(|&n| format!("{n} process{}", if n == 1 { "" } else { "es" }))
        .collect();
    parent!("  {:<18}{}", "", columns(&header));
    let shared = new_lock_word()?;
    let word = lock_word(&shared);
    let backoff = Backoff::POSTGRES;
    let costs = Costs {
        counts,
        iterations,
        rounds,
    };
    costs.row("plain TAS", &TasLock { word })?;
    costs.row("TAS_SPIN + PAUSE", &TasSpinLock { word })?;
    costs.row("s_lock backoff", &SpinLock { word, backoff })?;
    parent!("with more processes than CPUs, the holder can be preempted inside the lock;");
    parent!("plain spinners then burn whole time slices, s_lock's waiters go to sleep");
    Ok(())
}

/// The races of one row of the cost table.
struct Costs<'a> {
    counts: &'a [usize],
    iterations: u64,
    /// Each race is run this many times and the fastest counts: other programs on the
    /// machine can only ever make a race slower.
    rounds: u32,
}

impl Costs<'_> {
    fn row(&self, name: &str, lock: &impl ProcessLock) -> Result<()> {
        let mut cells = Vec::new();
        let mut base = 0.0;
        for &workers in self.counts {
            let mut ns = f64::INFINITY;
            for _ in 0..self.rounds {
                ns = ns.min(ns_per_increment(lock, workers, self.iterations)?);
            }
            if cells.is_empty() {
                base = ns;
                cells.push(format!("{ns:>7.1} ns"));
            } else {
                cells.push(format!("{:>7.1}×", ns / base));
            }
        }
        parent!("  {name:<18}{}", columns(&cells));
        Ok(())
    }
}

/// One race of `workers` pinned processes, each incrementing a shared counter `iterations`
/// times under `lock`, with nothing but the increment inside. Checks the count, too.
fn ns_per_increment(lock: &impl ProcessLock, workers: usize, iterations: u64) -> Result<f64> {
    let counter = Shared::<u64>::new()?;
    let counter = counter.as_ptr();
    let finish = race(workers, true, |_| {
        for _ in 0..iterations {
            let _held = lock.lock()?;
            // SAFETY: a live, aligned u64 in shared memory; the lock keeps others out.
            unsafe { counter.write_volatile(counter.read_volatile() + 1) };
        }
        Ok(())
    })?;
    let expected = workers as u64 * iterations;
    // SAFETY: every worker has exited; nobody writes any more.
    let count = unsafe { counter.read_volatile() };
    if count != expected {
        return Err(Error::Failed(format!("counted {count}, not {expected}")));
    }
    Ok(finish.elapsed.as_nanos() as f64 / expected as f64)
}
// ANCHOR_END: costs

// ANCHOR: stuck
fn stuck_spinlock() -> Result<()> {
    section("4. A holder that never lets go: \"stuck spinlock\"");
    let short = Backoff {
        max_delays: 5,
        ..Backoff::POSTGRES
    };
    parent!("PostgreSQL's backoff (sleep 1 ms, then 1-2 times longer each time), but give up");
    parent!(
        "after {} sleeps instead of {}, so that this takes milliseconds, not minutes",
        short.max_delays,
        Backoff::POSTGRES.max_delays
    );
    let shared = new_lock_word()?;
    let word = lock_word(&shared);
    let holding = Shared::<AtomicU32>::new()?;
    // SAFETY: a zeroed AtomicU32 in a live mapping, used only through atomic operations.
    let holding: &AtomicU32 = unsafe { &*holding.as_ptr() };

    let holder = fork_child(|| {
        if tas(word) != 0 {
            return 1;
        }
        child!(
            "holder, child pid {}: took the lock, and now waits forever",
            std::process::id()
        );
        holding.store(1, Ordering::Release); // "I hold it": only now may the waiter start
        loop {
            nix::unistd::pause(); // until a signal ends us
        }
    })?;
    while holding.load(Ordering::Acquire) == 0 {
        std::hint::spin_loop();
    }
    parent!("the holder says it holds the lock; fork a waiter");
    let waiter = fork_child(|| {
        child!("waiter, child pid {}: acquire()", std::process::id());
        let lock = SpinLock {
            word,
            backoff: short,
        };
        match lock.acquire() {
            Ok(()) => {
                child!("got the lock?! It was held");
                0
            }
            Err(stuck) => {
                child!("PANIC: {stuck}");
                1
            }
        }
    })?;
    let (waiter_pid, holder_pid) = (waiter.pid(), holder.pid());
    let exit = waiter.wait()?;
    parent!("waitpid: child pid {waiter_pid} {exit}: PostgreSQL would now restart everything");
    parent!(
        "the word still reads {}: no process can ever take this lock",
        word.state.load(Ordering::Relaxed)
    );
    kill(holder_pid, Signal::SIGKILL).map_err(Error::sys("kill"))?;
    let holder_exit = holder.wait()?;
    parent!("kill the holder; waitpid: child pid {holder_pid} {holder_exit}");
    match (exit, holder_exit) {
        (Exit::Code(1), Exit::Signal(Signal::SIGKILL)) => Ok(()),
        _ => Err(Error::Failed("the stuck spinlock was not detected".into())),
    }
}
// ANCHOR_END: stuck

/// `1, 2 and 4`.
fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let items: Vec<String> = items.iter().map(T::to_string).collect();
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => items.concat(),
    }
}

/// Table cells, each right-aligned in a column 14 characters wide.
fn columns(cells: &[String]) -> String {
    cells.iter().map(|cell| format!("{cell:>14}")).collect()
}
