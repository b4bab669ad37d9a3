//! Lesson 14: a mini postmaster, and the shared structures its children work in.
//!
//! Everything here is built on earlier lessons: the region is lesson 13's (a header, a
//! cache-line-aligned bump allocator, structures found by name with `init_struct`), the page
//! locks are lesson 11's LWLocks, the size is lesson 07's sum of parts. This file defines the
//! structures PostgreSQL's postmaster creates at start-up, in small:
//! - a buffer pool: "Buffer Descriptors" (one per buffer: which block, dirty or not) and
//!   "Buffer Blocks" (the 8 kB pages themselves), each page guarded by an LWLock;
//! - "Buffer Content Locks", one lesson-11 LWLock per buffer, made in place in the region;
//! - "XLOG Ctl", the WAL's control block (insert and flush positions, the WAL write lock),
//!   and "WAL Buffers", where records wait until a commit or the WAL writer flushes them;
//! - a small "Lock table" where backends record the relation lock they hold.
//!
//! [`Pool`] is one process's view of them: offsets found by name, turned into pointers in
//! this process. [`update_row`] (the exercise) is what a backend does for each update;
//! [`storage`] is what lies on disk: the table, the WAL file and the control file.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use common::{Error, Result};
use l07_postgres_hybrid::ShmemPart;
use l11_lwlock::LwLock;
use l13_shmem_index::{Segment, Shmem, cache_line_align, init_struct};

pub use l11_lwlock::Mode;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

pub use exercise::update_row;

pub mod processes;
pub mod storage;
use storage::DataFiles;

// ANCHOR: structures
/// PostgreSQL's `BLCKSZ`: a page, in a buffer and in the data file.
pub const BLOCK_SIZE: usize = 8192;
/// Rows in a page: the lesson's table is pages of `u64` counters.
pub const ROWS_PER_PAGE: usize = 32;
/// The table's relation number, as its file in the data directory is named.
pub const RELATION: u32 = 16384;
/// Entries in the region's index (lesson 13).
pub const INDEX_CAPACITY: usize = 16;
/// Slots in the lock table.
pub const LOCK_SLOTS: usize = 16;

/// The start of every page: the LSN of the last WAL record that changed it (`pd_lsn`),
/// then the rows. The rest of the 8 kB stays zero.
#[repr(C)]
pub struct Page {
    pub lsn: u64,
    pub rows: [u64; ROWS_PER_PAGE],
}

/// One buffer's descriptor (`BufferDesc`), padded to 64 bytes as PostgreSQL pads its own.
/// PostgreSQL keeps the page's content lock in here too; lesson 11's `LwLock` carries its
/// own 72 process slots (4.6 kB), so ours sit in an array of their own beside.
#[repr(C, align(64))]
pub struct BufferDesc {
    /// Which block of the relation the buffer holds (`tag`).
    pub block: u32,
    /// [`DIRTY`] once changed, until a writer (the background writer or the checkpointer)
    /// has written it out.
    pub flags: AtomicU32,
}

/// `BM_DIRTY`: the page in memory is newer than the page on disk.
pub const DIRTY: u32 = 1;

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

/// One relation lock: which relation, how many hold it now, how often it was granted.
#[repr(C)]
pub struct LockSlot {
    pub relation: AtomicU32,
    pub held: AtomicU32,
    pub granted: AtomicU64,
}

/// The lock table: a fixed array, searched from `relation % LOCK_SLOTS` on.
#[repr(C)]
pub struct LockTable {
    pub slots: [LockSlot; LOCK_SLOTS],
}
// ANCHOR_END: structures

// ANCHOR: parts
/// The named structures for `buffers` buffers and room for `wal_records` WAL records:
/// the parts whose sum is the region's size. Each is rounded up to whole cache lines, as
/// lesson 13's allocator will hand them out.
pub fn structures(buffers: usize, wal_records: usize) -> Vec<ShmemPart> {
    let part = |name: &str, size: usize| ShmemPart {
        name: name.into(),
        size,
    };
    vec![
        part("Buffer Descriptors", buffers * size_of::<BufferDesc>()),
        part("Buffer Blocks", buffers * BLOCK_SIZE),
        part("Buffer Content Locks", buffers * size_of::<LwLock>()),
        part("XLOG Ctl", size_of::<WalCtl>()),
        part("WAL Buffers", wal_records * RECORD_SIZE),
        part("Lock table", size_of::<LockTable>()),
    ]
}

/// What the region needs: its header and index (lesson 13), then every structure, each
/// cache-line aligned. Lesson 07's `shmem_size` adds the slop and rounds to 8 kB.
pub fn region_parts(buffers: usize, wal_records: usize) -> Vec<ShmemPart> {
    let mut parts = vec![ShmemPart {
        name: "header and ShmemIndex".into(),
        size: Segment::minimum_size(INDEX_CAPACITY),
    }];
    parts.extend(
        structures(buffers, wal_records)
            .into_iter()
            .map(|part| ShmemPart {
                size: cache_line_align(part.size),
                ..part
            }),
    );
    parts
}
// ANCHOR_END: parts

