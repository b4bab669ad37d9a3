//! Keys for the lesson's semaphore sets that say who made them, so that the sets of a run
//! killed with SIGKILL can be found and removed by the next run.
//!
//! A set made with `IPC_PRIVATE` cannot be found by key, and unlike a segment's `shm_cpid`
//! the kernel keeps no creator PID for a set. So the creator's PID goes into the key:
//! `TAG << 26 | n << 22 | pid` (a PID is below 2^22 on Linux: `pid_max` is at most 4194304,
//! and `n` counts the sets one process makes). Before `semget`, the creator also leaves a
//! mark `$TMPDIR/sysv-set.PID.N` (`common::marks`), removed with the set. Any run that
//! makes a set first looks for marks whose process is dead, and removes the set each one
//! names ([`remove_left_by_killed_runs`]): the mark exists before the set, so no moment of
//! a kill escapes it, and only runs with the same `$TMPDIR` find it.
//! PostgreSQL does much the same: its sets have keys (counting up from the data directory's
//! inode number since 13, from the port number before) and carry its
//! magic and the creator's PID in an extra semaphore; `IpcSemaphoreCreate` recycles a set
//! whose creator is gone.

use std::sync::atomic::{AtomicU32, Ordering};

use common::Result;
use common::marks::left_by_the_dead;
use nix::unistd::getpid;

use crate::remove_semaphore_set;

/// The top 6 bits of every key the lesson makes (0x58000000 to 0x5bffffff).
const TAG: u32 = 0b01_0110;
const PID_BITS: u32 = 22;
/// How many sets one process may have made (4 bits).
pub const SETS_PER_PROCESS: u32 = 16;

/// The prefix of the marks (`common::marks`) of processes that make sets.
pub const MARK: &str = "sysv-set";

/// This process's next set: its number and its key.
pub fn next_key() -> Option<(u32, libc::key_t)> {
    static MADE: AtomicU32 = AtomicU32::new(0);
    let n = MADE.fetch_add(1, Ordering::Relaxed);
    (n < SETS_PER_PROCESS).then(|| (n, key(n, getpid().as_raw() as u32)))
}

fn key(n: u32, pid: u32) -> libc::key_t {
    (TAG << 26 | n << PID_BITS | pid) as libc::key_t
}

/// The creator's PID, if `key` is one of ours.
pub fn creator(key: libc::key_t) -> Option<i32> {
    let key = key as u32;
    (key >> 26 == TAG).then_some((key & ((1 << PID_BITS) - 1)) as i32)
}

/// Removes the set of every mark whose process is dead; one sentence for each.
pub fn remove_left_by_killed_runs() -> Result<Vec<String>> {
    let mut said = Vec::new();
    for dead in left_by_the_dead(MARK) {
        let key = key(dead.n.unwrap_or(0), dead.pid as u32);
        // SAFETY: semget takes plain integers; with no IPC_CREAT it only looks the key up.
        let semid = unsafe { libc::semget(key, 0, 0) };
        // Gone already (ENOENT), or not ours to touch (EACCES): nothing to remove.
        if semid >= 0 {
            remove_semaphore_set(semid)?;
            said.push(format!(
                "removed semaphore set semid {semid}, left by a run (pid {}) that was killed \
                 before it could remove it",
                dead.pid
            ));
        }
        let _ = std::fs::remove_file(&dead.path);
    }
    Ok(said)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gives_back_its_creator() {
        assert_eq!(creator(key(3, 4_194_303)), Some(4_194_303));
        assert_eq!(creator(key(15, 1)), Some(1));
        assert_eq!(creator(0x1234_5678), None);
        assert_eq!(creator(libc::IPC_PRIVATE), None);
    }
}
