//! Lesson 10: four locks that sleep, each shared by processes, each proven and measured.
//!
//! The story: a futex mutex's three states, with a waiter caught asleep in the kernel; why
//! its futex calls carry no FUTEX_PRIVATE_FLAG (a private waiter in another process is
//! never reached); glibc's process-shared mutex and POSIX semaphore, which turn out to
//! sleep on futexes too; a System V semaphore, with its initialization race and SEM_UNDO;
//! then one race per lock, by pinned processes, whose counts must come out exact, and each
//! lock's cost as a ratio to the fastest. Every step is ordered by waitpid or by watching
//! /proc/PID/syscall; nothing sleeps for a time.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use clap::Parser;
use common::{Error, Result, child, fork_child, parent, section};
use l08_races::{Finish, Guard, MAX_WORKERS, ProcessLock, Shared, count_under_lock};
use l10_sleeping_locks::{
    Blocked, FutexMutex, FutexScope, PosixSemaphore, PthreadMutex, Robustness, SysVSemaphore,
    futex_op_name, futex_wait, futex_wake, wait_until_blocked,
};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};

/// Four sleeping locks shared by processes: correct under contention, and what each costs.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// How many processes race for each lock in the last step.
    #[arg(long, default_value_t = 4,
          value_parser = common::up_to::<{ MAX_WORKERS as u64 }>)]
    workers: u64,

    /// Increments per process under each lock (the System V semaphore does at most
    /// 50: every contended operation of it sleeps in the kernel).
    #[arg(long, default_value_t = 500,
          value_parser = common::up_to::<{ MAX_ITERATIONS }>)]
    iterations: u64,
}

/// More increments than this only makes the lesson slow.
const MAX_ITERATIONS: u64 = 1_000_000;
/// The System V semaphore's share of `--iterations`.
const SYSV_MAX_ITERATIONS: u64 = 50;
/// How long a step waits for a child to fall asleep before it gives up.
const ASLEEP_WITHIN: Duration = Duration::from_secs(5);

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    let (workers, iterations) = (args.workers as usize, args.iterations);
    futex_mutex_states()?;
    private_futexes_stay_home()?;
    pthread_mutex()?;
    posix_semaphore()?;
    let sysv = system_v_semaphore()?;
    race_all(workers, iterations, &sysv)
}

// ANCHOR: states
fn futex_mutex_states() -> Result<()> {
    section("1. A futex mutex: 0 unlocked, 1 locked, 2 locked with sleepers");
    let mutex = FutexMutex::new_shared()?;
    parent!(
        "a FutexMutex in a MAP_SHARED mapping: state {}",
        mutex.state()
    );
    let held = mutex.lock()?;
    parent!(
        "lock(): compare_exchange(0, 1) succeeded in user space, no system call: state {}",
        mutex.state()
    );
    watch_a_waiter(&*mutex, held, mutex.as_ptr() as usize, || {
        parent!(
            "state {}: the waiter swapped in 2 before it slept, so unlock() will wake it",
            mutex.state()
        )
    })?;
    parent!("state {}: unlocked", mutex.state());
    Ok(())
}

/// The caller holds `lock`, as `held`. A child calls `lock()` and goes to sleep; we find
/// out where from /proc/PID/syscall, run `while_asleep`, then unlock and see the child get
/// the lock and finish.
fn watch_a_waiter<L: ProcessLock>(
    lock: &L,
    held: Guard<'_, L>,
    lock_address: usize,
    while_asleep: impl Fn(),
) -> Result<()> {
    let waiter = fork_child(|| match lock.lock() {
        Ok(_held) => 0, // taken, and released as `_held` goes
        Err(_) => 1,
    })?;
    let pid = waiter.pid();
    let blocked = wait_until_blocked(pid, &SLEEPING_CALLS, ASLEEP_WITHIN)?;
    parent!(
        "child pid {pid} called lock() and sleeps in {}",
        describe(&blocked, "lock", lock_address)
    );
    while_asleep();
    drop(held); // unlock()
    parent!(
        "unlock(); child pid {pid} got the lock, unlocked it, and {}",
        waiter.wait()?
    );
    Ok(())
}
// ANCHOR_END: states

