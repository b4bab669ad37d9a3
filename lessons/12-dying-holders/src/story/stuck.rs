//! Scenes 1 to 3: locks that never let the next locker in once their holder is dead.
//!
//! A spinlock is one word that says "held" and not by whom; lesson 10's futex mutex and
//! glibc's default pthread mutex say "locked" in a futex word and sleep there. None of
//! them records who holds it in a way anyone checks, so nothing notices that the holder is
//! gone: the next locker waits for ever, spinning and sleeping, or asleep in the kernel.

use std::time::Duration;

use common::{Result, child, parent, section};
use l09_spinlock::{Backoff, ProcessLock, SpinLock, lock_word, new_lock_word, tas};
use l10_sleeping_locks::{FutexMutex, PthreadMutex, Robustness};
use l12_dying_holders::Scene;

use super::kill_halfway::kill_holder_halfway;
use super::next_locker::expect_stuck;

// ANCHOR: spinlock
pub fn spinlock(deadline: Duration) -> Result<()> {
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
pub fn futex_mutex(deadline: Duration) -> Result<()> {
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

pub fn stalled_pthread_mutex(deadline: Duration) -> Result<()> {
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
