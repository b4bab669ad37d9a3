//! What `shmctl(IPC_STAT)` says about a segment, as a plain Rust struct.
//!
//! The kernel fills a C `struct shmid_ds`; the lessons need a few of its fields: the size
//! as asked for, the permissions, who created it, and above all `shm_nattch`, the count
//! of attachments that PostgreSQL's interlock relies on.

use common::{Error, Result};
use nix::errno::Errno;

use crate::Key;

/// The `shm_perm.mode` bit Linux sets when a segment has been marked with `IPC_RMID` while
/// still attached (`SHM_DEST` in `<linux/shm.h>`; the libc crate does not export it).
pub const SHM_DEST: u16 = 0o1000;

// ANCHOR: stat
/// What `shmctl(shmid, IPC_STAT)` says about a segment: the same facts `ipcs -m` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmStat {
    /// The key it was created with; Linux shows 0 once it is marked for destruction.
    pub key: Key,
    /// Permission bits (0o600), plus [`SHM_DEST`] once marked for destruction.
    pub mode: u16,
    /// Size in bytes, as asked for at creation (not rounded to pages).
    pub size: usize,
    /// How many attachments exist right now, in all processes.
    pub nattch: u64,
    /// The process that created it, and the last one to attach or detach.
    pub creator_pid: i32,
    pub last_pid: i32,
    /// Owner and creator user ids.
    pub uid: u32,
    pub creator_uid: u32,
}

impl ShmStat {
    /// Marked with `IPC_RMID`: gone as soon as the last attachment is.
    pub fn marked_for_destruction(&self) -> bool {
        self.mode & SHM_DEST != 0
    }

    pub fn permissions(&self) -> u16 {
        self.mode & 0o777
    }
}

/// `shmctl(shmid, IPC_STAT, &buf)`: what the kernel says about segment `shmid` now.
pub fn segment_stat(shmid: i32) -> Result<ShmStat> {
    // SAFETY: shmid_ds is plain old data; all zeroes is a valid value to be overwritten.
    let mut buf: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `buf` is a valid, writable shmid_ds for the kernel to fill.
    if unsafe { libc::shmctl(shmid, libc::IPC_STAT, &mut buf) } < 0 {
        return Err(Error::sys("shmctl(IPC_STAT)")(Errno::last()));
    }
    Ok(ShmStat {
        key: buf.shm_perm.__key,
        mode: buf.shm_perm.mode,
        size: buf.shm_segsz,
        nattch: buf.shm_nattch,
        creator_pid: buf.shm_cpid,
        last_pid: buf.shm_lpid,
        uid: buf.shm_perm.uid,
        creator_uid: buf.shm_perm.cuid,
    })
}
// ANCHOR_END: stat