/// The system calls a lock's waiter sleeps in.
const SLEEPING_CALLS: [i64; 3] = [libc::SYS_futex, libc::SYS_semop, libc::SYS_semtimedop];

/// A blocked call in words: `futex(&lock, FUTEX_WAIT, 2)`, `semtimedop(semid 3, ...)`,
/// naming the futex word by its place in the object called `name` at `address`.
fn describe(blocked: &Blocked, name: &str, address: usize) -> String {
    let [first, second, third] = blocked.args;
    match blocked.number {
        libc::SYS_futex => {
            let word = match (first as usize).wrapping_sub(address) {
                0 => format!("&{name}"),
                offset if offset < 64 => format!("&{name} + {offset}"),
                _ => format!("{first:#x}"),
            };
            format!("futex({word}, {}, {third})", futex_op_name(second))
        }
        libc::SYS_semop => format!("semop(semid {first}, ...)"),
        libc::SYS_semtimedop => format!("semtimedop(semid {first}, ...)"),
        number => format!("system call {number}"),
    }
}

// ANCHOR: private
fn private_futexes_stay_home() -> Result<()> {
    section("2. Why no FUTEX_PRIVATE_FLAG: a private waiter is filed under its own process");
    let word = Shared::<AtomicU32>::new()?;
    // SAFETY: a zeroed, aligned AtomicU32 in a live mapping, used only atomically.
    let word: &AtomicU32 = unsafe { &*word.as_ptr() };

    let waiter = fork_child(|| {
        futex_wait(word, 0, FutexScope::Private);
        0
    })?;
    let pid = waiter.pid();
    let blocked = wait_until_blocked(pid, &[libc::SYS_futex], ASLEEP_WITHIN)?;
    parent!(
        "child pid {pid} sleeps in {}, the word in our shared mapping",
        describe(&blocked, "word", word as *const _ as usize)
    );
    let private = futex_wake(word, 1, FutexScope::Private);
    let shared = futex_wake(word, 1, FutexScope::Shared);
    parent!("FUTEX_WAKE|FUTEX_PRIVATE_FLAG on the same word, from here: woke {private}");
    parent!("FUTEX_WAKE without the flag: woke {shared}");
    let still = wait_until_blocked(pid, &[libc::SYS_futex], ASLEEP_WITHIN).is_ok();
    parent!(
        "the child {}: nothing another process does can reach its queue",
        if still { "still sleeps" } else { "woke up?!" }
    );
    kill(pid, Signal::SIGKILL).map_err(Error::sys("kill"))?;
    parent!("child pid {pid} {} (by us)", waiter.wait()?);

    let waiter = fork_child(|| {
        futex_wait(word, 0, FutexScope::Shared);
        0
    })?;
    let pid = waiter.pid();
    let blocked = wait_until_blocked(pid, &[libc::SYS_futex], ASLEEP_WITHIN)?;
    parent!(
        "child pid {pid} sleeps in {}",
        describe(&blocked, "word", word as *const _ as usize)
    );
    let woken = futex_wake(word, 1, FutexScope::Shared);
    parent!(
        "FUTEX_WAKE without the flag: woke {woken}; child pid {pid} {}",
        waiter.wait()?
    );
    Ok(())
}
// ANCHOR_END: private

