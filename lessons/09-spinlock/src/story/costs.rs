//! Step 3: what a contended increment costs under each spinlock as processes outnumber
//! CPUs, as ratios measured in this one run.

use common::{Error, Result, parent, section};
use l09_spinlock::{
    Backoff, ProcessLock, Shared, SpinLock, TasLock, TasSpinLock, lock_word, new_lock_word, race,
};

// ANCHOR: costs
pub fn show_costs(counts: &[usize], iterations: u64, rounds: u32) -> Result<()> {
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

/// Table cells, each right-aligned in a column 14 characters wide.
fn columns(cells: &[String]) -> String {
    cells.iter().map(|cell| format!("{cell:>14}")).collect()
}
