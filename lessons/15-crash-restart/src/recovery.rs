//! The startup process: what runs first in new shared memory, before anybody else.
//!
//! The buffer pool starts empty. The startup process reads pg_control; loads every page of
//! the table's file into its buffer; and, if the last run did not shut down cleanly, replays
//! the WAL from the last checkpoint's redo point to the end of the WAL file (redo.rs). Then
//! it writes the repaired pages out in an end-of-recovery checkpoint, which it makes itself
//! (as PostgreSQL did up to 14), and marks the cluster "in production". PostgreSQL:
//! `StartupXLOG` in src/backend/access/transam/xlog.c.

use std::path::Path;
use std::sync::atomic::Ordering;

use common::{Result, child};
use l14_mini_postmaster::{
    BLOCK_SIZE, CONTROL_FILE, ControlFile, DataFiles, DbState, Pool, RECORD_SIZE, TABLE_FILE,
    checkpoint,
};

use crate::{lsn, replay};

// ANCHOR: startup
/// The startup process's work, in this order; it prints PostgreSQL's log lines as it goes.
pub fn startup_process(pool: &Pool, dir: &Path) -> Result<()> {
    let control = ControlFile::read(dir)?;
    let files = DataFiles::open(dir)?;
    match control.state {
        DbState::ShutDown => child!("LOG:  database system was shut down"),
        DbState::InProduction => child!("LOG:  database system was interrupted"),
        DbState::InCrashRecovery => {
            child!("LOG:  database system was interrupted while in recovery")
        }
    }
    load_pages(pool, &files)?;
    child!(
        "read the {} pages of {TABLE_FILE} into their buffers (ReadBuffer)",
        pool.buffers
    );
    // New WAL goes after the last whole record in the file (a torn one is overwritten).
    let wal_end = (files.read_wal(0)?.len() * RECORD_SIZE) as u64;
    let ctl = pool.wal_ctl();
    ctl.insert.store(wal_end, Ordering::Release);
    ctl.flushed.store(wal_end, Ordering::Release);
    if control.state == DbState::ShutDown {
        // A clean shutdown checkpointed everything: nothing to replay.
        return mark_in_production(control, dir);
    }
    child!("LOG:  database system was not properly shut down; automatic recovery in progress");
    ControlFile {
        state: DbState::InCrashRecovery,
        ..control
    }
    .write(dir)?;
    child!("{CONTROL_FILE}: in crash recovery");
    replay(pool, &files, control.redo)?;
    // CreateCheckPoint(CHECKPOINT_END_OF_RECOVERY | CHECKPOINT_IMMEDIATE), made by this
    // process itself: nobody waits for anybody, so no "wait" in the line.
    child!("LOG:  checkpoint starting: end-of-recovery immediate");
    let done = checkpoint(pool, &files, dir, DbState::InProduction)?;
    child!(
        "LOG:  checkpoint complete: wrote {} buffers; redo lsn={}",
        done.written,
        lsn(done.redo)
    );
    child!("{CONTROL_FILE}: in production");
    Ok(())
}

fn mark_in_production(control: ControlFile, dir: &Path) -> Result<()> {
    ControlFile {
        state: DbState::InProduction,
        ..control
    }
    .write(dir)?;
    child!("{CONTROL_FILE}: in production");
    Ok(())
}
// ANCHOR_END: startup

// ANCHOR: load
/// Copies block `n` of the table's file into buffer `n`, LSN and all. Blocks the file does
/// not have yet stay zero. Nobody else is attached: the startup process runs alone.
fn load_pages(pool: &Pool, files: &DataFiles) -> Result<()> {
    for buffer in 0..pool.buffers {
        let block = pool.descriptor(buffer).block;
        let page = files.read_page(block)?;
        // SAFETY: the page is BLOCK_SIZE bytes inside "Buffer Blocks", and no other
        // process exists yet that could read or write it.
        unsafe {
            std::ptr::copy_nonoverlapping(page.as_ptr(), pool.page(buffer).cast::<u8>(), BLOCK_SIZE)
        };
    }
    Ok(())
}
// ANCHOR_END: load
