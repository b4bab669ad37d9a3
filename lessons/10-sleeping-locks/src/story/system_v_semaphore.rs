//! Step 5 of the story: a System V semaphore, an object in the kernel made in two calls.
//!
//! Between `semget` and `semctl(SETVAL)` the set exists with no value anyone chose; the
//! step shows a process forked in that window, then sets the value before any process that
//! uses the set exists. Then `SEM_UNDO`: a child that exits holding the semaphore gives it
//! back. The set is returned to `run`, which races it in step 6.

use common::{Error, Result, child, fork_child, parent, section};
use l08_races::ProcessLock;
use l10_sleeping_locks::SysVSemaphore;
use nix::errno::Errno;

use super::watch_a_waiter::watch_a_waiter;

// ANCHOR: sysv
pub fn system_v_semaphore() -> Result<SysVSemaphore> {
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
