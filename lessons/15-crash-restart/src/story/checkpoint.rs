//! The round's one CHECKPOINT: which backend runs it and when, and the `CHECKPOINT` command
//! itself, which asks the checkpointer for a checkpoint and waits until it is done. One per
//! round at a fixed point, so that the story does not depend on timing: a checkpoint that
//! began late could leave no WAL after its redo point, and recovery would change its lines.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Error, Result};
use l14_mini_postmaster::{CHECKPOINT, ControlFile};
use l15_crash_restart::Crash;
use nix::unistd::write;

// ANCHOR: checkpoint
/// Who runs the round's one CHECKPOINT, and when: the backend that will die, just before
/// its last committed update; without a crash, backend 1 halfway. Either way a committed
/// record follows the checkpoint's redo point, so recovery always has WAL to replay. (The
/// backends here do not ask for checkpoints by WAL volume, as lesson 14's do: a checkpoint
/// that began late could leave nothing after its redo point, and the story would change.)
pub fn checkpoint_at(crash: Option<Crash>, backend: usize, updates: usize) -> Option<usize> {
    match crash {
        Some(c) if c.backend == backend && c.update >= 2 => Some(c.update - 1),
        Some(_) => None,
        None => (backend == 1).then_some(updates / 2),
    }
}

/// The `CHECKPOINT` command: asks the checkpointer for a checkpoint and waits until it is
/// done, that is, until pg_control counts one more. PostgreSQL's `RequestCheckpoint` with
/// `CHECKPOINT_WAIT` sleeps on a condition variable; we have none in shared memory, so we
/// look at the file every millisecond, which is short next to the checkpoint's `fsync`s.
pub fn run_checkpoint(requests: &OwnedFd, dir: &Path) -> Result<()> {
    let before = ControlFile::read(dir)?.checkpoints;
    write(requests, &[CHECKPOINT]).map_err(Error::sys("write"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while ControlFile::read(dir)?.checkpoints == before {
        // A wait is where a backend notices the postmaster's death (WL_EXIT_ON_PM_DEATH):
        // the checkpointer it waits for has noticed it too, and will never answer.
        if common::parent_death::parent_gone() {
            return Err(Error::Failed(
                "terminating connection due to unexpected postmaster exit".into(),
            ));
        }
        if Instant::now() > deadline {
            return Err(Error::Failed(
                "CHECKPOINT: no checkpoint completed within 10 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}
// ANCHOR_END: checkpoint
