//! A System V semaphore set as the kernel keeps it, whoever made it: what `semctl(IPC_STAT)`
//! says about it, its removal, and the list of every set (what `ipcs -s` shows).
//!
//! These work on a set's id alone, so that a test, or the next run after a `kill -9`, can
//! look at and remove a set that no `SysVSemaphore` of this process owns.

use common::{Error, Result};
use nix::errno::Errno;

/// What `semctl(IPC_STAT)` says about a semaphore set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemStat {
    pub nsems: u64,
    /// Permission bits (0o600).
    pub mode: u16,
    /// The last `semop`, in seconds since 1970; 0 if no `semop` ever ran on the set.
    pub otime: i64,
    /// The last change by `semctl` (or creation).
    pub ctime: i64,
}

/// `semctl(semid, 0, IPC_STAT, &buf)`; `EINVAL` once the set is gone.
pub fn semaphore_set_stat(semid: i32) -> Result<SemStat> {
    // SAFETY: semid_ds is plain old data; all zeroes is a valid value to be overwritten.
    let mut buf: libc::semid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT writes one semid_ds through the pointer; `buf` is one.
    Errno::result(unsafe {
        libc::semctl(semid, 0, libc::IPC_STAT, &mut buf as *mut libc::semid_ds)
    })
    .map_err(Error::sys("semctl(IPC_STAT)"))?;
    Ok(SemStat {
        nsems: buf.sem_nsems as u64,
        mode: buf.sem_perm.mode & 0o777,
        otime: buf.sem_otime,
        ctime: buf.sem_ctime,
    })
}

/// `semctl(semid, 0, IPC_RMID)`: removes the set at once (unlike a shared memory segment,
/// a semaphore set is not kept until its last user lets go).
pub fn remove_semaphore_set(semid: i32) -> Result<()> {
    // SAFETY: IPC_RMID reads no argument.
    Errno::result(unsafe { libc::semctl(semid, 0, libc::IPC_RMID) })
        .map_err(Error::sys("semctl(IPC_RMID)"))
        .map(drop)
}

/// The semids in `/proc/sysvipc/sem` (what `ipcs -s` lists), of every user.
pub fn semaphore_sets() -> Result<Vec<i32>> {
    let text = std::fs::read_to_string("/proc/sysvipc/sem")?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1)?.parse().ok())
        .collect())
}
