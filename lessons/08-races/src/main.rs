//! Lesson 08: processes that write the same shared memory at the same time.
//!
//! The story: four processes add 1 to one shared counter, each with a plain load and store,
//! and updates disappear; the same race with an atomic `fetch_add` is exact; then two
//! balances, each an atomic of its own, whose sum must stay constant while money moves
//! between them: every single step is atomic and nothing is lost, yet an auditor running
//! alongside catches the sum wrong again and again. One word can be kept right by atomics;
//! a rule that spans two words needs a lock, which is what the rest of Part IV builds.
//!
//! The racers are pinned one to a CPU where possible and released together at a start
//! barrier (`race`, in src/race.rs): without that, they would mostly take turns, and a race
//! that never overlaps loses nothing.

use clap::Parser;
use common::{Error, Result, parent, section};
use l08_races::{
    MAX_WORKERS, NoLock, count_under_lock, count_with_fetch_add, race_until, transfer_and_audit,
    usable_cpus,
};

/// Race processes on one shared counter, then on two balances: lost updates, atomics, and
/// an invariant that tears.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// How many processes race (step 3 adds one more, the auditor).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = common::positive)]
    workers: u64,

    /// How many increments (and transfers) each process makes.
    #[arg(long, value_name = "N", default_value_t = 5_000, value_parser = common::positive)]
    iterations: u64,

    /// Leave the processes to the scheduler instead of pinning each to a CPU.
    #[arg(long)]
    unpinned: bool,
}

/// Step 3 races one process more than `--workers`, and the harness takes at most MAX_WORKERS.
const MAX_RACERS: u64 = MAX_WORKERS as u64 - 1;
/// More than this many iterations per process only makes the lesson slow.
const MAX_ITERATIONS: u64 = 10_000_000;

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    let (workers, iterations) = checked(&args)?;
    let pin = !args.unpinned;
    lose_updates(workers, iterations, pin)?;
    fetch_add_loses_nothing(workers, iterations, pin)?;
    an_invariant_tears(workers, iterations, pin)
}

fn checked(args: &Args) -> Result<(usize, u64)> {
    if args.workers > MAX_RACERS {
        return Err(Error::Usage(format!(
            "--workers {} is too many: use at most {MAX_RACERS} (step 3 adds an auditor, and \
             the race harness starts at most {MAX_WORKERS} processes)",
            args.workers
        )));
    }
    if args.iterations > MAX_ITERATIONS {
        return Err(Error::Usage(format!(
            "--iterations {} would take too long; use at most {MAX_ITERATIONS}",
            args.iterations
        )));
    }
    Ok((args.workers as usize, args.iterations))
}

/// "4 workers pinned round-robin to the 2 usable CPUs" or "... left to the scheduler".
fn who(workers: usize, pin: bool) -> Result<String> {
    let processes = if workers == 1 { "process" } else { "processes" };
    if !pin {
        return Ok(format!(
            "{workers} {processes}, not pinned: the scheduler places them"
        ));
    }
    let cpus = usable_cpus()?.len();
    let plural = if cpus == 1 { "" } else { "s" };
    Ok(format!(
        "{workers} {processes}, pinned round-robin to the {cpus} usable CPU{plural}"
    ))
}

/// "after 1 race", "after 3 races": a race that shows nothing is run again (`race_until`).
fn after(races: u32) -> String {
    format!("after {races} race{}", if races == 1 { "" } else { "s" })
}

// ANCHOR: lose
fn lose_updates(workers: usize, iterations: u64, pin: bool) -> Result<()> {
    section("1. No lock: a plain load, some work, a store");
    let expected = workers as u64 * iterations;
    parent!(
        "{}, released together at a start barrier",
        who(workers, pin)?
    );
    let times = common::count(iterations, "time", "times");
    parent!("each adds 1 to one shared counter {times}: read it, work, write it + 1");
    let ((count, finish), races) = race_until(
        || count_under_lock(&NoLock, workers, iterations, pin),
        |&(count, _)| count < expected || workers == 1,
    )?;
    parent!(
        "all done {}; the race took {:.1?}",
        after(races),
        finish.elapsed
    );
    if count == expected {
        // One worker, or processes that never overlapped (see the chapter's "Try it").
        let why = match workers {
            1 => "with nobody to race",
            _ => "the processes never overlapped",
        };
        parent!(
            "the counter reads {count}: nothing lost {}, {why}",
            after(races)
        );
        return Ok(());
    }
    parent!(
        "the counter reads {count}, not {expected}: lost {} of {expected} updates",
        expected - count
    );
    parent!("a lost update: two processes read the same value, and the second store wins");
    Ok(())
}
// ANCHOR_END: lose

// ANCHOR: atomic
fn fetch_add_loses_nothing(workers: usize, iterations: u64, pin: bool) -> Result<()> {
    section("2. One atomic: fetch_add reads, adds and writes in one indivisible step");
    let expected = workers as u64 * iterations;
    parent!("the same race and the same work, the add now counter.fetch_add(1)");
    let (count, finish) = count_with_fetch_add(workers, iterations, pin)?;
    if count != expected {
        return Err(Error::Failed(format!(
            "fetch_add lost updates: {count} of {expected}; this should never happen"
        )));
    }
    parent!("all done; the race took {:.1?}", finish.elapsed);
    parent!("the counter reads {count}: exact, not one of {expected} updates lost");
    Ok(())
}
// ANCHOR_END: atomic

// ANCHOR: invariant
fn an_invariant_tears(workers: usize, iterations: u64, pin: bool) -> Result<()> {
    let total = workers as u64 * iterations;
    section(&format!("3. Two atomics, one rule: A + B = {total}"));
    parent!("A starts at {total}, B at 0; {}", who(workers, pin)?);
    let times = common::count(iterations, "time", "times");
    parent!("each moves 1 from A to B {times}: A.fetch_sub(1), then B.fetch_add(1)");
    parent!("one more process, the auditor, reads A, then B, and checks the sum until they stop");
    let (audited, races) = race_until(
        || transfer_and_audit(workers, iterations, pin),
        |audited| audited.torn > 0 || workers == 1,
    )?;
    if (audited.a, audited.b) != (0, total) {
        return Err(Error::Failed(format!(
            "the transfers lost money: A = {}, B = {}; this should never happen",
            audited.a, audited.b
        )));
    }
    parent!(
        "all done {}; the race took {:.1?}",
        after(races),
        audited.finish.elapsed
    );
    parent!("at the end A = 0 and B = {total}: every step was atomic, not one update was lost");
    if audited.torn == 0 {
        // One transferer, or processes that never overlapped in any race.
        parent!(
            "and none of {} audits saw A + B != {total}: the auditor never ran while a \
             transfer was half done",
            audited.audits
        );
        return Ok(());
    }
    parent!(
        "yet {} of {} audits saw A + B != {total}: money missing or counted twice",
        audited.torn,
        audited.audits
    );
    parent!("each step was atomic; the transfer, two steps, was not: that takes a lock");
    Ok(())
}
// ANCHOR_END: invariant
