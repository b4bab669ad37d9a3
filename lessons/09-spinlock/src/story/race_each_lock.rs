//! Step 2: race each of the three spinlocks with pinned processes on lesson 08's counter;
//! every count must come out exact.

use common::{Error, Result, parent, section};
use l09_spinlock::{
    Backoff, ProcessLock, SpinLock, TasLock, TasSpinLock, count_under_lock, lock_word,
    new_lock_word, usable_cpus,
};

// ANCHOR: race
pub fn race_each_lock(counts: &[usize], iterations: u64) -> Result<()> {
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

/// `1, 2 and 4`.
pub fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let items: Vec<String> = items.iter().map(T::to_string).collect();
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => items.concat(),
    }
}
