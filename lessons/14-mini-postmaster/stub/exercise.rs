//! Lesson 14's exercise: what a backend does for one update.
//!
//! Write `update_row`, then run `cargo course check 14` until it is green. `cargo course
//! hint 14` gives hints, one level at a time; src/solution.rs has an answer.

#[allow(unused_imports)] // you will need these
use crate::{DIRTY, Mode, Pool, WalRecord};
use common::Result;
#[allow(unused_imports)]
use std::sync::atomic::Ordering;

/// Adds 1 to row `row` of buffer `buffer`'s page and logs it; returns the record's LSN.
///
/// - Many backends update at once: hold the page's LWLock in `Mode::Exclusive` while you
///   read and write the page (`pool.page(buffer)`, a raw pointer): the guard that
///   `pool.page_lock(buffer).hold(...)` returns releases it when dropped, on every path.
/// - Change the row, then mark the buffer dirty
///   (`pool.descriptor(buffer).flags.fetch_or(DIRTY, ...)`), then log the change with
///   `pool.insert_wal(WalRecord { block, row, value })`, where `value` is the row's new
///   value; it returns the LSN (the record's end). In that order: a checkpoint that sees
///   your record must also see the page dirty.
/// - Set the page's `lsn` to that LSN. If `insert_wal` fails, put the row back as it was
///   and return its error.
pub fn update_row(pool: &Pool, buffer: usize, row: usize) -> Result<u64> {
    let _ = (pool, buffer, row);
    todo!("write update_row in src/exercise.rs: lock the page, change the row, log it")
}