/// One process's view of the shared structures: where each one is, in this process.
pub struct Pool<'a> {
    pub shmem: Shmem<'a>,
    pub buffers: usize,
    descriptors: usize,
    blocks: usize,
    locks: usize,
    wal_ctl: usize,
    wal: usize,
    lock_table: usize,
}

// ANCHOR: attach
/// What `init_struct` answered for one structure: its name, its offset, whether it was found.
pub type Found = (String, usize, bool);

impl<'a> Pool<'a> {
    /// Finds every structure by name, creating and initializing those not found yet
    /// (`CreateSharedMemoryAndSemaphores`: in the postmaster, all are created; in a child,
    /// all are found). Returns the view and, for each structure, whether it was found.
    pub fn attach(
        shmem: Shmem<'a>,
        buffers: usize,
        wal_records: usize,
    ) -> Result<(Pool<'a>, Vec<Found>)> {
        let mut found = Vec::new();
        for part in structures(buffers, wal_records) {
            let (offset, was_there) = init_struct(&shmem, &part.name, part.size)?;
            found.push((part.name, offset, was_there));
        }
        let at = |i: usize| found[i].1;
        let pool = Pool {
            shmem,
            buffers,
            descriptors: at(0),
            blocks: at(1),
            locks: at(2),
            wal_ctl: at(3),
            wal: at(4),
            lock_table: at(5),
        };
        // New memory is zeroed: only what must not start at zero is set here.
        if !found[0].2 {
            for buffer in 0..buffers {
                // SAFETY: the descriptors were just allocated (zeroed, 64-aligned, room for
                // `buffers`), and nobody else knows of them yet.
                unsafe { (*pool.descriptor_ptr(buffer)).block = buffer as u32 };
            }
        }
        if !found[2].2 {
            for buffer in 0..buffers {
                // SAFETY: zeroed, cache-line aligned room for `buffers` locks, unused yet.
                unsafe { LwLock::init(pool.lock_ptr(buffer))? };
            }
        }
        if !found[3].2 {
            // SAFETY: as above, for "XLOG Ctl".
            unsafe {
                let ctl = pool.wal_ctl_ptr();
                (*ctl).capacity = (wal_records * RECORD_SIZE) as u64;
                LwLock::init(&raw mut (*ctl).write_lock)?;
            }
        }
        Ok((pool, found))
    }
}
// ANCHOR_END: attach

impl<'a> Pool<'a> {
    fn descriptor_ptr(&self, buffer: usize) -> *mut BufferDesc {
        assert!(buffer < self.buffers, "buffer {buffer} does not exist");
        // SAFETY: inside "Buffer Descriptors" (checked above).
        unsafe {
            self.shmem
                .ptr(self.descriptors)
                .cast::<BufferDesc>()
                .add(buffer)
        }
    }

    fn lock_ptr(&self, buffer: usize) -> *mut LwLock {
        assert!(buffer < self.buffers, "buffer {buffer} does not exist");
        // SAFETY: inside "Buffer Content Locks" (checked above).
        unsafe { self.shmem.ptr(self.locks).cast::<LwLock>().add(buffer) }
    }

    fn wal_ctl_ptr(&self) -> *mut WalCtl {
        self.shmem.ptr(self.wal_ctl).cast()
    }

    fn record_ptr(&self, at: u64) -> *mut WalRecord {
        assert!(at + RECORD_SIZE as u64 <= self.wal_ctl().capacity);
        self.shmem.ptr(self.wal + at as usize).cast()
    }

    /// Buffer `buffer`'s descriptor. Its `block` is written before fork only; `flags` is
    /// an atomic: a shared reference is fine.
    pub fn descriptor(&self, buffer: usize) -> &BufferDesc {
        // SAFETY: see above; the region outlives 'a.
        unsafe { &*self.descriptor_ptr(buffer) }
    }

    /// Buffer `buffer`'s page. Read or write it only while holding [`Pool::page_lock`]
    /// (shared to read, exclusive to write), and only through the raw pointer.
    pub fn page(&self, buffer: usize) -> *mut Page {
        assert!(buffer < self.buffers, "buffer {buffer} does not exist");
        self.shmem.ptr(self.blocks + buffer * BLOCK_SIZE).cast()
    }

    /// The LWLock that guards buffer `buffer`'s page (PostgreSQL's `content_lock`).
    pub fn page_lock(&self, buffer: usize) -> &LwLock {
        // SAFETY: initialized in place by `attach` before any process could use it; it is
        // only atomics and semaphores, meant to be shared.
        unsafe { &*self.lock_ptr(buffer) }
    }

    /// "XLOG Ctl": atomics, a lock, and a capacity written before fork.
    pub fn wal_ctl(&self) -> &WalCtl {
        // SAFETY: inside the region, cache-line aligned, initialized by `attach`.
        unsafe { &*self.wal_ctl_ptr() }
    }

