//! The race harness: processes that really run at the same time.
//!
//! A race only shows when the racers overlap. Two things get in the way. Processes start
//! one after another (a fork takes tens of microseconds, enough for the first child to
//! finish a short loop before the second exists), so they must wait at a **start
//! barrier** and be released together. And the scheduler may run two processes back to
//! back on one CPU, where they never overlap, so each is **pinned** to a CPU of its own
//! (`sched_setaffinity`) when there are enough. Even then a busy machine may keep them
//! apart, so a race that must show something is run again until it does ([`race_until`]).
//! Lessons 09 and 10 race their locks with this harness.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use common::{Child, Error, Exit, Result, fork_child};
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::time::{ClockId, clock_gettime};
use nix::unistd::Pid;

use crate::Shared;

/// How a [`race`] went: how long it took, and on which CPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// From the release at the barrier to the last worker's finish.
    pub elapsed: Duration,
    /// The CPU each worker was pinned to, or `None` if they were left to the scheduler.
    pub cpus: Option<Vec<usize>>,
}

/// The start line, in shared memory: workers check in, then wait for the parent's signal.
#[repr(C)]
struct StartLine {
    /// How many workers are at the barrier.
    arrived: AtomicU32,
    /// 0 until the parent releases everyone, then 1.
    go: AtomicU32,
    /// CLOCK_MONOTONIC (shared by every process) in ns: the release, and each finish.
    released_at: AtomicU64,
    finished_at: [AtomicU64; MAX_WORKERS],
}

/// More workers than any lesson needs; the start line has a slot for each.
pub const MAX_WORKERS: usize = 64;

// ANCHOR: race
/// Forks `workers` processes that run `work(index)` together: each checks in at a start
/// barrier and spins until the parent releases all of them at once. With `pin`, worker `i`
/// is pinned to the `i % cpus`-th CPU this process may use, so that two workers share a
/// CPU only when there are more workers than CPUs. Waits for every worker; the first found
/// not to exit with status 0 makes the race an error (and the others are killed). A worker
/// whose `work` returns an error prints it on stderr and exits with status 1.
pub fn race(workers: usize, pin: bool, work: impl Fn(usize) -> Result<()>) -> Result<Finish> {
    if !(1..=MAX_WORKERS).contains(&workers) {
        return Err(Error::Usage(format!(
            "a race needs 1 to {MAX_WORKERS} workers, not {workers}"
        )));
    }
    let cpus = if pin { Some(usable_cpus()?) } else { None };
    let start_line = Shared::<StartLine>::new()?;
    // SAFETY: the mapping is zeroed and aligned, all-zero atomics are valid, and the start
    // line is only ever used through atomics, by every process; `start_line` outlives `line`.
    let line: &StartLine = unsafe { &*start_line.as_ptr() };

    let mut team: Vec<Child> = Vec::with_capacity(workers);
    for index in 0..workers {
        let cpu = cpus.as_ref().map(|cpus| cpus[index % cpus.len()]);
        team.push(fork_child(|| {
            if let Some(cpu) = cpu {
                let mut set = CpuSet::new();
                if set.set(cpu).is_err() || sched_setaffinity(Pid::from_raw(0), &set).is_err() {
                    // Still check in, or the parent would wait at the barrier for ever.
                    line.arrived.fetch_add(1, Ordering::AcqRel);
                    return 3;
                }
            }
            line.arrived.fetch_add(1, Ordering::AcqRel);
            // Spin, but give the CPU away while waiting: with more workers than CPUs, a
            // worker that only spins would keep a later one from ever reaching the line.
            while line.go.load(Ordering::Acquire) == 0 {
                std::thread::yield_now();
            }
            if let Err(err) = work(index) {
                eprintln!("worker {index}: {err}");
                return 1;
            }
            line.finished_at[index].store(now_ns(), Ordering::Release);
            0
        })?);
    }
    // Everyone at the line: release them together.
    while line.arrived.load(Ordering::Acquire) < workers as u32 {
        std::thread::yield_now();
    }
    line.released_at.store(now_ns(), Ordering::Relaxed);
    line.go.store(1, Ordering::Release);

    wait_for_team(team)?;
    let released = line.released_at.load(Ordering::Relaxed);
    let last = (0..workers)
        .map(|i| line.finished_at[i].load(Ordering::Acquire))
        .max();
    let elapsed = Duration::from_nanos(last.unwrap_or(released).saturating_sub(released));
    let cpus = cpus.map(|cpus| (0..workers).map(|i| cpus[i % cpus.len()]).collect());
    Ok(Finish { elapsed, cpus })
}
// ANCHOR_END: race

/// Waits for every worker. They are checked in turn, without blocking, rather than waited
/// for in order: a worker that dies may leave a sibling spinning forever on something the
/// dead one would have done (released a lock, raised a flag), and waiting for that sibling
/// first would hang the race. The first worker found to have failed makes the race an
/// error; returning drops the others' `Child`, which kills and reaps them.
fn wait_for_team(team: Vec<Child>) -> Result<()> {
    let mut running: Vec<Option<Child>> = team.into_iter().map(Some).collect();
    let mut left = running.len();
    while left > 0 {
        for (index, slot) in running.iter_mut().enumerate() {
            let Some(worker) = slot else { continue };
            let status =
                waitpid(worker.pid(), Some(WaitPidFlag::WNOHANG)).map_err(Error::sys("waitpid"))?;
            let exit = match status {
                WaitStatus::Exited(_, code) => Exit::Code(code),
                WaitStatus::Signaled(_, signal, _) => Exit::Signal(signal),
                _ => continue, // still running (or only stopped)
            };
            // Reaped here, so its Drop must not kill and wait for it again.
            std::mem::forget(slot.take());
            left -= 1;
            match exit {
                Exit::Code(0) => {}
                Exit::Code(3) => {
                    return Err(Error::Failed(format!(
                        "worker {index} could not be pinned to its CPU"
                    )));
                }
                other => return Err(Error::Failed(format!("worker {index} {other}"))),
            }
        }
        if left > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(())
}

/// The CPUs this process may run on (its affinity mask), in order.
pub fn usable_cpus() -> Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0)).map_err(Error::sys("sched_getaffinity"))?;
    Ok((0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect())
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the machine, so a time
/// taken in one process can be compared with a time taken in another.
pub fn now_ns() -> u64 {
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC always exists");
    now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64
}

// ANCHOR: race_until
/// The most races [`race_until`] runs before it gives up.
pub const MAX_RACES: u32 = 50;

/// Runs `race` until `shows` finds what the race is meant to show in its outcome, at most
/// [`MAX_RACES`] times; returns the last outcome and how many races ran. A race shows a
/// lost update or a torn read only if two processes run at the same moment. On an idle
/// machine with two CPUs they do; on a busy one the scheduler may give each its CPU in turn,
/// and a race in which nobody overlapped shows nothing, though nothing in it was correct.
pub fn race_until<T>(
    mut race: impl FnMut() -> Result<T>,
    shows: impl Fn(&T) -> bool,
) -> Result<(T, u32)> {
    let mut races = 1;
    loop {
        let outcome = race()?;
        if shows(&outcome) || races == MAX_RACES {
            return Ok((outcome, races));
        }
        races += 1;
    }
}
// ANCHOR_END: race_until
