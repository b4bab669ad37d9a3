//! Redo: replaying the WAL into the buffers, record by record, the startup process's main
//! work after a crash.
//!
//! A record is applied only if it is newer than the page it names (the page's LSN says how
//! far the page already is). Our records set a row to a value, so applying one twice would
//! do no harm; the test saves the work here, and PostgreSQL needs it, because many of its
//! records are not like that (a heap insert puts a tuple at an offset: twice would be
//! wrong). PostgreSQL: the redo loop `PerformWalRecovery` in xlogrecovery.c, the page test
//! `XLogReadBufferForRedo` in xlogutils.c.

use std::sync::atomic::Ordering;

use common::{Error, Result, child};
use l14_mini_postmaster::{DIRTY, DataFiles, Mode, Pool, RECORD_SIZE, ROWS_PER_PAGE, WalRecord};

use crate::lsn;

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
    let _exclusive = pool.page_lock(buffer).hold(Mode::Exclusive);
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
    Ok(redo)
}

/// The redo loop: every record from the redo point to the end of the WAL file. The end is
/// the file's end: `read_wal` returns whole records only, so a torn last one is left out.
/// (PostgreSQL's WAL files are preallocated and zero-filled; it reads on until a record
/// header does not make sense, and logs why: "invalid record length at 0/153F9C0: wanted
/// 24, got 0", a zero where the next record's length would be.)
pub fn replay(pool: &Pool, files: &DataFiles, redo: u64) -> Result<()> {
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

#[cfg(test)]
mod tests {
    //! `redo_record` against a page whose LSN is known: a record the page already has is
    //! skipped and leaves the page alone; a newer one is applied. (Replaying the lesson's
    //! WAL would pass even without the LSN test, since its records set absolute values in
    //! order: these tests are what catches a `redo_record` that forgets it.)

    use super::*;
    use l07_postgres_hybrid::shmem_size;
    use l13_shmem_index::Segment;
    use l14_mini_postmaster::{INDEX_CAPACITY, region_parts};

    const BUFFERS: usize = 4;
    const WAL_RECORDS: usize = 32;
    /// The test page: buffer 1, row 5, at this LSN (the end of the 20th record).
    const BUFFER: usize = 1;
    const ROW: usize = 5;
    const PAGE_LSN: u64 = 20 * RECORD_SIZE as u64;
    const VALUE: u64 = 7;

    /// A fresh region of lesson 13 with lesson 14's structures in it.
    fn region() -> Segment {
        let size = shmem_size(&region_parts(BUFFERS, WAL_RECORDS)).expect("small");
        Segment::create(size, INDEX_CAPACITY).expect("mmap")
    }

    /// The page as the table's file had it: row ROW = VALUE, LSN PAGE_LSN, buffer clean.
    fn load_test_page(pool: &Pool) {
        // SAFETY: this test's own region; nobody else can see it.
        unsafe {
            (*pool.page(BUFFER)).lsn = PAGE_LSN;
            (*pool.page(BUFFER)).rows[ROW] = VALUE;
        }
    }

    /// (page LSN, the row's value, whether the buffer is dirty).
    fn page_state(pool: &Pool) -> (u64, u64, bool) {
        let dirty = pool.descriptor(BUFFER).flags.load(Ordering::Acquire) & DIRTY != 0;
        // SAFETY: as above.
        unsafe {
            let page = pool.page(BUFFER);
            ((*page).lsn, (*page).rows[ROW], dirty)
        }
    }

    fn record(value: u64) -> WalRecord {
        WalRecord {
            block: BUFFER as u32,
            row: ROW as u32,
            value,
        }
    }

    #[test]
    fn a_record_the_page_already_has_is_skipped() {
        let region = region();
        let (pool, _) = Pool::attach(region.shmem(), BUFFERS, WAL_RECORDS).expect("attach");
        load_test_page(&pool);
        // The record that made the page what it is, and an older one with an older value.
        for (lsn, value) in [
            (PAGE_LSN, VALUE),
            (PAGE_LSN - RECORD_SIZE as u64, VALUE - 1),
        ] {
            assert_eq!(
                redo_record(&pool, lsn, record(value)).expect("in range"),
                Redo::AlreadyDone,
                "a record ending at {lsn}, on a page at LSN {PAGE_LSN}: the page has it"
            );
            assert_eq!(
                page_state(&pool),
                (PAGE_LSN, VALUE, false),
                "a record ending at {lsn} changed a page at LSN {PAGE_LSN} (LSN, row, dirty): \
                 redo_record must compare the record's LSN with the page's and skip it"
            );
        }
    }

    #[test]
    fn a_record_newer_than_the_page_is_applied() {
        let region = region();
        let (pool, _) = Pool::attach(region.shmem(), BUFFERS, WAL_RECORDS).expect("attach");
        load_test_page(&pool);
        let lsn = PAGE_LSN + RECORD_SIZE as u64;
        assert_eq!(
            redo_record(&pool, lsn, record(VALUE + 1)).expect("in range"),
            Redo::Applied
        );
        assert_eq!(
            page_state(&pool),
            (lsn, VALUE + 1, true),
            "after a newer record: the row set, the page's LSN the record's, the buffer dirty"
        );
    }

    #[test]
    fn a_record_beyond_the_buffers_is_an_error() {
        let region = region();
        let (pool, _) = Pool::attach(region.shmem(), BUFFERS, WAL_RECORDS).expect("attach");
        let beyond = WalRecord {
            block: BUFFERS as u32,
            row: 0,
            value: 1,
        };
        let err = redo_record(&pool, PAGE_LSN, beyond).expect_err("no such buffer");
        assert!(err.to_string().contains("--buffers 5"), "{err}");
    }
}