// ANCHOR: pthread
fn pthread_mutex() -> Result<()> {
    section("3. A pthread mutex made with PTHREAD_PROCESS_SHARED");
    let mutex = PthreadMutex::new_shared(Robustness::Stalled)?;
    parent!(
        "pthread_mutex_init with PTHREAD_PROCESS_SHARED: a {}-byte pthread_mutex_t",
        size_of::<libc::pthread_mutex_t>()
    );
    // Lesson 08's guarded lock: PthreadMutex's own `lock` also reports a dead holder (12).
    let held = ProcessLock::lock(&*mutex)?;
    parent!("pthread_mutex_lock: locked, here");
    watch_a_waiter(&*mutex, held, mutex.as_ptr() as usize, || {})?;
    Ok(())
}
// ANCHOR_END: pthread

// ANCHOR: posix
fn posix_semaphore() -> Result<()> {
    section("4. An unnamed POSIX semaphore: sem_init(sem, 1, 1)");
    let sem = PosixSemaphore::new_shared(1)?;
    parent!(
        "a {}-byte sem_t, pshared 1, value {}",
        size_of::<libc::sem_t>(),
        sem.value()?
    );
    let held = sem.lock()?;
    parent!(
        "sem_wait: value {}, so the next sem_wait sleeps",
        sem.value()?
    );
    watch_a_waiter(&*sem, held, sem.as_ptr() as usize, || {})?;
    parent!("value {}", sem.value()?);
    Ok(())
}
// ANCHOR_END: posix

// ANCHOR: sysv
fn system_v_semaphore() -> Result<SysVSemaphore> {
    section("5. A System V semaphore: an object in the kernel, made in two steps");
    let sem = SysVSemaphore::create().map_err(explain)?;
    let info = sem.stat()?;
    parent!(
        "semget(key {:#010x}, 1, IPC_CREAT | IPC_EXCL | 0600): semid {}",
        sem.key(),
        sem.id()
    );
    parent!(
        "the key holds the parent pid {}: should this run be killed, the next finds the set \
         by its key and removes it",
        std::process::id()
    );
    parent!(
        "not set yet: GETVAL {}, sem_otime {} (no semop has run on it)",
        sem.value()?,
        info.otime
    );
    let early = fork_child(|| match sem.try_wait() {
        Ok(false) => {
            child!("a process that has the id already: semop(-1, IPC_NOWAIT): EAGAIN, value 0");
            0
        }
        Ok(true) => {
            child!("a process that has the id already: semop(-1) got through?!");
            1
        }
        Err(err) => {
            child!("{err}");
            1
        }
    })?;
    early.wait()?;
    sem.set_value(1)?;
    parent!(
        "semctl(SETVAL, 1) before any process that uses it exists: GETVAL {}",
        sem.value()?
    );

    let held = sem.lock()?;
    parent!("semop(-1, SEM_UNDO): locked, here");
    watch_a_waiter(&sem, held, 0, || {})?;

    let quitter = fork_child(|| match sem.wait() {
        Ok(()) => {
            child!("semop(-1, SEM_UNDO): value 0, and exiting without the +1");
            0
        }
        Err(err) => {
            child!("{err}");
            1
        }
    })?;
    let pid = quitter.pid();
    let exit = quitter.wait()?;
    parent!(
        "child pid {pid} {exit}; GETVAL {}: the kernel undid its -1 as it exited",
        sem.value()?
    );
    Ok(sem)
}

/// Turns semget's errno into a sentence that says what to do.
fn explain(err: Error) -> Error {
    match err {
        Error::Sys {
            errno: Errno::ENOSPC,
            ..
        } => Error::Failed(
            "semget: ENOSPC: the system-wide limits on System V semaphores are used up \
             (semmni sets or semmns semaphores, /proc/sys/kernel/sem); not a full disk: \
             look for leftover sets with `ipcs -s`"
                .into(),
        ),
        err => err,
    }
}
// ANCHOR_END: sysv

// ANCHOR: race
/// One lock's results: per-increment cost alone and contended.
struct Row {
    name: &'static str,
    iterations: u64,
    alone_ns: f64,
    contended_ns: f64,
}

fn race_all(workers: usize, iterations: u64, sysv: &SysVSemaphore) -> Result<()> {
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
