//! The startup process: what runs first in new shared memory, before anybody else.
//!
//! The buffer pool starts empty. The startup process reads pg_control; loads every page of
//! the table's file into its buffer; and, if the last run did not shut down cleanly, replays
//! the WAL from the last checkpoint's redo point. A record is applied only if it is newer
//! than the page it names (the page's LSN says how far the page already is), so replaying
//! a record twice, or one whose page was written after it, changes nothing. Then it writes
//! the repaired pages out in an end-of-recovery checkpoint and marks the cluster "in
//! production". PostgreSQL: `StartupXLOG` in src/backend/access/transam/xlog.c, the redo
//! loop `PerformWalRecovery` in xlogrecovery.c, the page test `XLogReadBufferForRedo` in
//! xlogutils.c.

use std::path::Path;
use std::sync::atomic::Ordering;

use common::{Error, Result, child};
use l14_mini_postmaster::storage::{
    CONTROL_FILE, ControlFile, DataFiles, DbState, TABLE_FILE, checkpoint,
};
use l14_mini_postmaster::{BLOCK_SIZE, DIRTY, Mode, Pool, RECORD_SIZE, ROWS_PER_PAGE, WalRecord};

use crate::lsn;

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
    child!("LOG:  checkpoint starting: end-of-recovery immediate wait");
    let done = checkpoint(pool, &files, dir, DbState::InProduction)?;
    child!(
        "LOG:  checkpoint complete: wrote {} buffers; redo lsn={}; {CONTROL_FILE}: in production",
        done.written,
        lsn(done.redo)
    );
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

// ANCHOR: redo
/// What [`redo_record`] found, named after `XLogReadBufferForRedo`'s answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redo {
    /// The page is older than the record: the record was applied (`BLK_NEEDS_REDO`).
    Applied,
    /// The page already has the record, or a later one (`BLK_DONE`): nothing to do.
    AlreadyDone,
}

/// Replays one record, the one ending at `lsn`: if the page's LSN is older, sets the row to
/// the record's value, the page's LSN to `lsn`, and marks the buffer dirty.
pub fn redo_record(pool: &Pool, lsn: u64, record: WalRecord) -> Result<Redo> {
    let (buffer, row) = (record.block as usize, record.row as usize);
    if buffer >= pool.buffers || row >= ROWS_PER_PAGE {
        return Err(Error::Failed(format!(
            "a WAL record at {} names block {buffer} row {row}, beyond the {} buffers: start \
             with --buffers {}",
            crate::lsn(lsn - RECORD_SIZE as u64),
            pool.buffers,
            buffer + 1
        )));
    }
    let lock = pool.page_lock(buffer);
    lock.acquire(Mode::Exclusive);
    let page = pool.page(buffer);
    // SAFETY: we hold the page's lock exclusive.
    let redo = unsafe {
        if lsn <= (*page).lsn {
            Redo::AlreadyDone
        } else {
            (*page).rows[row] = record.value;
            (*page).lsn = lsn;
            Redo::Applied
        }
    };
    if redo == Redo::Applied {
        pool.descriptor(buffer)
            .flags
            .fetch_or(DIRTY, Ordering::AcqRel);
    }
    lock.release(Mode::Exclusive);
    Ok(redo)
}

/// The redo loop: every record from the redo point to the end of the WAL file.
fn replay(pool: &Pool, files: &DataFiles, redo: u64) -> Result<()> {
    let records = files.read_wal(redo)?;
    let Some(&(last, _)) = records.last() else {
        child!("LOG:  redo is not required");
        return Ok(());
    };
    child!("LOG:  redo starts at {}", lsn(redo));
    let (mut applied, mut done) = (0, 0);
    for (end, record) in records {
        match redo_record(pool, end, record)? {
            Redo::Applied => applied += 1,
            Redo::AlreadyDone => done += 1,
        }
    }
    // PostgreSQL names the start of the last record it replayed.
    child!("LOG:  redo done at {}", lsn(last - RECORD_SIZE as u64));
    child!("{applied} BLK_NEEDS_REDO (applied), {done} BLK_DONE (the page on disk had it)");
    Ok(())
}
// ANCHOR_END: redo
