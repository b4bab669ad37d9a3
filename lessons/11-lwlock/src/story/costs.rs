//! Step 6: what the lock costs, as a multiple of lesson 10's futex mutex in this run.
//!
//! Ratios measured in one run on the reader's machine, never absolute times: lesson 08's
//! harness races each lock with the same work inside, exclusive mode as a mutex and shared
//! mode where every process only reads.

use common::{Error, Result, parent, section};
use l08_races::{Finish, ProcessLock, Shared, count_under_lock, race};
use l10_sleeping_locks::FutexMutex;
use l11_lwlock::{LwLock, SharedMode};

// ANCHOR: costs
pub fn costs(workers: usize, iterations: u64) -> Result<()> {
    section(&format!(
        "6. What it costs, as a multiple of lesson 10's futex mutex in this run, {} each",
        common::count(iterations, "round", "rounds")
    ));
    let futex = FutexMutex::new_shared()?;
    for processes in [1, workers] {
        let lwlock = LwLock::new_shared()?;
        let ratio = ns_per_increment(&*lwlock, processes, iterations)?
            / ns_per_increment(&*futex, processes, iterations)?;
        parent!(
            "exclusive, as a mutex, {}: {ratio:.1}× per increment (count exact under both)",
            common::count(processes as u64, "process", "processes")
        );
    }
    let lwlock = LwLock::new_shared()?;
    let ratio = ns_per_read(&SharedMode(&lwlock), workers, iterations)?
        / ns_per_read(&*futex, workers, iterations)?;
    parent!(
        "{} that only read, shared mode against the mutex: {ratio:.1}× per read",
        common::count(workers as u64, "process", "processes")
    );
    Ok(())
}

/// Lesson 08's counter under `lock`: exact, or an error; the time per increment.
fn ns_per_increment(lock: &impl ProcessLock, workers: usize, iterations: u64) -> Result<f64> {
    let (count, finish) = count_under_lock(lock, workers, iterations, true)?;
    let expected = workers as u64 * iterations;
    if count != expected {
        return Err(Error::Failed(format!(
            "{count} of {expected} increments: the lock does not exclude"
        )));
    }
    Ok(per(&finish, expected))
}

/// `workers` processes that each read a shared value `iterations` times under `lock`, with
/// the same work inside as an increment: the time per read.
fn ns_per_read(lock: &impl ProcessLock, workers: usize, iterations: u64) -> Result<f64> {
    let value = Shared::<u64>::new()?;
    let value = value.as_ptr();
    let finish = race(workers, true, |_| {
        for _ in 0..iterations {
            let _held = lock.lock()?;
            // SAFETY: a live u64 in shared memory that nobody writes during the race.
            let _ = unsafe { value.read_volatile() };
            for _ in 0..l08_races::WORK_BETWEEN_LOAD_AND_STORE {
                std::hint::spin_loop();
            }
        }
        Ok(())
    })?;
    Ok(per(&finish, workers as u64 * iterations))
}

fn per(finish: &Finish, operations: u64) -> f64 {
    finish.elapsed.as_nanos() as f64 / operations as f64
}
// ANCHOR_END: costs
