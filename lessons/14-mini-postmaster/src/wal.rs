//! The WAL in shared memory: "XLOG Ctl" (the insert and flush positions, the WAL write lock)
//! and "WAL Buffers", where records wait until a commit or the WAL writer flushes them.
//!
//! Inserting a record takes no lock: one atomic add reserves its space. Writing the file
//! takes the WAL write lock, so one process writes at a time, and whoever holds it writes
//! everybody's complete records with one fsync: group commit.

use std::sync::atomic::{AtomicU64, Ordering};

use common::{Error, Result};
use l11_lwlock::LwLock;

use crate::{DataFiles, Mode, Pool};

// ANCHOR: structures
/// The WAL's control block ("XLOG Ctl"). LSNs are byte positions in the WAL: record `k`
/// lies at `k * 16`, and a page's LSN is the *end* of its last record, as in PostgreSQL.
#[repr(C)]
pub struct WalCtl {
    /// Bytes reserved so far (`CurrBytePos`): a backend reserves space by adding to it.
    pub insert: AtomicU64,
    /// Bytes written to the WAL file and fsynced (`LogwrtResult.Flush`). Only grows.
    pub flushed: AtomicU64,
    /// Bytes in "WAL Buffers". Ours holds the whole workload; PostgreSQL's is a ring that
    /// is written out as it fills.
    pub capacity: u64,
    /// Held by whoever writes the WAL file (`WALWriteLock`): one writer at a time.
    pub write_lock: LwLock,
}

/// One WAL record: "row `row` of block `block` is now `value`". A record is also its
/// transaction's commit: each update is a transaction of its own, committed once the record
/// is flushed. `value` is never 0 in a written record (rows only grow from 0), so a zero
/// there means "reserved, not copied yet".
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalRecord {
    pub block: u32,
    pub row: u32,
    pub value: u64,
}
// ANCHOR_END: structures

impl WalRecord {
    /// The record as the WAL file holds it: 16 little-endian bytes.
    pub fn to_bytes(self) -> [u8; RECORD_SIZE] {
        let mut bytes = [0; RECORD_SIZE];
        bytes[0..4].copy_from_slice(&self.block.to_le_bytes());
        bytes[4..8].copy_from_slice(&self.row.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.value.to_le_bytes());
        bytes
    }

    pub fn from_bytes(bytes: &[u8; RECORD_SIZE]) -> WalRecord {
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        WalRecord {
            block: word(0),
            row: word(4),
            value: u64::from_le_bytes(bytes[8..16].try_into().expect("8")),
        }
    }
}

pub const RECORD_SIZE: usize = size_of::<WalRecord>();

impl Pool<'_> {
    pub(crate) fn wal_ctl_ptr(&self) -> *mut WalCtl {
        self.shmem.ptr(self.wal_ctl).cast()
    }

    fn record_ptr(&self, at: u64) -> *mut WalRecord {
        assert!(at + RECORD_SIZE as u64 <= self.wal_ctl().capacity);
        self.shmem.ptr(self.wal + at as usize).cast()
    }

    /// "XLOG Ctl": atomics, a lock, and a capacity written before fork.
    pub fn wal_ctl(&self) -> &WalCtl {
        // SAFETY: inside the region, cache-line aligned, initialized by `attach`.
        unsafe { &*self.wal_ctl_ptr() }
    }

    // ANCHOR: insert
    /// `XLogInsert`, in small: reserves [`RECORD_SIZE`] bytes by moving the insert position
    /// (one atomic add: any number of backends insert at once, each into its own space),
    /// copies the record there, `value` last, and returns the record's end, its LSN.
    pub fn insert_wal(&self, record: WalRecord) -> Result<u64> {
        let ctl = self.wal_ctl();
        let start = ctl.insert.fetch_add(RECORD_SIZE as u64, Ordering::AcqRel);
        let end = start + RECORD_SIZE as u64;
        if end > ctl.capacity {
            return Err(Error::Failed(format!(
                "the WAL buffer is full: {} bytes, no room for a record at {start}",
                ctl.capacity
            )));
        }
        let at = self.record_ptr(start);
        // SAFETY: start..end lies inside "WAL Buffers" (checked) and was reserved by us
        // alone (fetch_add). `value` is an aligned u64 that a flusher reads atomically: the
        // Release store publishes block and row with it.
        unsafe {
            (&raw mut (*at).block).write(record.block);
            (&raw mut (*at).row).write(record.row);
            AtomicU64::from_ptr(&raw mut (*at).value).store(record.value, Ordering::Release);
        }
        Ok(end)
    }
    // ANCHOR_END: insert

    /// The record at byte `at` of the WAL, if it is completely copied.
    pub fn wal_record(&self, at: u64) -> Option<WalRecord> {
        let ptr = self.record_ptr(at);
        // SAFETY: inside "WAL Buffers" (record_ptr asserts it); `value` is read atomically,
        // and its Acquire makes the inserter's block and row visible when it is non-zero.
        unsafe {
            let value = AtomicU64::from_ptr(&raw mut (*ptr).value).load(Ordering::Acquire);
            (value != 0).then(|| WalRecord {
                block: (&raw const (*ptr).block).read(),
                row: (&raw const (*ptr).row).read(),
                value,
            })
        }
    }

    // ANCHOR: flush
    /// `XLogFlush`: makes the WAL durable at least up to `upto`, and returns how far it is
    /// flushed now. Under the WAL write lock, it writes every completely copied record from
    /// the flushed position on (others' too: one fsync commits many, "group commit"),
    /// waiting for any record below `upto` still being copied, then fsyncs the file.
    pub fn flush_wal(&self, upto: u64, files: &DataFiles) -> Result<u64> {
        let ctl = self.wal_ctl();
        let flushed = ctl.flushed.load(Ordering::Acquire);
        if flushed >= upto {
            return Ok(flushed);
        }
        let _writing = ctl.write_lock.hold(Mode::Exclusive);
        self.write_wal(upto, files)
    }

    fn write_wal(&self, upto: u64, files: &DataFiles) -> Result<u64> {
        let ctl = self.wal_ctl();
        let from = ctl.flushed.load(Ordering::Acquire);
        if from >= upto {
            return Ok(from); // someone flushed it while we waited for the lock
        }
        let inserted = ctl.insert.load(Ordering::Acquire).min(ctl.capacity);
        let mut bytes = Vec::new();
        let mut end = from;
        while end < inserted {
            match self.wal_record(end) {
                Some(record) => bytes.extend(record.to_bytes()),
                // Reserved but not copied yet (`WaitXLogInsertionsToFinish`): wait for it
                // if we need it, else stop here.
                None if end < upto => {
                    std::thread::yield_now();
                    continue;
                }
                None => break,
            }
            end += RECORD_SIZE as u64;
        }
        files.append_wal(from, &bytes)?;
        ctl.flushed.store(end, Ordering::Release);
        Ok(end)
    }
    // ANCHOR_END: flush
}
