//! Scene 4: a robust pthread mutex, whose next locker is told: `EOWNERDEAD`.
//!
//! The kernel marks a robust mutex whose owner died, and the next `pthread_mutex_lock`
//! succeeds with `EOWNERDEAD`. This scene calls `pthread_mutex_consistent` and unlock by
//! hand, because the choice between them is the lesson: consistent, and the mutex is as
//! good as new while the data stays broken; not consistent, and the mutex is unusable for
//! good (`ENOTRECOVERABLE`).

use common::{Error, Result, child, parent, section};
use l10_sleeping_locks::{Acquired, PthreadMutex, Robustness};
use l12_dying_holders::Scene;
use nix::errno::Errno;

use super::kill_halfway::kill_holder_halfway;
use super::next_locker::expect_through;

// ANCHOR: robust
pub fn robust_pthread_mutex() -> Result<()> {
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
