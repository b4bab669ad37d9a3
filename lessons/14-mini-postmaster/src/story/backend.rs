//! What a backend does: its updates, each committed by flushing the WAL, and its report.
//! A backend takes a fast shutdown's SIGTERM only at a safe point, between two committed
//! updates, as PostgreSQL's `CHECK_FOR_INTERRUPTS` does.

use std::os::fd::OwnedFd;
use std::path::Path;

use common::{Error, Result};
use l14_mini_postmaster::{
    CHECKPOINT, DataFiles, Pool, RELATION, UPDATES_PER_BACKEND, checkpoint_due, target, update_row,
};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::write;

/// What a child reports when it ends: how many updates it committed (backends), a line of
/// text, and its exit status.
pub struct Report {
    pub updates: usize,
    pub text: String,
    pub status: i32,
}

impl Report {
    pub fn of_writer(text: String) -> Report {
        Report {
            updates: 0,
            text,
            status: 0,
        }
    }
}

// ANCHOR: backend
/// A backend: finds the structures by name, takes its relation lock, and makes its updates,
/// each a transaction of its own: changed under the page's LWLock, then committed by
/// flushing the WAL up to its record (`synchronous_commit = on`). Asks the checkpointer for
/// a checkpoint when its record crossed the checkpoint distance (`XLogCheckpointNeeded`).
/// A SIGTERM (fast shutdown) waits, blocked, until the update in progress is committed, and
/// ends the backend there with status 1 (PostgreSQL's `die` and `CHECK_FOR_INTERRUPTS`).
pub fn backend(
    pool: &Pool,
    dir: &Path,
    number: usize,
    wal_records: usize,
    checkpoint_requests: &OwnedFd,
) -> Result<Report> {
    let interrupts = interrupts_at_safe_points()?;
    let (pool, found) = Pool::attach(pool.shmem, pool.buffers, wal_records)?;
    let found = found.iter().filter(|(_, _, found)| *found).count();
    let files = DataFiles::open(dir)?;
    pool.lock_relation(RELATION)?;
    let mut pages = std::collections::BTreeSet::new();
    let mut updates = 0;
    let mut terminated = false;
    for i in 0..UPDATES_PER_BACKEND {
        let (buffer, row) = target(number, i, pool.buffers);
        let lsn = update_row(&pool, buffer, row)?;
        if checkpoint_due(lsn) {
            write(checkpoint_requests, &[CHECKPOINT]).map_err(Error::sys("write"))?;
        }
        pool.flush_wal(lsn, &files)?; // commit: the record is on disk when this returns
        pages.insert(buffer);
        updates += 1;
        // A safe point: nothing half done. Has the postmaster asked us to stop?
        if interrupts
            .read_signal()
            .map_err(Error::sys("read(signalfd)"))?
            .is_some()
        {
            terminated = true;
            break;
        }
    }
    pool.unlock_relation(RELATION);
    let done = format!(
        "{updates} updates on {} pages under their LWLocks,\teach committed (WAL flushed up \
         to its record)",
        pages.len()
    );
    Ok(match terminated {
        false => Report {
            updates,
            text: format!("found {found} structures by name; {done}"),
            status: 0,
        },
        true => Report {
            updates,
            text: format!("terminating connection due to administrator command (SIGTERM): {done}"),
            status: 1,
        },
    })
}

/// A non-blocking signalfd to poll for SIGTERM, which `child_init` left blocked.
fn interrupts_at_safe_points() -> Result<SignalFd> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(Error::sys("signalfd"))
}
// ANCHOR_END: backend