    /// The lock table: only atomics.
    pub fn lock_table(&self) -> &LockTable {
        // SAFETY: as for wal_ctl.
        unsafe { &*self.shmem.ptr(self.lock_table).cast::<LockTable>() }
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
        ctl.write_lock.acquire(Mode::Exclusive);
        let written = self.write_wal(upto, files);
        ctl.write_lock.release(Mode::Exclusive);
        written
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

    /// Every completely copied record from byte `from` on, up to the first gap.
    pub fn wal_records(&self, from: u64) -> Vec<WalRecord> {
        let inserted = self.wal_ctl().insert.load(Ordering::Acquire);
        let inserted = inserted.min(self.wal_ctl().capacity);
        (from..inserted)
            .step_by(RECORD_SIZE)
            .map_while(|at| self.wal_record(at))
            .collect()
    }

    // ANCHOR: write_page
    /// `FlushBuffer`: if buffer `buffer` is dirty, writes its page to the table's file,
    /// WAL first (the WAL is flushed up to the page's LSN before the page is written), all
    /// while holding the page's lock shared, so that nobody changes it meanwhile and two
    /// writers can only write the same version. Returns whether it wrote.
    pub fn write_page(&self, buffer: usize, files: &DataFiles) -> Result<bool> {
        let desc = self.descriptor(buffer);
        if desc.flags.load(Ordering::Acquire) & DIRTY == 0 {
            return Ok(false);
        }
        let lock = self.page_lock(buffer);
        lock.acquire(Mode::Shared);
        let written = (|| {
            // SAFETY: we hold the page's lock: nobody writes the page while we copy it.
            let (lsn, copy) = unsafe {
                let bytes = std::slice::from_raw_parts(self.page(buffer).cast::<u8>(), BLOCK_SIZE);
                ((*self.page(buffer)).lsn, bytes.to_vec())
            };
            self.flush_wal(lsn, files)?;
            desc.flags.fetch_and(!DIRTY, Ordering::AcqRel);
            files.write_page(desc.block, &copy)
        })();
        lock.release(Mode::Shared);
        written.map(|()| true)
    }
    // ANCHOR_END: write_page

    // ANCHOR: lock_table
    /// Takes a lock on `relation` in the lock table (`LockAcquire`, with one mode only,
    /// that never conflicts: `RowExclusiveLock`, as every UPDATE takes).
    pub fn lock_relation(&self, relation: u32) -> Result<()> {
        let slots = &self.lock_table().slots;
        for probe in 0..LOCK_SLOTS {
            let slot = &slots[(relation as usize + probe) % LOCK_SLOTS];
            let owner = match slot.relation.compare_exchange(
                0,
                relation,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => relation,
                Err(now) => now,
            };
            if owner == relation {
                slot.held.fetch_add(1, Ordering::AcqRel);
                slot.granted.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
        Err(Error::Failed(
            "out of shared memory: the lock table is full".into(),
        ))
    }

    /// Gives the lock back (`LockRelease`).
    pub fn unlock_relation(&self, relation: u32) {
        if let Some(slot) = self.lock_slot(relation) {
            slot.held.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The lock table's slot for `relation`, if it has one.
    pub fn lock_slot(&self, relation: u32) -> Option<&LockSlot> {
        let slots = &self.lock_table().slots;
        (0..LOCK_SLOTS)
            .map(|probe| &slots[(relation as usize + probe) % LOCK_SLOTS])
            .find(|slot| slot.relation.load(Ordering::Acquire) == relation)
    }
    // ANCHOR_END: lock_table
}

// ANCHOR: workload
/// Updates a backend makes.
pub const UPDATES_PER_BACKEND: usize = 100;

/// WAL records between two checkpoints. PostgreSQL's `max_wal_size` is a size (1 GB by
/// default); it turns it into a number of WAL segments (`CheckPointSegments`) and asks for a
/// checkpoint when that many have filled since the last redo point.
pub const CHECKPOINT_RECORDS: u64 = 128;

/// Whether the record ending at `lsn` crossed a checkpoint distance: its backend then asks
/// the checkpointer for a checkpoint (`XLogCheckpointNeeded`). One record in the whole WAL
/// crosses each distance, so the number of requests depends on the workload only.
pub fn checkpoint_due(lsn: u64) -> bool {
    let distance = CHECKPOINT_RECORDS * RECORD_SIZE as u64;
    (lsn - RECORD_SIZE as u64) / distance != lsn / distance
}

/// Backend `backend`'s `i`-th update: which buffer and which row. Deterministic, so that
/// the postmaster can say what the table must hold without looking into shared memory.
pub fn target(backend: usize, i: usize, buffers: usize) -> (usize, usize) {
    (
        (backend * 5 + i * 3) % buffers,
        (backend + i * 7) % ROWS_PER_PAGE,
    )
}
// ANCHOR_END: workload

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_what_the_chapter_says() {
        assert_eq!(size_of::<BufferDesc>(), 64);
        assert_eq!(size_of::<Page>(), 8 + 8 * ROWS_PER_PAGE);
        assert_eq!(RECORD_SIZE, 16);
        assert_eq!(size_of::<LockTable>(), 16 * LOCK_SLOTS);
    }

    #[test]
    fn every_part_is_whole_cache_lines() {
        let parts = region_parts(16, 400);
        assert!(parts.iter().all(|p| p.size % 128 == 0));
        assert_eq!(parts[2].size, 16 * 8192);
    }
}
