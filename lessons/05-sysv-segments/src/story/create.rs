//! Step 1: create a segment, and say what to do when the kernel refuses.
//!
//! `shmget` with `IPC_CREAT | IPC_EXCL` makes a new segment or fails; it never hands back
//! somebody else's. The errors a user can cause (a size over `shmmax`, more memory than
//! the kernel will promise, the system's segments used up) become sentences that say what
//! to do next, the way PostgreSQL's `InternalIpcMemoryCreate` gives hints.

use common::{Error, Result, parent, section};
use l05_sysv_segments::{IPC_PRIVATE, Segment, limits, segment_stat};
use nix::errno::Errno;

// ANCHOR: create
pub fn create(size: u64) -> Result<Segment> {
    let len = usize::try_from(size)
        .map_err(|_| Error::Usage(format!("--size {size} does not fit in a size_t here")))?;
    let segment = Segment::create(IPC_PRIVATE, len, 0o600).map_err(|err| explain(err, size))?;
    section(&format!(
        "1. Create: shmget(IPC_PRIVATE, {size}, IPC_CREAT | IPC_EXCL | 0600)"
    ));
    let info = segment_stat(segment.id())?;
    parent!(
        "shmid {}: a new segment; key IPC_PRIVATE, so no other process can find it by key",
        segment.id()
    );
    parent!(
        "IPC_STAT: shm_segsz {}, perms {:o}, shm_nattch {}, shm_cpid = parent pid {} (us)",
        info.size,
        info.permissions(),
        info.nattch,
        info.creator_pid
    );
    Ok(segment)
}

/// Turns shmget's errno into a sentence that says what to do.
fn explain(err: Error, size: u64) -> Error {
    let Error::Sys { errno, .. } = err else {
        return err;
    };
    match errno {
        Errno::EINVAL => match limits() {
            Ok(limits) if size > limits.shmmax => Error::Usage(format!(
                "--size {size} is more than this kernel allows for one segment \
                 (shmmax {} bytes, /proc/sys/kernel/shmmax): ask for less",
                limits.shmmax
            )),
            _ => err,
        },
        Errno::ENOMEM => Error::Usage(format!(
            "--size {size}: the kernel will not reserve that much memory \
             (shmget: ENOMEM, more than memory and swap allow): ask for less"
        )),
        Errno::ENOSPC => Error::Failed(
            "shmget: ENOSPC: the system-wide limits on System V shared memory are used up \
             (shmmni segments, or shmall pages in all); not a full disk: look for leftover \
             segments with `ipcs -m`"
                .into(),
        ),
        _ => err,
    }
}
// ANCHOR_END: create
