//! Lesson 06's exercise, solved: whose segment is this?

use std::path::Path;

use common::{Error, Result};
use l05_sysv_segments::{attach_read_only, segment_stat};
use nix::errno::Errno;

use crate::{DirId, Found, errno_of, read_header};

// ANCHOR: classify
/// What the segment `shmid`, found at the key of directory `dir`, is to us: PostgreSQL's
/// `PGSharedMemoryAttach`. Only looks: it attaches for a moment, read-only (the segment
/// may be anybody's), and removes nothing.
pub fn classify(shmid: i32, dir: &Path) -> Result<Found> {
    // 1. Ask the kernel first: does it exist, may we read it, and how many processes had it
    //    attached *before* we attach (our own shmat will add one)?
    let info = match segment_stat(shmid) {
        Ok(info) => info,
        Err(err) => return vanished_or_forbidden(err),
    };
    let ours = DirId::of(dir)?;
    // 2. Attach, read-only, and read the header: the key alone proves nothing.
    let attachment = match attach_read_only(shmid) {
        Ok(attachment) => attachment,
        Err(err) => return vanished_or_forbidden(err),
    };
    // 3. Ours only if the magic *and* the directory's device and inode all match.
    match read_header(&attachment) {
        Some(header) if header.dir() == ours => Ok(match info.nattch {
            0 => Found::OursStale,
            nattch => Found::OursInUse {
                nattch,
                creator_pid: header.creator_pid,
            },
        }),
        _ => Ok(Found::Stranger),
    }
    // 4. `attachment` is dropped here: shmdt.
}

/// IPC_STAT and shmat fail in two ways that are answers, not errors: EINVAL (no such
/// segment: it was removed since we found it) and EACCES (another user's, which we may not
/// read: it cannot be ours). Anything else, we cannot tell: an error, which callers must
/// treat as "in use", as PostgreSQL does.
fn vanished_or_forbidden(err: Error) -> Result<Found> {
    match errno_of(&err) {
        Some(Errno::EINVAL | Errno::EIDRM) => Ok(Found::Gone),
        Some(Errno::EACCES) => Ok(Found::Stranger),
        _ => Err(err),
    }
}
// ANCHOR_END: classify
