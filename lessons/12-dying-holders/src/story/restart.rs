//! Scene 6: PostgreSQL's answer. An abnormal exit stops everyone, and shared memory is
//! made anew.
//!
//! The parent, a tiny postmaster, never looks at the lock or the data: `waitpid` tells it
//! that a child died abnormally, and that is enough. It kills every other worker, throws
//! the mapping away, and starts again from the last committed state.

use std::sync::atomic::Ordering;

use common::{Result, fork_child, parent, section};
use l09_spinlock::ProcessLock;
use l10_sleeping_locks::{FutexMutex, wait_until_blocked};
use l12_dying_holders::{Scene, kill_and_reap, stop_halfway, wait_for_halfway};

use crate::{AMOUNT, MUST_HAPPEN_WITHIN};

// ANCHOR: restart
pub fn crash_restart() -> Result<()> {
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
    scene.accounts.a.store(committed.0, Ordering::Relaxed);
    scene.accounts.b.store(committed.1, Ordering::Relaxed);
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
