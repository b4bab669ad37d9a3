//! Nothing left behind when lesson 16 is interrupted: the System V semaphore set it races
//! lives in the kernel, so a Ctrl-C (or a `kill`) during that race must remove it.
//! These tests fork, so they run in this file's own single-threaded `main`.

use std::sync::atomic::{AtomicI32, Ordering};

use common::{Exit, fork_child};
use l08_races::Shared;
use l10_sleeping_locks::{SysVSemaphore, semaphore_set_stat};
use nix::sys::signal::{SigHandler, Signal, raise};

fn main() -> std::process::ExitCode {
    common::run_tests!(
        an_interrupted_race_leaves_no_semaphore_set,
        a_terminated_race_leaves_no_semaphore_set,
    )
}

fn an_interrupted_race_leaves_no_semaphore_set() {
    killed_while_armed(Signal::SIGINT);
}

fn a_terminated_race_leaves_no_semaphore_set() {
    killed_while_armed(Signal::SIGTERM);
}

/// A child makes a set (which registers itself to be removed on a signal) and is hit by
/// `signal`; the set must be gone, and the child dead of the signal.
fn killed_while_armed(signal: Signal) {
    let semid = Shared::<AtomicI32>::new().unwrap();
    // SAFETY: a zeroed AtomicI32 in a live mapping, used by both processes only atomically.
    let semid: &AtomicI32 = unsafe { &*semid.as_ptr() };
    semid.store(-1, Ordering::Relaxed); // no set yet (0 is a valid id)
    let child = fork_child(|| {
        // As in a terminal: a test run in the background of a script starts with SIGINT
        // ignored, and the cleanup leaves an ignored signal ignored (it ends nothing then).
        // SAFETY: sets the default action; no handler of ours is replaced.
        unsafe { nix::sys::signal::signal(signal, SigHandler::SigDfl) }.unwrap();
        let set = SysVSemaphore::create().unwrap();
        semid.store(set.id(), Ordering::Release);
        raise(signal).unwrap();
        0 // not reached: the signal ends it
    })
    .unwrap();
    let exit = child.wait().unwrap();
    let id = semid.load(Ordering::Acquire);
    assert!(
        id >= 0,
        "the child failed before it was interrupted: it {exit}"
    );
    let left = semaphore_set_stat(id).is_ok();
    if left {
        let _ = l10_sleeping_locks::remove_semaphore_set(id); // do not leak it from the test either
    }
    assert!(
        !left,
        "semaphore set {id} outlived a {signal} during its race"
    );
    assert_eq!(exit, Exit::Signal(signal), "the child {exit}");
}
