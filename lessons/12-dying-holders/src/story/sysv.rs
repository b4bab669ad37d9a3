//! Scene 5: a System V semaphore with `SEM_UNDO`, which the kernel gives back at the
//! holder's death.
//!
//! The kernel undoes the dead holder's -1, so the next locker goes straight through, with
//! no error and no flag: the most dangerous of the five, because it looks as if the lock
//! worked, while the accounts in front of it are half written.

use common::{Result, child, parent, section};
use l09_spinlock::ProcessLock;
use l10_sleeping_locks::SysVSemaphore;
use l12_dying_holders::Scene;

use super::kill_halfway::kill_holder_halfway;
use super::next_locker::expect_through;

// ANCHOR: sysv
pub fn sysv_semaphore() -> Result<()> {
    section("5. A System V semaphore with SEM_UNDO: the kernel gives the lock back");
    let scene = Scene::new_shared()?;
    let sem = SysVSemaphore::create()?;
    sem.set_value(1)?;
    kill_holder_halfway(&scene, || sem.lock().ok())?;
    parent!(
        "semid {}: GETVAL {}: at its death the kernel applied the holder's semadj (+1)",
        sem.id(),
        sem.value()?
    );
    expect_through(|| {
        let Ok(_held) = sem.lock() else {
            return 1;
        };
        child!(
            "next locker, child pid {}: semop(-1, SEM_UNDO) went straight through",
            std::process::id()
        );
        child!(
            "  nothing told it anything happened; the accounts: {}",
            scene.accounts
        );
        0
    })?;
    sem.remove()
}
// ANCHOR_END: sysv
