//! Lesson 12: a holder killed with the lock held, for each lock of lessons 09 and 10.
//!
//! The story, five times over: a holder takes the lock and starts a transfer between two
//! accounts; after the first of its two writes it says "halfway" through shared memory, and
//! the parent kills it there with SIGKILL. Then a next locker tries. The spinlock, the futex
//! mutex and the default pthread mutex never let it in: after a short deadline it is still
//! waiting, and is killed. The robust pthread mutex lets it in with EOWNERDEAD; the System V
//! semaphore with SEM_UNDO lets it in as if nothing had happened. Either way the accounts are
//! half written. Last, PostgreSQL's answer: after any abnormal exit, stop every process and
//! make shared memory anew. Every step is ordered by a flag in shared memory, by waitpid, or
//! by /proc/PID/syscall; the deadlines are the only waits, and nothing sleeps to order them.

use std::time::Duration;

use clap::Parser;
use common::{Error, Exit, Result, child, fork_child, parent, section};
use l09_spinlock::{Backoff, ProcessLock, SpinLock, lock_word, new_lock_word, tas};
use l10_sleeping_locks::{
    Acquired, FutexMutex, PthreadMutex, Robustness, SysVSemaphore, futex_op_name,
    wait_until_blocked,
};
use l12_dying_holders::{
    Scene, Waited, kill_and_reap, stop_halfway, wait_for_halfway, wait_with_deadline,
};
use nix::errno::Errno;

/// Kill a process while it holds a lock, for each kind of lock, and see who notices.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// How long a next locker may wait for a lock whose holder was killed before it is
    /// declared stuck (and killed). The lesson waits this long three times.
    #[arg(long, value_name = "MS", default_value_t = 10, value_parser = common::positive)]
    deadline_ms: u64,
}

/// A waiter on a dead holder's lock waits for ever; watching it longer proves nothing more.
const MAX_DEADLINE_MS: u64 = 10_000;
/// How much each transfer moves from `a` to `b`.
const AMOUNT: i64 = 50;
/// A bound on steps that must happen (a holder getting halfway, a robust next locker
/// finishing): reached only if something is broken, never part of the story.
const MUST_HAPPEN_WITHIN: Duration = Duration::from_secs(5);

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    if args.deadline_ms > MAX_DEADLINE_MS {
        return Err(Error::Usage(format!(
            "--deadline-ms {}: a lock whose holder is dead is never released, so waiting \
             longer shows nothing more; use at most {MAX_DEADLINE_MS}",
            args.deadline_ms
        )));
    }
    let deadline = Duration::from_millis(args.deadline_ms);
    spinlock(deadline)?;
    futex_mutex(deadline)?;
    stalled_pthread_mutex(deadline)?;
    robust_pthread_mutex()?;
    sysv_semaphore()?;
    crash_restart()
}

// ANCHOR: kill_halfway
/// Forks a holder that runs `take` (true: it holds the lock now), starts a transfer and
/// stops halfway. Kills it there, and reports what it left.
fn kill_holder_halfway<Held>(scene: &Scene, take: impl Fn() -> Option<Held>) -> Result<()> {
    let holder = fork_child(|| {
        // A guard, where the lock has one: its Drop would release the lock, but SIGKILL
        // ends the process with no code of its own run, so it never does.
        let Some(_held) = take() else {
            return 1;
        };
        child!(
            "holder, child pid {}: took the lock; a -= {AMOUNT}, and b += {AMOUNT} comes next",
            std::process::id()
        );
        stop_halfway(scene, AMOUNT)
    })?;
    wait_for_halfway(&holder, scene, MUST_HAPPEN_WITHIN)?;
    let pid = holder.pid();
    let exit = kill_and_reap(holder)?;
    parent!("the holder is halfway: kill -9; waitpid: child pid {pid} {exit}");
    parent!(
        "it left the lock held and the accounts at {}",
        scene.accounts
    );
    Ok(())
}

/// Forks a next locker that runs `body`, and gives it `deadline` to get the lock and end.
/// Still waiting by then: there is nobody left to release the lock. Says so, and where
/// the waiter sleeps (if `sleeps_in` names a system call), then kills it.
fn expect_stuck(
    deadline: Duration,
    body: impl FnOnce() -> i32,
    sleeps_in: Option<i64>,
) -> Result<()> {
    let waiter = fork_child(body)?;
    let pid = waiter.pid();
    let ms = deadline.as_millis();
    parent!("next locker, child pid {pid}, asks for the lock; it gets {ms} ms");
    match wait_with_deadline(waiter, deadline)? {
        Waited::Finished(Exit::Code(0)) => Err(Error::Failed(format!(
            "the next locker, child pid {pid}, got a lock whose holder was killed?!"
        ))),
        Waited::Finished(exit) => Err(Error::Failed(format!(
            "the next locker, child pid {pid}, {exit} before its deadline"
        ))),
        Waited::StillWaiting(waiter) => {
            parent!("after {ms} ms it is still waiting: nobody will ever release the lock");
            if let Some(call) = sleeps_in {
                let blocked = wait_until_blocked(pid, &[call], MUST_HAPPEN_WITHIN)?;
                let [_, op, value] = blocked.args;
                parent!(
                    "  /proc/{pid}/syscall: asleep in futex(&lock, {}, {value})",
                    futex_op_name(op)
                );
            }
            parent!(
                "kill -9; waitpid: child pid {pid} {}",
                kill_and_reap(waiter)?
            );
            Ok(())
        }
    }
}
// ANCHOR_END: kill_halfway

