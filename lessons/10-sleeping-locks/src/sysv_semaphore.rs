//! A System V semaphore used as a lock: an object in the kernel, found by id, owned by the
//! process that made it.
//!
//! Every operation on it is a system call, contended or not, and it outlives every process
//! unless someone removes it; so the process that creates a set removes it, in `Drop` and on
//! SIGINT, SIGTERM or SIGHUP, and a run killed with SIGKILL leaves a key and a mark by which
//! the next run finds the set and removes it (`set_keys`). With `SEM_UNDO`, the kernel gives
//! back what a process took when it exits, however it exits.

use common::marks::Mark;
use common::on_signal::{Remove, holding_off};
use common::{Error, Result};
use l08_races::ProcessLock;
use nix::errno::Errno;
use nix::unistd::{Pid, getpid};

use crate::{SemStat, remove_semaphore_set, semaphore_set_stat, set_keys};

// ANCHOR: sysv_semaphore
/// A System V semaphore set of one semaphore, owned by the process that created it:
/// `Drop` removes it (`IPC_RMID`) there, and only there, as lesson 05's `Segment` does; so
/// does SIGINT, SIGTERM or SIGHUP. Its key holds the creator's PID, so that the next run
/// removes it if its creator is killed (see [`set_keys`]). The set lives in the kernel, so
/// this handle is just its id; forked children use the copy they inherit. As a lock, `wait`
/// and `post` carry `SEM_UNDO`.
#[derive(Debug)]
pub struct SysVSemaphore {
    semid: i32,
    key: libc::key_t,
    creator: Pid,
    /// Removes the set if a signal ends the process before `Drop` can.
    on_signal: Option<Remove>,
    /// Says, until the set is gone, that this process made it (dropped last).
    _mark: Mark,
}

impl SysVSemaphore {
    /// `semget(key, 1, IPC_CREAT | IPC_EXCL | 0600)`, with a key that holds our PID, after
    /// removing the sets of killed runs (each removal is reported on stderr). The new
    /// semaphore is NOT ready: POSIX leaves its value undefined (Linux makes it 0), so the
    /// creator must [`set_value`](Self::set_value) before any other process can learn the id.
    pub fn create() -> Result<SysVSemaphore> {
        let program = std::env::args().next().unwrap_or_default();
        let program = program.rsplit('/').next().unwrap_or_default();
        for removed in set_keys::remove_left_by_killed_runs()? {
            eprintln!("{program}: {removed}");
        }
        let (n, key) = set_keys::next_key().ok_or_else(|| {
            Error::Failed(format!(
                "one process may make {} semaphore sets",
                set_keys::SETS_PER_PROCESS
            ))
        })?;
        let mark = Mark::make(set_keys::MARK, Some(n))?; // before the set: see set_keys
        let flags = libc::IPC_CREAT | libc::IPC_EXCL | 0o600;
        let semget = |flags| {
            // SAFETY: semget takes plain integers and touches no memory of ours.
            let semid = unsafe { libc::semget(key, 1, flags) };
            Errno::result(semid).map_err(Error::sys("semget"))
        };
        // Ctrl-C and kill are held off from semget to the registration: a signal in between
        // would leave a set that nobody knows of (its mark already removed by the handler).
        holding_off(|| {
            let semid = match semget(flags) {
                // A set with our key: made by a process that had our PID before us, so it is
                // dead, and so is its set.
                Err(Error::Sys {
                    errno: Errno::EEXIST,
                    ..
                }) => {
                    let old = semget(0)?;
                    remove_semaphore_set(old)?;
                    eprintln!(
                        "{program}: removed semaphore set semid {old}, left by a run with our pid"
                    );
                    semget(flags)?
                }
                other => other?,
            };
            let mut set = SysVSemaphore {
                semid,
                key,
                creator: getpid(),
                on_signal: None,
                _mark: mark,
            };
            set.on_signal = Some(Remove::semaphore_set(semid)?); // on error, Drop removes it
            Ok(set)
        })
    }

    /// The key it was made with (see [`set_keys`]).
    pub fn key(&self) -> libc::key_t {
        self.key
    }

    pub fn id(&self) -> i32 {
        self.semid
    }

    /// `semctl(semid, 0, SETVAL, value)`.
    pub fn set_value(&self, value: i32) -> Result<()> {
        // SAFETY: SETVAL takes its argument (union semun's `val`) by value.
        Errno::result(unsafe { libc::semctl(self.semid, 0, libc::SETVAL, value) })
            .map_err(Error::sys("semctl(SETVAL)"))
            .map(drop)
    }

