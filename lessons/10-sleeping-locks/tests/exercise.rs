//! Checks for lesson 10's exercise, the futex mutex's `unlock`. `cargo test -p
//! l10-sleeping-locks` runs them against src/solution.rs; `cargo exercise
//! l10-sleeping-locks` against your src/exercise.rs. They fork, so they run in this
//! file's own single-threaded `main`.
//!
//! A broken unlock often does not fail: it hangs, with a process asleep that nobody will
//! wake. So the checks never wait without a limit: they watch the racing processes, and
//! when nobody has made progress for a while they kill them all and say what they saw.

use std::process::ExitCode;
use std::ptr::NonNull;
use std::ptr::addr_of_mut;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Child, Exit, fork_child};
use l08_races::{ProcessLock, Shared, increment, usable_cpus};
use l10_sleeping_locks::{FutexMutex, blocked_in, wait_until_blocked};
use nix::sched::{CpuSet, sched_setaffinity};
use nix::sys::mman::{ProtFlags, mprotect};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::{Pid, SysconfVar, sysconf};

fn main() -> ExitCode {
    common::run_tests!(
        unlock_leaves_the_mutex_unlocked,
        unlock_wakes_a_sleeping_waiter,
        unlock_wakes_a_waiter_that_came_while_it_ran,
        racing_processes_count_exactly_and_none_sleeps_forever,
    )
}

/// No progress for this long, while processes are left, means someone sleeps for good.
const STALL: Duration = Duration::from_millis(1500);
/// Racing processes, their increments each, and how many races.
const WORKERS: usize = 4;
const ITERATIONS: u64 = 20_000;
const ROUNDS: usize = 3;

const NEVER_WOKEN: &str = "a waiter was never woken: did unlock wake one sleeper \
    (futex_wake) when the state was 2? The sleeper is another process, so the wake must \
    not carry FUTEX_PRIVATE_FLAG (FutexScope::Shared, not Private)";

fn unlock_leaves_the_mutex_unlocked() {
    let memory = Shared::<FutexMutex>::new().expect("map shared memory");
    // SAFETY: a zeroed FutexMutex (unlocked) in a live mapping; only this process uses it.
    let mutex = unsafe { &*memory.as_ptr() };
    mutex.acquire().unwrap();
    assert_eq!(mutex.state(), 1, "lock() on a free mutex leaves state 1");
    mutex.release();
    assert_eq!(
        mutex.state(),
        0,
        "after lock() and unlock() the state is {}: unlock must leave it 0 (unlocked)",
        mutex.state()
    );
    mutex.acquire().unwrap();
    mutex.word().store(2, Ordering::Relaxed); // as if a waiter had come and gone
    mutex.release();
    assert_eq!(
        mutex.state(),
        0,
        "unlock() from state 2 left state {}: it must leave 0 whatever the state was",
        mutex.state()
    );
}

fn unlock_wakes_a_sleeping_waiter() {
    let memory = Shared::<FutexMutex>::new().expect("map shared memory");
    // SAFETY: a zeroed FutexMutex in a live mapping, used through its atomic word only.
    let mutex = unsafe { &*memory.as_ptr() };
    mutex.acquire().unwrap();
    let waiter = fork_child(|| {
        mutex.acquire().unwrap();
        mutex.release();
        0
    })
    .expect("fork");
    let pid = waiter.pid();
    wait_until_blocked(pid, &[libc::SYS_futex], Duration::from_secs(5))
        .expect("the child should go to sleep in FUTEX_WAIT on the held mutex");
    assert_eq!(mutex.state(), 2, "a sleeper sets the state to 2");

    mutex.release();
    let mut team = vec![waiter];
    match wait_for_all(&mut team, &[], u64::MAX) {
        Ok(()) => {}
        Err(Trouble::Stalled) => panic!(
            "the child slept in FUTEX_WAIT with the state at 2; after unlock() it still \
             sleeps {STALL:?} later (state now {}). {NEVER_WOKEN}",
            mutex.state()
        ),
        Err(Trouble::Failed(_, exit)) => panic!(
            "the waiter got the lock, then {exit} in its own unlock(){}",
            panicked(exit)
        ),
    }
}

/// The handshake between the test, an unlocking process and its SIGSEGV handler.
#[repr(C)]
struct Handshake {
    /// Set by the unlocker once it holds the lock; then by the test: "unlock now".
    holding: AtomicU32,
    unlock_now: AtomicU32,
    /// Set by the handler when unlock's first write faulted; then by the test: "go on".
    faulted: AtomicU32,
    resume: AtomicU32,
}

