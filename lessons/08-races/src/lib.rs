//! Lesson 08: processes racing on shared memory, and the harness every lesson of Part IV
//! races them with.
//!
//! A race only shows when the racers really run at the same time. Two things get in the
//! way. Processes start one after another (a fork takes tens of microseconds, enough for
//! the first child to finish a short loop before the second exists), so they must wait at
//! a **start barrier** and be released together. And the scheduler may run two processes
//! back to back on one CPU, where they never overlap, so each is **pinned** to a CPU of
//! its own (`sched_setaffinity`) when there are enough.
//!
//! - [`Shared`] is one value of type `T` in a `MAP_SHARED` mapping, zeroed, made before
//!   fork so that every process inherits it (lesson 03);
//! - [`race`] forks `n` workers, releases them together, waits for all of them, and says
//!   how long the race took, from release to the last finish;
//! - [`count_under_lock`] races [`increment`]s of one counter under any [`ProcessLock`]
//!   ([`NoLock`] loses updates); [`count_with_fetch_add`] does the same with an atomic add;
//!   [`transfer_and_audit`] moves money between two atomic [`Balances`] while an auditor
//!   checks their sum, and counts how often it catches the sum broken.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use common::{Child, Error, Exit, Result, fork_child};
use l01_mmap::{Mapping, PG_MMAP_FLAGS};
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::mman::ProtFlags;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::time::{ClockId, clock_gettime};
use nix::unistd::Pid;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

mod lock;
pub use lock::{Guard, NoLock, ProcessLock};

// ANCHOR: shared
/// One `T` in shared memory, all bytes zero to start with. `T` must be plain data for which
/// all-zero bytes are a valid value (integers, atomics, arrays and `#[repr(C)]` structs of
/// them) and must hold no pointers (lesson 04).
pub struct Shared<T> {
    mapping: Mapping,
    _type: PhantomData<T>,
}

impl<T> Shared<T> {
    pub fn new() -> Result<Shared<T>> {
        let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        let mapping = Mapping::anonymous(size_of::<T>().max(1), rw, PG_MMAP_FLAGS)?;
        Ok(Shared {
            mapping,
            _type: PhantomData,
        })
    }

    /// The value's address: the same in every process forked after [`Shared::new`], and
    /// aligned for any `T` (mappings start on a page boundary).
    pub fn as_ptr(&self) -> *mut T {
        self.mapping.as_ptr().cast()
    }
}
// ANCHOR_END: shared

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

// ANCHOR: increment
/// One increment of a plain (non-atomic) counter: a load, a short delay standing in for
/// real work between reading a value and writing it back, and a store. Without a lock,
/// another process's increment that falls between this load and this store is lost.
///
/// # Safety
/// `counter` points to a live, aligned `u64` in shared memory. Concurrent calls race (that
/// is the point of lesson 08); under a lock they do not.
pub unsafe fn increment(counter: *mut u64) {
    // Volatile: the compiler must really load and store each time, not fold a loop of
    // increments into one addition.
    // SAFETY: the caller promises a valid, aligned counter.
    let value = unsafe { counter.read_volatile() };
    for _ in 0..WORK_BETWEEN_LOAD_AND_STORE {
        std::hint::spin_loop();
    }
    // SAFETY: as above.
    unsafe { counter.write_volatile(value + 1) };
}

/// How many spin hints [`increment`] waits between its load and its store: a race window
/// wide enough that racing processes collide often. How wide in time depends on the CPU:
/// one spin hint (x86's PAUSE) costs from a few to over a hundred cycles, so 20 of them
/// took about 0.75 µs on the AMD EPYC this course was written on.
pub const WORK_BETWEEN_LOAD_AND_STORE: u32 = 20;

/// A race of `workers` processes, each doing `iterations` [`increment`]s of one shared
/// counter, each increment inside `lock`. Returns the final count (exactly `workers *
/// iterations` if the lock works) and how the race went.
pub fn count_under_lock<L: ProcessLock>(
    lock: &L,
    workers: usize,
    iterations: u64,
    pin: bool,
) -> Result<(u64, Finish)> {
    let counter = Shared::<u64>::new()?;
    let counter_ptr = counter.as_ptr();
    let finish = race(workers, pin, |_| {
        for _ in 0..iterations {
            let _held = lock.lock()?;
            // SAFETY: the counter is a live u64 in shared memory; the lock (if it is one)
            // keeps other processes out of this load-and-store.
            unsafe { increment(counter_ptr) };
        }
        Ok(())
    })?;
    // SAFETY: every worker has exited (race waited for them): nobody writes any more.
    Ok((unsafe { counter_ptr.read_volatile() }, finish))
}
// ANCHOR_END: increment

