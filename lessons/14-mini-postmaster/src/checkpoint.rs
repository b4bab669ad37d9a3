//! A checkpoint, and the checkpointer process that makes them.
//!
//! A checkpoint notes the redo point (the WAL insert position now), writes every dirty page
//! and then records the redo point in the control file: from then on, recovery needs the WAL
//! from the redo point on only. The checkpointer sleeps until somebody asks for one: a
//! backend whose record crossed the checkpoint distance, or the postmaster at shutdown.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::Ordering;

use common::{Result, count};

use crate::{
    CHECKPOINT, CHECKPOINT_RECORDS, CONTROL_FILE, ControlFile, DataFiles, DbState, Pool, SHUTDOWN,
    Wake, postmaster_gone, wait_on,
};

// ANCHOR: checkpoint
/// What one checkpoint did.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint {
    pub redo: u64,
    /// Pages written.
    pub written: u32,
}

/// `CreateCheckPoint`: notes the redo point (the WAL insert position now), writes every
/// dirty buffer (`BufferSync`, WAL first for each), fsyncs the table, then records the redo
/// point in the control file. A change logged before the redo point is then on disk; one
/// logged after it is replayed from the WAL. At shutdown (`DbState::ShutDown`) nobody is
/// inserting any more, so the redo point is the WAL's end: nothing is left to replay.
pub fn checkpoint(
    pool: &Pool,
    files: &DataFiles,
    dir: &Path,
    state: DbState,
) -> Result<Checkpoint> {
    let redo = pool.wal_ctl().insert.load(Ordering::Acquire);
    let mut written = 0;
    for buffer in 0..pool.buffers {
        if pool.write_page(buffer, files)? {
            written += 1;
        }
    }
    files.sync_table()?;
    // Make the WAL durable up to the redo point too (the pages written above flushed it
    // only up to their own LSNs).
    pool.flush_wal(redo, files)?;
    let before = ControlFile::read(dir)?;
    ControlFile {
        state,
        redo,
        checkpoints: before.checkpoints + 1,
    }
    .write(dir)?;
    Ok(Checkpoint { redo, written })
}
// ANCHOR_END: checkpoint

// ANCHOR: checkpointer
/// The checkpointer: sleeps until a backend asks for a checkpoint or the postmaster for the
/// shutdown checkpoint, and makes it (`CheckpointerMain`). One checkpoint per request: the
/// count does not depend on timing.
pub fn checkpointer(pool: &Pool, dir: &Path, requests: &OwnedFd) -> Result<String> {
    let files = DataFiles::open(dir)?;
    let (mut requested, mut written) = (0u32, 0);
    loop {
        let state = match wait_on(requests, None)? {
            Wake::Byte(CHECKPOINT) => DbState::InProduction,
            Wake::Byte(SHUTDOWN) => DbState::ShutDown,
            _ => return Err(postmaster_gone()),
        };
        let done = checkpoint(pool, &files, dir, state)?;
        written += done.written;
        if state == DbState::ShutDown {
            return Ok(format!(
                "{} requested by WAL volume (one every {CHECKPOINT_RECORDS} records) and one \
                 at shutdown,\t{} written in all; the last: redo at LSN {}, {CONTROL_FILE}: \
                 shut down",
                count(requested, "checkpoint", "checkpoints"),
                count(written, "page", "pages"),
                done.redo
            ));
        }
        requested += 1;
    }
}
// ANCHOR_END: checkpointer
