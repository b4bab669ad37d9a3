//! Step 6 of the story: every lock raced by pinned processes on lesson 08's counter, each
//! count checked exact, and each lock's cost as a multiple of the fastest's.
//!
//! Absolute times move with the machine and its load; ratios measured side by side in one
//! run much less, so the table shows ratios and only the fastest lock's times.

use common::{Error, Result, section};
use l08_races::{Finish, ProcessLock, count_under_lock};
use l10_sleeping_locks::{FutexMutex, PosixSemaphore, PthreadMutex, Robustness, SysVSemaphore};

/// The System V semaphore's share of `--iterations`.
const SYSV_MAX_ITERATIONS: u64 = 50;

// ANCHOR: race
/// One lock's results: per-increment cost alone and contended.
struct Row {
    name: &'static str,
    iterations: u64,
    alone_ns: f64,
    contended_ns: f64,
}

pub fn race_all(workers: usize, iterations: u64, sysv: &SysVSemaphore) -> Result<()> {
    section(&format!(
        "6. {} {} for each lock, {} each",
        common::count(workers as u64, "pinned process", "pinned processes"),
        if workers == 1 { "races" } else { "race" },
        common::count(iterations, "increment", "increments")
    ));
    let futex = FutexMutex::new_shared()?;
    let pthread = PthreadMutex::new_shared(Robustness::Stalled)?;
    let posix = PosixSemaphore::new_shared(1)?;
    let sysv_iterations = iterations.min(SYSV_MAX_ITERATIONS);
    let rows = [
        race_one("futex mutex", &*futex, workers, iterations)?,
        race_one("pthread mutex", &*pthread, workers, iterations)?,
        race_one("POSIX semaphore", &*posix, workers, iterations)?,
        race_one("System V semaphore", sysv, workers, sysv_iterations)?,
    ];
    let fastest = |cost: fn(&Row) -> f64| rows.iter().map(cost).fold(f64::INFINITY, f64::min);
    let (alone, contended) = (fastest(|r| r.alone_ns), fastest(|r| r.contended_ns));
    let together = processes(workers);
    println!("count (exact for all four), then the cost of an increment as a multiple of");
    println!("the fastest lock's: alone, and with {together} racing");
    for row in &rows {
        let count = format!(
            "{} = {workers} x {}",
            workers as u64 * row.iterations,
            row.iterations
        );
        let (by_itself, raced) = (
            ratio(row.alone_ns / alone),
            ratio(row.contended_ns / contended),
        );
        println!(
            "{:<19} {count:<20} alone {by_itself}, {together} {raced}",
            row.name
        );
    }
    println!("the fastest, 1 process: took {} an increment", nanos(alone));
    println!(
        "the fastest, {together}: took {} an increment",
        nanos(contended)
    );
    Ok(())
}

fn processes(n: usize) -> String {
    match n {
        1 => "1 process".into(),
        n => format!("{n} processes"),
    }
}

/// Races `lock` alone and with `workers` processes; an inexact count is an error.
fn race_one<L: ProcessLock>(
    name: &'static str,
    lock: &L,
    workers: usize,
    iterations: u64,
) -> Result<Row> {
    let per_increment = |processes: usize| -> Result<f64> {
        let (count, finish): (u64, Finish) = count_under_lock(lock, processes, iterations, true)?;
        let expected = processes as u64 * iterations;
        if count != expected {
            return Err(Error::Failed(format!(
                "the {name} lost {} of {expected} increments: it does not exclude",
                expected - count
            )));
        }
        Ok(finish.elapsed.as_nanos() as f64 / expected as f64)
    };
    Ok(Row {
        name,
        iterations,
        alone_ns: per_increment(1)?,
        contended_ns: per_increment(workers)?,
    })
}
// ANCHOR_END: race

/// `1.3×` below ten, `240×` above.
fn ratio(value: f64) -> String {
    match value < 10.0 {
        true => format!("{value:.1}×"),
        false => format!("{value:.0}×"),
    }
}

fn nanos(value: f64) -> String {
    match value < 10_000.0 {
        true => format!("{value:.0} ns"),
        false => format!("{:.1} µs", value / 1000.0),
    }
}
