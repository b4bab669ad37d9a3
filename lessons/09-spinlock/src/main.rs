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
//!
//! The steps after the first are in src/story/, one file each; what later lessons reuse
//! (the lock word and the three locks) is the library (src/lib.rs).

mod story {
    pub mod costs;
    pub mod race_each_lock;
    pub mod stuck_spinlock;
}

use std::sync::atomic::Ordering;

use clap::Parser;
use common::{Error, Result, parent, section};
use l09_spinlock::{lock_word, new_lock_word, release, tas, usable_cpus};
use nix::sched::{CpuSet, sched_setaffinity};
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

use story::{costs::show_costs, race_each_lock::race_each_lock, stuck_spinlock::stuck_spinlock};

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
