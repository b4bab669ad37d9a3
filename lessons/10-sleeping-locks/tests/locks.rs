//! Tests of the lesson's locks across processes, including what lessons 11 and 12 rely
//! on. They fork, so they run in this file's own single-threaded `main`. Every System V
//! set they make is owned by a `SysVSemaphore`, whose `Drop` removes it even when an
//! assertion fails (the panic unwinds through it).

use std::time::Duration;

use common::{Exit, fork_child};
use l08_races::{ProcessLock, count_under_lock};
use l10_sleeping_locks::{
    Acquired, FutexMutex, PosixSemaphore, PthreadMutex, Robustness, SysVSemaphore,
    semaphore_set_stat, semaphore_sets, wait_until_blocked,
};
use nix::sys::signal::{Signal, kill};

fn main() -> std::process::ExitCode {
    common::run_tests!(
        every_lock_counts_exactly_under_contention,
        a_posix_semaphore_at_zero_wakes_a_sleeping_process,
        a_robust_mutex_reports_a_holder_killed_by_sigkill,
        sem_undo_gives_back_what_a_killed_holder_took,
        a_forked_childs_copy_does_not_remove_the_set,
        the_next_set_removes_the_set_of_a_process_killed_by_sigkill,
        sigterm_removes_the_set,
    )
}

fn exact<L: ProcessLock>(name: &str, lock: &L, iterations: u64) {
    let (count, _) = count_under_lock(lock, 2, iterations, true).unwrap();
    assert_eq!(count, 2 * iterations, "{name}: lost updates");
}

fn every_lock_counts_exactly_under_contention() {
    exact("futex mutex", &*FutexMutex::new_shared().unwrap(), 50_000);
    let pthread = PthreadMutex::new_shared(Robustness::Stalled).unwrap();
    exact("pthread mutex", &*pthread, 50_000);
    exact(
        "POSIX semaphore",
        &*PosixSemaphore::new_shared(1).unwrap(),
        50_000,
    );
    let sysv = SysVSemaphore::create().unwrap();
    sysv.set_value(1).unwrap();
    exact("System V semaphore", &sysv, 500);
}

fn a_posix_semaphore_at_zero_wakes_a_sleeping_process() {
    // Lesson 11's pattern: a process sleeps on its own semaphore until another posts.
    let sem = PosixSemaphore::new_shared(0).unwrap();
    let sleeper = fork_child(|| if sem.wait().is_ok() { 0 } else { 1 }).unwrap();
    wait_until_blocked(sleeper.pid(), &[libc::SYS_futex], Duration::from_secs(5)).unwrap();
    sem.post().unwrap();
    assert_eq!(sleeper.wait().unwrap(), Exit::Code(0));
    assert_eq!(sem.value().unwrap(), 0, "the sleeper took the post");
}

fn a_robust_mutex_reports_a_holder_killed_by_sigkill() {
    let mutex = PthreadMutex::new_shared(Robustness::Robust).unwrap();
    let holder = fork_child(|| {
        let _ = mutex.lock();
        let _ = kill(nix::unistd::getpid(), Signal::SIGKILL);
        0
    })
    .unwrap();
    assert_eq!(holder.wait().unwrap(), Exit::Signal(Signal::SIGKILL));
    assert_eq!(mutex.lock().unwrap(), Acquired::OwnerDied);
    mutex.make_consistent().unwrap();
    mutex.unlock().unwrap();
    assert_eq!(mutex.try_lock().unwrap(), Some(Acquired::Clean));
    mutex.unlock().unwrap();
}

fn sem_undo_gives_back_what_a_killed_holder_took() {
    let sem = SysVSemaphore::create().unwrap();
    sem.set_value(1).unwrap();
    let holder = fork_child(|| {
        let _ = sem.wait();
        let _ = kill(nix::unistd::getpid(), Signal::SIGKILL);
        0
    })
    .unwrap();
    assert_eq!(holder.wait().unwrap(), Exit::Signal(Signal::SIGKILL));
    assert_eq!(sem.value().unwrap(), 1, "SEM_UNDO: the kernel undid the -1");
}

fn a_forked_childs_copy_does_not_remove_the_set() {
    let sem = SysVSemaphore::create().unwrap();
    let semid = sem.id();
    let child = fork_child(|| {
        // SAFETY: after fork this process has a copy of `sem` of its own; owning and
        // dropping it here is what a child that ran the parent's destructors would do.
        drop(unsafe { std::ptr::read(&sem) });
        0
    })
    .unwrap();
    assert_eq!(child.wait().unwrap(), Exit::Code(0));
    assert!(
        semaphore_set_stat(semid).is_ok(),
        "the child must not remove the parent's set"
    );
    drop(sem);
    assert!(
        !semaphore_sets().unwrap().contains(&semid),
        "Drop removed it"
    );
}

/// A child makes a set and sends its id through a pipe, then `kill_itself` ends it.
/// Returns how it ended, its set's id, and whether the set was still there once the child
/// had died (looked at before the child is reaped: until then its PID is taken, so no other
/// process, another copy of these tests included, takes its set for a dead run's).
fn set_of_a_child_that(kill_itself: Signal) -> (Exit, i32, bool) {
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    let child = fork_child(|| {
        let set = SysVSemaphore::create().unwrap();
        nix::unistd::write(&write_end, &set.id().to_ne_bytes()).unwrap();
        nix::sys::signal::raise(kill_itself).unwrap();
        0 // not reached
    })
    .unwrap();
    drop(write_end);
    let mut id = [0u8; 4];
    assert_eq!(nix::unistd::read(&read_end, &mut id).unwrap(), 4);
    let semid = i32::from_ne_bytes(id);
    let zombie = std::time::Instant::now();
    let stat = format!("/proc/{}/stat", child.pid());
    while !std::fs::read_to_string(&stat)
        .is_ok_and(|s| s.rsplit(')').next().unwrap().starts_with(" Z"))
    {
        assert!(
            zombie.elapsed() < Duration::from_secs(10),
            "the child never died"
        );
        std::thread::yield_now();
    }
    let left = semaphore_sets().unwrap().contains(&semid);
    (child.wait().unwrap(), semid, left)
}

fn the_next_set_removes_the_set_of_a_process_killed_by_sigkill() {
    let (exit, semid, left) = set_of_a_child_that(Signal::SIGKILL);
    assert_eq!(exit, Exit::Signal(Signal::SIGKILL));
    assert!(
        left,
        "nothing runs after SIGKILL: the set must have been left"
    );
    let next = SysVSemaphore::create().unwrap(); // finds the dead creator's set by its key
    let still_left = semaphore_sets().unwrap().contains(&semid);
    if still_left {
        let _ = l10_sleeping_locks::remove_semaphore_set(semid);
    }
    drop(next);
    assert!(
        !still_left,
        "set {semid} of a killed process survived the next create"
    );
}

fn sigterm_removes_the_set() {
    let (exit, semid, left) = set_of_a_child_that(Signal::SIGTERM);
    if left {
        let _ = l10_sleeping_locks::remove_semaphore_set(semid);
    }
    assert_eq!(
        exit,
        Exit::Signal(Signal::SIGTERM),
        "it still dies of the signal"
    );
    assert!(!left, "SIGTERM left set {semid} behind");
}
