//! Keys for the lesson's semaphore sets that say who made them, so that the sets of a run
//! killed with SIGKILL can be found and removed by the next run.
//!
//! A set made with `IPC_PRIVATE` cannot be found by key, and unlike a segment's `shm_cpid`
//! the kernel keeps no creator PID for a set. So the creator's PID goes into the key:
//! `TAG << 26 | n << 22 | pid` (a PID is below 2^22 on Linux: `pid_max` is at most 4194304,
//! and `n` counts the sets one process makes). The key is given to `semget` itself, so a
//! set never exists without its creator's PID, whenever the creator is killed. Any run that
//! makes a set first removes the sets whose creator is dead ([`remove_left_by_killed_runs`]).
//! PostgreSQL does much the same: its sets have keys (from the port number) and carry its
//! magic and the creator's PID in an extra semaphore; `IpcSemaphoreCreate` recycles a set
//! whose creator is gone.

use std::sync::atomic::{AtomicU32, Ordering};

use common::Result;
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::{Pid, getpid, getuid};

use crate::remove;

/// The top 6 bits of every key the lesson makes (0x58000000 to 0x5bffffff).
const TAG: u32 = 0b01_0110;
const PID_BITS: u32 = 22;
/// How many sets one process may have made (4 bits).
pub const SETS_PER_PROCESS: u32 = 16;

/// The key for this process's next set.
pub fn next_key() -> Option<libc::key_t> {
    static MADE: AtomicU32 = AtomicU32::new(0);
    let n = MADE.fetch_add(1, Ordering::Relaxed);
    (n < SETS_PER_PROCESS).then(|| key(n, getpid().as_raw() as u32))
}

fn key(n: u32, pid: u32) -> libc::key_t {
    (TAG << 26 | n << PID_BITS | pid) as libc::key_t
}

/// The creator's PID, if `key` is one of ours.
pub fn creator(key: libc::key_t) -> Option<i32> {
    let key = key as u32;
    (key >> 26 == TAG).then_some((key & ((1 << PID_BITS) - 1)) as i32)
}

/// Removes every set of ours whose key names a dead creator; one sentence for each.
pub fn remove_left_by_killed_runs() -> Result<Vec<String>> {
    let text = std::fs::read_to_string("/proc/sysvipc/sem")?;
    let me = getuid().as_raw();
    let mut said = Vec::new();
    // key semid perms nsems uid gid cuid cgid otime ctime
    for line in text.lines().skip(1) {
        let fields: Vec<i64> = line
            .split_whitespace()
            .map(|field| field.parse().unwrap_or(-1))
            .collect();
        let (Some(&key), Some(&semid), Some(&uid)) = (fields.first(), fields.get(1), fields.get(4))
        else {
            continue;
        };
        let Some(pid) = creator(key as libc::key_t) else {
            continue;
        };
        if uid != i64::from(me) || pid == getpid().as_raw() {
            continue; // another user's, or our own (its earlier holder of our PID is dead,
            // but then its set is in our way and create() reports it)
        }
        if kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH) {
            remove(semid as i32)?;
            said.push(format!(
                "removed semaphore set semid {semid}, left by a run (pid {pid}) that was \
                 killed before it could remove it"
            ));
        }
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