/// Forks a next locker that is expected to get the lock: runs `body`, and fails the lesson
/// if it does not end with status 0.
fn expect_through(body: impl FnOnce() -> i32) -> Result<()> {
    let waiter = fork_child(body)?;
    let pid = waiter.pid();
    match wait_with_deadline(waiter, MUST_HAPPEN_WITHIN)? {
        Waited::Finished(Exit::Code(0)) => Ok(()),
        Waited::Finished(exit) => Err(Error::Failed(format!(
            "the next locker, child pid {pid}, {exit}"
        ))),
        Waited::StillWaiting(_) => Err(Error::Failed(format!(
            "the next locker, child pid {pid}, did not get the lock within \
             {MUST_HAPPEN_WITHIN:?}"
        ))),
    }
}

// ANCHOR: spinlock
fn spinlock(deadline: Duration) -> Result<()> {
    section("1. A spinlock (lesson 09), its holder killed halfway through a transfer");
    let scene = Scene::new_shared()?;
    let shared = new_lock_word()?;
    let word = lock_word(&shared);
    kill_holder_halfway(&scene, || (tas(word) == 0).then_some(()))?;
    parent!(
        "the lock word reads {}: a spinlock does not know who holds it, or whether they live",
        word.state.load(std::sync::atomic::Ordering::Relaxed)
    );
    expect_stuck(
        deadline,
        || {
            let lock = SpinLock {
                word,
                backoff: Backoff::POSTGRES,
            };
            match lock.acquire() {
                Ok(()) => 0,
                Err(stuck) => {
                    child!("PANIC: {stuck}");
                    1
                }
            }
        },
        None,
    )?;
    parent!(
        "it waited with s_lock's backoff: after {} sleeps (minutes) it would PANIC \"stuck spinlock\"",
        Backoff::POSTGRES.max_delays
    );
    Ok(())
}
// ANCHOR_END: spinlock

// ANCHOR: futex
fn futex_mutex(deadline: Duration) -> Result<()> {
    section("2. A futex mutex (lesson 10): the same");
    let scene = Scene::new_shared()?;
    let mutex = FutexMutex::new_shared()?;
    kill_holder_halfway(&scene, || mutex.lock().ok())?;
    parent!(
        "the state word reads {}: \"locked\", by a process that no longer exists",
        mutex.state()
    );
    expect_stuck(
        deadline,
        || mutex.lock().map_or(1, |_held| 0),
        Some(libc::SYS_futex),
    )
}

fn stalled_pthread_mutex(deadline: Duration) -> Result<()> {
    section("3. A pthread mutex, PTHREAD_PROCESS_SHARED, default robustness (stalled)");
    let scene = Scene::new_shared()?;
    let mutex = PthreadMutex::new_shared(Robustness::Stalled)?;
    kill_holder_halfway(&scene, || mutex.lock().ok())?;
    expect_stuck(
        deadline,
        || mutex.lock().map_or(1, |_| 0),
        Some(libc::SYS_futex),
    )
}
// ANCHOR_END: futex

// ANCHOR: robust
fn robust_pthread_mutex() -> Result<()> {
    section("4. A robust pthread mutex: the next locker is told, EOWNERDEAD");
    let scene = Scene::new_shared()?;
    let mutex = PthreadMutex::new_shared(Robustness::Robust)?;
    kill_holder_halfway(&scene, || {
        matches!(mutex.lock(), Ok(Acquired::Clean)).then_some(())
    })?;
    expect_through(|| {
        let me = std::process::id();
        match mutex.lock() {
            Ok(Acquired::OwnerDied) => {
                child!("next locker, child pid {me}: pthread_mutex_lock: EOWNERDEAD");
                child!("  the lock is mine now; its last holder died holding it");
                child!("  and the data it protected: {}", scene.accounts);
            }
            other => {
                child!("pthread_mutex_lock: {other:?}, not EOWNERDEAD?!");
                return 1;
            }
        }
        let consistent = mutex.make_consistent().is_ok();
        child!("  pthread_mutex_consistent, then unlock, without repairing anything");
        if !consistent || mutex.unlock().is_err() {
            return 1;
        }
        0
    })?;
    match mutex.try_lock()? {
        Some(acquired) => {
            mutex.unlock()?;
            let how = match acquired {
                Acquired::Clean => "0",
                Acquired::OwnerDied => "EOWNERDEAD?!",
            };
            parent!("pthread_mutex_trylock: {how}: the lock is as good as new");
            parent!("and the accounts are still {}", scene.accounts);
        }
        None => return Err(Error::Failed("the robust mutex is still held?!".into())),
    }

    parent!("once more, and this time the next locker does not call pthread_mutex_consistent");
    let scene = Scene::new_shared()?;
    let mutex = PthreadMutex::new_shared(Robustness::Robust)?;
    kill_holder_halfway(&scene, || {
        matches!(mutex.lock(), Ok(Acquired::Clean)).then_some(())
    })?;
    expect_through(|| match mutex.lock() {
        Ok(Acquired::OwnerDied) => {
            child!(
                "next locker, child pid {}: EOWNERDEAD; unlock WITHOUT pthread_mutex_consistent",
                std::process::id()
            );
            mutex.unlock().map_or(1, |()| 0)
        }
        _ => 1,
    })?;
    match mutex.try_lock() {
        Err(
            err @ Error::Sys {
                errno: Errno::ENOTRECOVERABLE,
                ..
            },
        ) => {
            parent!("{err}");
            parent!("  the mutex is unusable for good: every lock from now on fails like this");
            Ok(())
        }
        other => Err(Error::Failed(format!(
            "expected ENOTRECOVERABLE, got {other:?}"
        ))),
    }
}
// ANCHOR_END: robust

