//! Lesson 14: a mini postmaster, and the shared structures its children work in.
//!
//! Everything here is built on earlier lessons: the region is lesson 13's (a header, a
//! cache-line-aligned bump allocator, structures found by name with `init_struct`), the page
//! locks are lesson 11's LWLocks, the size is lesson 07's sum of parts. This file defines the
//! structures PostgreSQL's postmaster creates at start-up, in small:
//! - a buffer pool: "Buffer Descriptors" (one per buffer: which block, dirty or not) and
//!   "Buffer Blocks" (the 8 kB pages themselves), each page guarded by an LWLock;
//! - "XLOG Ctl", the WAL's control block, with the insert position as an atomic, and
//!   "WAL Buffers", where records are written before the WAL writer puts them in a file;
//! - a small "Lock table" where backends record the relation lock they hold.
//!
//! [`Pool`] is one process's view of them: offsets found by name, turned into pointers in
//! this process. [`update_row`] (the exercise) is what a backend does for each update.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use common::{Error, Result};
use l07_postgres_hybrid::ShmemPart;
use l11_lwlock::{LwLock, SharedLock};
use l13_shmem_index::{Segment, Shmem, cache_line_align, init_struct};

pub use l11_lwlock::Mode;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

pub use exercise::update_row;

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
/// PostgreSQL keeps the page's content lock in here; lesson 11's `LwLock` carries its own
/// process slots and lives in a mapping of its own, so [`Pool`] keeps one per buffer beside.
#[repr(C, align(64))]
pub struct BufferDesc {
    /// Which block of the relation the buffer holds (`tag`).
    pub block: u32,
    /// [`DIRTY`] once changed, until the background writer has written it out.
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
    /// Bytes written to the WAL file and fsynced (`LogwrtResult.Flush`).
    pub flushed: AtomicU64,
    /// Bytes in "WAL Buffers". Ours holds the whole workload; PostgreSQL's is a ring that
    /// is written out as it fills.
    pub capacity: u64,
}

/// One WAL record: "row `row` of block `block` is now `value`".
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalRecord {
    pub block: u32,
    pub row: u32,
    pub value: u64,
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
    wal_ctl: usize,
    wal: usize,
    lock_table: usize,
    locks: &'a [SharedLock<LwLock>],
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
        locks: &'a [SharedLock<LwLock>],
        wal_records: usize,
    ) -> Result<(Pool<'a>, Vec<Found>)> {
        let buffers = locks.len();
        let mut found = Vec::new();
        for part in structures(buffers, wal_records) {
            let (offset, was_there) = init_struct(&shmem, &part.name, part.size)?;
            found.push((part.name, offset, was_there));
        }
        let pool = Pool {
            shmem,
            buffers,
            descriptors: found[0].1,
            blocks: found[1].1,
            wal_ctl: found[2].1,
            wal: found[3].1,
            lock_table: found[4].1,
            locks,
        };
        if !found[0].2 {
            for buffer in 0..buffers {
                // SAFETY: the descriptors were just allocated (zeroed, 64-aligned, room for
                // `buffers`), and nobody else knows of them yet.
                unsafe { (*pool.descriptor_ptr(buffer)).block = buffer as u32 };
            }
        }
        if !found[2].2 {
            // SAFETY: as above, for "XLOG Ctl".
            unsafe { (*pool.wal_ctl_ptr()).capacity = (wal_records * RECORD_SIZE) as u64 };
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

    fn wal_ctl_ptr(&self) -> *mut WalCtl {
        self.shmem.ptr(self.wal_ctl).cast()
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
        &self.locks[buffer]
    }

    /// "XLOG Ctl": only atomics, and a capacity written before fork.
    pub fn wal_ctl(&self) -> &WalCtl {
        // SAFETY: inside the region, 8-aligned (cache-line aligned), live for 'a.
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
    /// copies the record there, and returns the record's end, its LSN.
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
        // SAFETY: start..end lies inside "WAL Buffers" (checked) and was reserved by us
        // alone (fetch_add); records are 8 bytes aligned, the buffer is cache-line aligned.
        unsafe {
            self.shmem
                .ptr(self.wal + start as usize)
                .cast::<WalRecord>()
                .write(record)
        };
        Ok(end)
    }
    // ANCHOR_END: insert

    /// The records in the WAL buffer from byte `from` to byte `to`.
    ///
    /// Only meaningful once every record below `to` is written (no backend is inserting).
    pub fn wal_records(&self, from: u64, to: u64) -> Vec<WalRecord> {
        assert!(to <= self.wal_ctl().capacity && from <= to);
        (from..to)
            .step_by(RECORD_SIZE)
            // SAFETY: inside "WAL Buffers" (asserted), complete (the caller's promise).
            .map(|at| unsafe {
                self.shmem
                    .ptr(self.wal + at as usize)
                    .cast::<WalRecord>()
                    .read()
            })
            .collect()
    }

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

/// `count` LWLocks, one per buffer, each in a shared mapping of its own (made before fork).
pub fn page_locks(count: usize) -> Result<Vec<SharedLock<LwLock>>> {
    (0..count).map(|_| LwLock::new_shared()).collect()
}

// ANCHOR: workload
/// Updates a backend makes.
pub const UPDATES_PER_BACKEND: usize = 100;

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