static HANDSHAKE: AtomicPtr<Handshake> = AtomicPtr::new(std::ptr::null_mut());
static LOCK_PAGE: AtomicPtr<libc::c_void> = AtomicPtr::new(std::ptr::null_mut());
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Runs when unlock's first write hits the read-only page: says so, waits for the test,
/// makes the page writable again, and returns, which runs the write again. Only atomics
/// and mprotect, so it is safe in a signal handler.
extern "C" fn pause_the_first_write(_: libc::c_int) {
    // SAFETY: both pointers were set before the page was made read-only, and point into
    // mappings that live until this process exits.
    let handshake = unsafe { &*HANDSHAKE.load(Ordering::Acquire) };
    handshake.faulted.store(1, Ordering::Release);
    while handshake.resume.load(Ordering::Acquire) == 0 {
        std::hint::spin_loop();
    }
    if let Some(page) = NonNull::new(LOCK_PAGE.load(Ordering::Acquire)) {
        let writable = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        // SAFETY: the page is the lock's own mapping, one page long.
        let _ = unsafe { mprotect(page, PAGE_SIZE.load(Ordering::Acquire), writable) };
    }
}

/// The widest possible race window, made on purpose: the unlocking process runs unlock
/// on a read-only page, so unlock's first write faults, and the handler holds it there
/// while a waiter arrives and goes to sleep. Then the write runs. A swap reads the state
/// in that same write, and sees the 2; an unlock that read 1 before its write has missed
/// the waiter, and nobody will ever wake it.
fn unlock_wakes_a_waiter_that_came_while_it_ran() {
    let memory = Shared::<FutexMutex>::new().expect("map shared memory");
    let shake = Shared::<Handshake>::new().expect("map shared memory");
    // SAFETY: zeroed atomics and an unlocked FutexMutex in live mappings, used atomically.
    let (mutex, handshake) = unsafe { (&*memory.as_ptr(), &*shake.as_ptr()) };
    let unlocker = fork_child(|| {
        mutex.acquire().unwrap();
        handshake.holding.store(1, Ordering::Release);
        while handshake.unlock_now.load(Ordering::Acquire) == 0 {
            std::hint::spin_loop();
        }
        let (Ok(Some(page_size)), Some(page)) = (
            sysconf(SysconfVar::PAGE_SIZE),
            NonNull::new(memory.as_ptr().cast()),
        ) else {
            return 3;
        };
        HANDSHAKE.store(shake.as_ptr(), Ordering::Release);
        LOCK_PAGE.store(page.as_ptr(), Ordering::Release);
        PAGE_SIZE.store(page_size as usize, Ordering::Release);
        let action = SigAction::new(
            SigHandler::Handler(pause_the_first_write),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler only touches atomics and calls mprotect.
        if unsafe { sigaction(Signal::SIGSEGV, &action) }.is_err() {
            return 3;
        }
        // SAFETY: the lock's own one-page mapping, which this process no longer writes
        // except through unlock (whose fault the handler catches).
        if unsafe { mprotect(page, page_size as usize, ProtFlags::PROT_READ) }.is_err() {
            return 3;
        }
        mutex.release();
        0
    })
    .expect("fork");
    while handshake.holding.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
    handshake.unlock_now.store(1, Ordering::Release);
    let start = Instant::now();
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    let running = || {
        matches!(
            waitid(Id::Pid(unlocker.pid()), flags),
            Ok(WaitStatus::StillAlive)
        )
    };
    while handshake.faulted.load(Ordering::Acquire) == 0 && running() && start.elapsed() < STALL {
        std::thread::yield_now();
    }
    let wrote = handshake.faulted.load(Ordering::Acquire) == 1;
    let waiter = fork_child(|| {
        mutex.acquire().unwrap();
        mutex.release();
        0
    })
    .expect("fork");
    let asleep = wait_until_blocked(waiter.pid(), &[libc::SYS_futex], Duration::from_secs(5));
    handshake.resume.store(1, Ordering::Release);
    asleep.expect("the waiter should go to sleep in FUTEX_WAIT on the held mutex");
    let mut team = vec![unlocker, waiter];
    match wait_for_all(&mut team, &[], u64::MAX) {
        Ok(()) => {}
        Err(Trouble::Stalled) => panic!(
            "unlock ran, {}; meanwhile a waiter came, set the state to 2 and went to sleep. \
             It still sleeps {STALL:?} after unlock returned (state {}). {}",
            match wrote {
                true =>
                    "and its first write to the state was held up (the test made the \
                         page read-only, so the write faulted and waited)",
                false => "and never wrote the state",
            },
            mutex.state(),
            match wrote {
                true =>
                    "An unlock that reads the state and then stores 0 decides on a value \
                         that is already out of date: read and free in one step, with swap, \
                         and wake if what the swap returned was 2. (If your unlock does swap, \
                         look at how it wakes: not at all, or with FutexScope::Private, and \
                         the waiter in another process never hears it.)",
                false => NEVER_WOKEN,
            }
        ),
        Err(Trouble::Failed(1, exit)) => panic!(
            "the waiter got the lock, then {exit} in its own unlock(){}",
            panicked(exit)
        ),
        Err(Trouble::Failed(_, exit)) => {
            panic!("the process running unlock() {exit}{}", panicked(exit))
        }
    }
}

/// The shared memory of a race: the mutex, a start line, the counter, and each worker's
/// progress (on a cache line of its own, so that reporting it does not slow the others).
#[repr(C)]
struct Arena {
    mutex: FutexMutex,
    arrived: AtomicU32,
    go: AtomicU32,
    counter: u64,
    progress: [Progress; WORKERS],
}

#[repr(C, align(64))]
struct Progress(AtomicU64);

fn racing_processes_count_exactly_and_none_sleeps_forever() {
    let cpus = usable_cpus().expect("sched_getaffinity");
    for round in 1..=ROUNDS {
        let memory = Shared::<Arena>::new().expect("map shared memory");
        let arena = memory.as_ptr();
        // SAFETY: a field of the live mapping, reached only through this raw pointer and
        // written only under the lock.
        let counter = unsafe { addr_of_mut!((*arena).counter) };
        // SAFETY: zeroed atomics and an unlocked FutexMutex in a live mapping, used only
        // through atomic operations; the plain counter is reached only through a raw pointer.
        let (mutex, arrived, go) = unsafe { (&(*arena).mutex, &(*arena).arrived, &(*arena).go) };
        // SAFETY: as above, for the progress atomics.
        let progress = |i: usize| unsafe { &(*arena).progress[i].0 };

        let mut team: Vec<Child> = Vec::new();
        for i in 0..WORKERS {
            let cpu = cpus[i % cpus.len()];
            team.push(
                fork_child(move || {
                    let mut set = CpuSet::new();
                    let _ = set.set(cpu);
                    let _ = sched_setaffinity(Pid::from_raw(0), &set);
                    arrived.fetch_add(1, Ordering::AcqRel);
                    while go.load(Ordering::Acquire) == 0 {
                        std::hint::spin_loop();
                    }
                    for n in 1..=ITERATIONS {
                        mutex.acquire().unwrap();
                        // SAFETY: the counter is a live u64; the lock keeps others out.
                        unsafe { increment(counter) };
                        mutex.release();
                        progress(i).store(n, Ordering::Relaxed);
                    }
                    0
                })
                .expect("fork"),
            );
        }
        while arrived.load(Ordering::Acquire) < WORKERS as u32 {
            std::thread::yield_now();
        }
        go.store(1, Ordering::Release);

        let done = || {
            (0..WORKERS)
                .map(|i| progress(i).load(Ordering::Relaxed))
                .sum::<u64>()
        };
        let pids: Vec<Pid> = team.iter().map(Child::pid).collect();
        let total = WORKERS as u64 * ITERATIONS;
        if let Err(trouble) = wait_for_all(&mut team, &[&done], total) {
            let asleep = pids
                .iter()
                .filter(
                    |&&pid| matches!(blocked_in(pid), Ok(Some(b)) if b.number == libc::SYS_futex),
                )
                .count();
            let state = mutex.state();
            drop(team); // kills and reaps whoever is left
            match trouble {
                Trouble::Stalled => panic!(
                    "race {round} of {ROUNDS}: {WORKERS} pinned processes, {ITERATIONS} \
                     lock/increment/unlock each: after {} of {total} increments nothing moved \
                     for {STALL:?}; {asleep} process(es) asleep in futex, state {state}. \
                     {NEVER_WOKEN}. (If unlock reads the state and then stores 0 in two \
                     steps, a waiter can set 2 in between and its wake-up is lost: swap)",
                    done()
                ),
                Trouble::Failed(i, exit) => {
                    panic!("race {round}: worker {i} {exit}{}", panicked(exit))
                }
            }
        }
        // SAFETY: every worker has exited; nobody writes the counter any more.
        let count = unsafe { counter.read_volatile() };
        assert_eq!(
            count,
            total,
            "race {round}: {WORKERS} processes x {ITERATIONS} increments under the mutex \
             counted {count}: {} lost. unlock must free the lock with Release ordering and \
             only after the holder's writes",
            total - count
        );
    }
}

enum Trouble {
    /// Nobody made progress for [`STALL`] while workers were left.
    Stalled,
    /// Worker `i` ended some other way than exit status 0.
    Failed(usize, Exit),
}

/// Waits for every process in `team` to exit 0, polling without reaping until all have
/// ended. `progress` (if given) counts work done; `total` is where it ends.
fn wait_for_all(
    team: &mut Vec<Child>,
    progress: &[&dyn Fn() -> u64],
    total: u64,
) -> Result<(), Trouble> {
    let progress = || progress.first().map_or(0, |f| f());
    let (mut last, mut since) = (progress(), Instant::now());
    loop {
        let mut running = 0;
        for (i, child) in team.iter().enumerate() {
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
            match waitid(Id::Pid(child.pid()), flags) {
                Ok(WaitStatus::Exited(_, 0)) => {}
                Ok(WaitStatus::Exited(_, code)) => {
                    return Err(Trouble::Failed(i, Exit::Code(code)));
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    return Err(Trouble::Failed(i, Exit::Signal(sig)));
                }
                _ => running += 1,
            }
        }
        if running == 0 {
            break;
        }
        let now = progress();
        if now != last && now < total {
            (last, since) = (now, Instant::now());
        } else if now == last && since.elapsed() > STALL {
            return Err(Trouble::Stalled);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    for child in team.drain(..) {
        child.wait().expect("reap a child that has exited");
    }
    Ok(())
}

fn panicked(exit: Exit) -> &'static str {
    match exit {
        Exit::Code(101) => " (101: it panicked; the message is above)",
        _ => "",
    }
}
