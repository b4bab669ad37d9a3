//! Whose segment is it? The answers [`classify`](crate::classify) gives about a segment found
//! at our key, like PostgreSQL's `PGSharedMemoryAttach`.
//!
//! The header says whose: ours, or a stranger's. Only the kernel says whether anybody still
//! uses it: `shm_nattch` at 0 means stale, left behind by a process that exited or died. A
//! wrong answer either removes another program's memory or lets two servers share one
//! directory, so a failure that is not itself an answer stays an error, never a guess.

use std::fmt;

use common::Error;
use nix::errno::Errno;

// ANCHOR: found
/// What a segment found at our key is to us: the outcomes of PostgreSQL's
/// `PGSharedMemoryAttach` (its `IpcMemoryState` values are named in parentheses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Not ours: another program's, another user's (we may not even read it: EACCES), or
    /// ours for another directory. Leave it alone and try the next key. (`SHMSTATE_FOREIGN`)
    Stranger,
    /// Ours, and `nattch` processes had it attached when we looked: somebody is using this
    /// directory's segment. Never remove it. (`SHMSTATE_ATTACHED`)
    OursInUse { nattch: u64, creator_pid: i32 },
    /// Ours, and nobody attached: whoever used it has exited or died. Safe to remove and
    /// make afresh. (`SHMSTATE_UNATTACHED`)
    OursStale,
    /// No segment has that id (any more): removed since we learned it. (`SHMSTATE_ENOENT`)
    Gone,
}
// ANCHOR_END: found

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Stranger => f.write_str("a stranger's"),
            Found::OursInUse { nattch, .. } => write!(
                f,
                "ours, in use: {nattch} process{} attached",
                if *nattch == 1 { "" } else { "es" }
            ),
            Found::OursStale => f.write_str("ours, stale: nobody attached"),
            Found::Gone => f.write_str("gone"),
        }
    }
}

/// The errno of a failed system call, if `err` is one.
pub fn errno_of(err: &Error) -> Option<Errno> {
    match err {
        Error::Sys { errno, .. } => Some(*errno),
        _ => None,
    }
}