// ANCHOR: fetch_add
/// The same race as [`count_under_lock`] with [`NoLock`], the same work per increment, but
/// the increment is one atomic read-modify-write (`fetch_add`, `lock xadd` on x86-64): no
/// other process's increment can fall between its read and its write. Returns the final
/// count, always exactly `workers * iterations`.
pub fn count_with_fetch_add(workers: usize, iterations: u64, pin: bool) -> Result<(u64, Finish)> {
    let counter = Shared::<AtomicU64>::new()?;
    // SAFETY: a zeroed AtomicU64 in a live, page-aligned mapping that outlives `count`,
    // used by every process through atomic operations only.
    let count = unsafe { &*counter.as_ptr() };
    let finish = race(workers, pin, |_| {
        for _ in 0..iterations {
            for _ in 0..WORK_BETWEEN_LOAD_AND_STORE {
                std::hint::spin_loop(); // the same work, done before the add
            }
            // Relaxed: atomicity does not depend on the ordering; nothing else is published.
            count.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    })?;
    Ok((count.load(Ordering::Relaxed), finish))
}
// ANCHOR_END: fetch_add

// ANCHOR: balances
/// Two balances whose sum must never change: money moves from `a` to `b`, it is never made
/// or destroyed. Each balance is an atomic of its own.
#[repr(C)]
pub struct Balances {
    pub a: AtomicU64,
    pub b: AtomicU64,
}

/// Moves 1 from `a` to `b`: two atomic steps, each indivisible, the pair not. SeqCst, the
/// strongest ordering there is, to show that no ordering makes two steps into one.
pub fn transfer_one(balances: &Balances) {
    balances.a.fetch_sub(1, Ordering::SeqCst);
    balances.b.fetch_add(1, Ordering::SeqCst);
}

/// One look at both balances, the way a reader without a lock takes it: `a`, then `b`.
pub fn audit(balances: &Balances) -> (u64, u64) {
    let a = balances.a.load(Ordering::SeqCst);
    let b = balances.b.load(Ordering::SeqCst);
    (a, b)
}
// ANCHOR_END: balances

/// What [`transfer_and_audit`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audited {
    /// The sum the balances must always have: what `a` started with.
    pub total: u64,
    /// The balances once every process has finished.
    pub a: u64,
    pub b: u64,
    /// How many times the auditor looked, and how often the sum it saw was not `total`.
    pub audits: u64,
    pub torn: u64,
    pub finish: Finish,
}

/// The auditor's side of the shared memory: how many transferers have finished, and what
/// the auditor counted.
#[repr(C)]
struct AuditLog {
    /// 0 until the auditor is running and about to audit.
    watching: AtomicU64,
    /// How many transferers have made all their transfers.
    finished: AtomicU64,
    audits: AtomicU64,
    torn: AtomicU64,
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

// ANCHOR: transfer_and_audit
/// `transferers` processes each make `iterations` transfers of 1 from `a` (which starts
/// with all the money) to `b`, while one more process, the auditor, checks `a + b` again
/// and again until they have all finished. Every process is released at one start barrier,
/// and the transferers begin only once the auditor is watching: a process that shares its
/// CPU with the auditor could otherwise finish all its transfers before the auditor first
/// runs.
pub fn transfer_and_audit(transferers: usize, iterations: u64, pin: bool) -> Result<Audited> {
    let total = iterations
        .checked_mul(transferers as u64)
        .ok_or_else(|| Error::Usage(format!("{transferers} x {iterations} transfers overflow")))?;
    let (balances_memory, log_memory) = (Shared::<Balances>::new()?, Shared::<AuditLog>::new()?);
    // SAFETY: zeroed atomics in live mappings that outlive these references, used by every
    // process through atomic operations only.
    let (balances, log) = unsafe { (&*balances_memory.as_ptr(), &*log_memory.as_ptr()) };
    balances.a.store(total, Ordering::SeqCst); // before fork: every worker sees it

    let finish = race(transferers + 1, pin, |index| {
        if index < transferers {
            while log.watching.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now(); // let the auditor have our CPU if it shares it
            }
            for _ in 0..iterations {
                transfer_one(balances);
            }
            log.finished.fetch_add(1, Ordering::SeqCst);
        } else {
            let (mut audits, mut torn) = (0, 0);
            log.watching.store(1, Ordering::SeqCst);
            loop {
                let all_done = log.finished.load(Ordering::SeqCst) == transferers as u64;
                let (a, b) = audit(balances);
                audits += 1;
                if a.wrapping_add(b) != total {
                    torn += 1; // money missing (a already paid, b not yet) or counted twice
                }
                if all_done {
                    break;
                }
            }
            log.audits.store(audits, Ordering::SeqCst);
            log.torn.store(torn, Ordering::SeqCst);
        }
        Ok(())
    })?;
    let (a, b) = audit(balances);
    Ok(Audited {
        total,
        a,
        b,
        audits: log.audits.load(Ordering::SeqCst),
        torn: log.torn.load(Ordering::SeqCst),
        finish,
    })
}
// ANCHOR_END: transfer_and_audit

/// A random number from a small generator (xorshift) private to this process. After fork,
/// a child starts with a copy of its parent's generator: left alone, every child would
/// draw the same numbers and racing processes would stay in step. So the generator notes
/// which process seeded it and reseeds in a new one (PostgreSQL reseeds its random state
/// in every new backend for the same reason).
pub fn random_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    static SEEDED_BY: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    let mut x = STATE.load(Ordering::Relaxed);
    if SEEDED_BY.load(Ordering::Relaxed) != pid || x == 0 {
        SEEDED_BY.store(pid, Ordering::Relaxed);
        x = (u64::from(pid) << 32 ^ now_ns()) | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x
}

/// Spins for a random 0 to `max_spins - 1` spin hints: a test puts this around a lock's
/// operations to shake the processes out of step, so that an interleaving a broken lock
/// allows happens in every run rather than in a lucky few.
pub fn jitter(max_spins: u32) {
    for _ in 0..random_u64() % u64::from(max_spins.max(1)) {
        std::hint::spin_loop();
    }
}