    /// `semctl(semid, 0, GETVAL)`.
    pub fn value(&self) -> Result<i32> {
        // SAFETY: GETVAL reads no argument.
        Errno::result(unsafe { libc::semctl(self.semid, 0, libc::GETVAL) })
            .map_err(Error::sys("semctl(GETVAL)"))
    }

    /// `semop(semid, {0, -1, SEM_UNDO})`: waits until the value is at least 1 and takes
    /// one; again after a signal, like `PGSemaphoreLock`.
    pub fn wait(&self) -> Result<()> {
        while !self.operate(-1, libc::SEM_UNDO)? {}
        Ok(())
    }

    /// `semop(semid, {0, -1, SEM_UNDO | IPC_NOWAIT})`: `false` instead of sleeping.
    pub fn try_wait(&self) -> Result<bool> {
        match self.operate(-1, libc::SEM_UNDO | libc::IPC_NOWAIT) {
            Err(Error::Sys {
                errno: Errno::EAGAIN,
                ..
            }) => Ok(false),
            other => other,
        }
    }

    /// `semop(semid, {0, +1, SEM_UNDO})`.
    pub fn post(&self) -> Result<()> {
        while !self.operate(1, libc::SEM_UNDO)? {}
        Ok(())
    }

    /// One `semop`; `Ok(false)` if a signal interrupted it (`EINTR`).
    fn operate(&self, delta: i16, flags: i32) -> Result<bool> {
        let mut op = libc::sembuf {
            sem_num: 0,
            sem_op: delta,
            sem_flg: flags as i16,
        };
        // SAFETY: `op` is one live sembuf, and we pass a count of 1.
        match Errno::result(unsafe { libc::semop(self.semid, &mut op, 1) })
            .map_err(Error::sys("semop"))
        {
            Ok(_) => Ok(true),
            Err(Error::Sys {
                errno: Errno::EINTR,
                ..
            }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// `semctl(semid, 0, IPC_STAT)`: the set's times and mode.
    pub fn stat(&self) -> Result<SemStat> {
        semaphore_set_stat(self.semid)
    }

    /// `IPC_RMID` now, reporting failure (`Drop` can only ignore it). Processes asleep in
    /// `semop` on it wake with `EIDRM`.
    pub fn remove(mut self) -> Result<()> {
        drop(self.on_signal.take());
        let removed = remove_semaphore_set(self.semid);
        self.semid = -1; // removed (or not ours to retry): Drop now only drops the mark
        removed
    }
}

impl Drop for SysVSemaphore {
    fn drop(&mut self) {
        // A forked child that dropped its copy must not remove its parent's set.
        if getpid() == self.creator && self.semid >= 0 {
            drop(self.on_signal.take());
            let _ = remove_semaphore_set(self.semid);
        }
    }
}

impl ProcessLock for SysVSemaphore {
    fn acquire(&self) -> Result<()> {
        self.wait()
    }
    fn release(&self) {
        if let Err(err) = self.post() {
            panic!(
                "{err}: releasing a semaphore this process holds fails only if its set was \
                 removed under it (by ipcrm, or by its creator's exit)"
            );
        }
    }
}
// ANCHOR_END: sysv_semaphore

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semaphore_sets;

    #[test]
    fn a_system_v_semaphore_starts_unset_and_is_removed_on_drop() {
        let sem = SysVSemaphore::create().unwrap();
        let semid = sem.id();
        let info = semaphore_set_stat(semid).unwrap();
        assert_eq!((info.nsems, info.mode, info.otime), (1, 0o600, 0));
        assert_eq!(sem.value().unwrap(), 0, "Linux starts a new semaphore at 0");
        assert!(!sem.try_wait().unwrap());
        sem.set_value(1).unwrap();
        assert!(sem.try_wait().unwrap());
        assert!(sem.stat().unwrap().otime > 0, "a semop sets sem_otime");
        sem.post().unwrap();
        assert!(semaphore_sets().unwrap().contains(&semid));
        drop(sem);
        assert_eq!(
            semaphore_set_stat(semid).unwrap_err().to_string(),
            "semctl(IPC_STAT): Invalid argument (EINVAL)"
        );
        assert!(!semaphore_sets().unwrap().contains(&semid));
    }
}