// ANCHOR: sysv
fn sysv_semaphore() -> Result<()> {
    section("5. A System V semaphore with SEM_UNDO: the kernel gives the lock back");
    let scene = Scene::new_shared()?;
    let sem = SysVSemaphore::create()?;
    sem.set_value(1)?;
    kill_holder_halfway(&scene, || sem.wait().ok())?;
    parent!(
        "semid {}: GETVAL {}: at its death the kernel applied the holder's semadj (+1)",
        sem.id(),
        sem.value()?
    );
    expect_through(|| {
        if sem.wait().is_err() {
            return 1;
        }
        child!(
            "next locker, child pid {}: semop(-1, SEM_UNDO) went straight through",
            std::process::id()
        );
        child!(
            "  nothing told it anything happened; the accounts: {}",
            scene.accounts
        );
        sem.post().map_or(1, |()| 0)
    })?;
    sem.remove()
}
// ANCHOR_END: sysv

// ANCHOR: restart
fn crash_restart() -> Result<()> {
    section("6. PostgreSQL's answer: an abnormal exit stops everyone; shared memory is made anew");
    let committed = (100, 100); // what survives on disk: lesson 15 replays the WAL for it
    let scene = Scene::new_shared()?;
    let mutex = FutexMutex::new_shared()?;
    let worker = || transfer_under_the_lock(&mutex, &scene);
    let holder = fork_child(|| {
        let _held = mutex.lock();
        stop_halfway(&scene, AMOUNT)
    })?;
    wait_for_halfway(&holder, &scene, MUST_HAPPEN_WITHIN)?;
    let others = [fork_child(worker)?, fork_child(worker)?];
    for other in &others {
        wait_until_blocked(other.pid(), &[libc::SYS_futex], MUST_HAPPEN_WITHIN)?;
    }
    parent!(
        "a holder halfway through a transfer; 2 more workers asleep in futex on the lock: \
         child pid {} and child pid {}",
        others[0].pid(),
        others[1].pid()
    );
    let pid = holder.pid();
    let exit = kill_and_reap(holder)?;
    parent!("kill -9 the holder; waitpid: child pid {pid} {exit}");
    parent!(
        "an abnormal exit: shared memory may be corrupt (it is: {})",
        scene.accounts
    );
    parent!("terminating any other active server processes");
    for other in others {
        let pid = other.pid();
        parent!(
            "  kill -9; waitpid: child pid {pid} {}",
            kill_and_reap(other)?
        );
    }
    parent!("all server processes terminated; reinitializing");
    drop((scene, mutex));
    let scene = Scene::new_shared()?;
    let mutex = FutexMutex::new_shared()?;
    scene
        .accounts
        .a
        .store(committed.0, std::sync::atomic::Ordering::Relaxed);
    scene
        .accounts
        .b
        .store(committed.1, std::sync::atomic::Ordering::Relaxed);
    parent!(
        "a new mapping, a new lock (state {}), the accounts from committed state: {}",
        mutex.state(),
        scene.accounts
    );
    let fresh = fork_child(|| transfer_under_the_lock(&mutex, &scene))?;
    let pid = fresh.pid();
    parent!(
        "a new worker transfers {AMOUNT}; child pid {pid} {}",
        fresh.wait()?
    );
    parent!("the accounts: {}", scene.accounts);
    parent!("nobody repaired the dead holder's lock or its data: both were thrown away");
    Ok(())
}

/// A worker's transfer, under the lock its guard holds: the exit status says how it went.
fn transfer_under_the_lock(mutex: &FutexMutex, scene: &Scene) -> i32 {
    match mutex.lock() {
        Ok(_held) => {
            scene.accounts.transfer(AMOUNT, || {});
            0
        }
        Err(_) => 1,
    }
}
// ANCHOR_END: restart
