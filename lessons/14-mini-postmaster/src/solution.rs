//! Lesson 14's exercise, solved: a backend's update, under the page's LWLock, with its WAL
//! record.

use crate::{DIRTY, Mode, Pool, WalRecord};
use common::Result;
use std::sync::atomic::Ordering;

// ANCHOR: solution
/// Adds 1 to row `row` of buffer `buffer`'s page and logs it; returns the record's LSN.
pub fn update_row(pool: &Pool, buffer: usize, row: usize) -> Result<u64> {
    // Held until we return, on every path: dropping the guard releases the lock.
    let _exclusive = pool.page_lock(buffer).hold(Mode::Exclusive);
    let page = pool.page(buffer);
    // SAFETY: we hold the page's lock exclusive: nobody else reads or writes the page.
    let old = unsafe { (*page).rows[row] };
    // Change the page and mark it dirty before logging: a checkpoint that finds our record
    // before its redo point then finds the page dirty too, and writes it.
    // SAFETY: as above.
    unsafe { (*page).rows[row] = old + 1 };
    pool.descriptor(buffer)
        .flags
        .fetch_or(DIRTY, Ordering::AcqRel);
    // Log inside the lock: records of one row are then in the WAL in the order the updates
    // happened, and the page's LSN names the last of them.
    let logged = pool.insert_wal(WalRecord {
        block: buffer as u32,
        row: row as u32,
        value: old + 1,
    });
    // SAFETY: as above.
    unsafe {
        match logged {
            Ok(lsn) => (*page).lsn = lsn,
            Err(_) => (*page).rows[row] = old, // not logged: take the change back
        }
    }
    logged
}
// ANCHOR_END: solution
