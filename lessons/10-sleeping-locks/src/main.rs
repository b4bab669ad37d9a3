//! Lesson 10: four locks that sleep, each shared by processes, each proven and measured.
//!
//! The story: a futex mutex's three states, with a waiter caught asleep in the kernel; why
//! its futex calls carry no FUTEX_PRIVATE_FLAG (a private waiter in another process is
//! never reached); glibc's process-shared mutex and POSIX semaphore, which turn out to
//! sleep on futexes too; a System V semaphore, with its initialization race and SEM_UNDO;
//! then one race per lock, by pinned processes, whose counts must come out exact, and each
//! lock's cost as a ratio to the fastest. Every step is ordered by waitpid or by watching
//! /proc/PID/syscall; nothing sleeps for a time.
//!
//! Steps 1, 3 and 4 are below; the longer steps of the story are in src/story/; what later
//! lessons reuse is the library (src/lib.rs).

mod story {
    pub mod private_futexes;
    pub mod race_all;
    pub mod system_v_semaphore;
    pub mod watch_a_waiter;
}

use clap::Parser;
use common::{Result, parent, section};
use l08_races::{MAX_WORKERS, ProcessLock};
use l10_sleeping_locks::{FutexMutex, PosixSemaphore, PthreadMutex, Robustness};

use story::private_futexes::private_futexes_stay_home;
use story::race_all::race_all;
use story::system_v_semaphore::system_v_semaphore;
use story::watch_a_waiter::watch_a_waiter;

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
// ANCHOR_END: states

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
