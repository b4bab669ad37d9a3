//! Lesson 13: one shared region, and structures in it found by name.
//!
//! PostgreSQL's postmaster makes one big shared region before it forks anything, and dozens
//! of subsystems (buffers, WAL, locks, extensions) carve their structures out of it. Every
//! process must then find the *same* structure for the same subsystem. The answer, in
//! `shmem.c`, has three parts, and so does this file:
//! 1. a [`Header`] at offset 0 (magic, total size, the free offset, where the index is);
//! 2. [`Shmem::alloc`], a bump allocator: hand out the next cache line(s) from the free
//!    offset, under a spinlock (lesson 09's, PostgreSQL's `ShmemLock`); never free;
//! 3. an index in the region itself, a table of `{name, offset, size, allocated_size}`
//!    entries under a second spinlock, so that any process can look a structure up by name
//!    (`init_struct`, PostgreSQL's `ShmemInitStruct`: the exercise).
//!
//! Nothing in the region is a pointer: every location is an offset from the base, so the
//! region means the same thing at any address (lesson 04).

use std::marker::PhantomData;
use std::ptr::{NonNull, addr_of};

use common::{Error, Result};
use l01_mmap::{Mapping, PG_MMAP_FLAGS};
use l09_spinlock::{Backoff, LockWord, SpinLock};
use nix::sys::mman::ProtFlags;

pub use l08_races::{ProcessLock, race, usable_cpus};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

pub use exercise::init_struct;

// ANCHOR: layout
/// PostgreSQL's `PG_CACHE_LINE_SIZE`: every allocation starts on a multiple of it, so two
/// structures never share a cache line (128: large enough for every CPU PostgreSQL runs on).
pub const CACHE_LINE: usize = 128;

/// `CACHELINEALIGN`: `size` rounded up to a whole number of cache lines.
pub const fn cache_line_align(size: usize) -> usize {
    size.next_multiple_of(CACHE_LINE)
}

/// Identifies our regions (PostgreSQL's segments carry `PGShmemMagic`, 679834894).
pub const MAGIC: u32 = 0x5348_4d13;

/// Bytes in an index entry's name, NUL padding included: PostgreSQL's `SHMEM_INDEX_KEYSIZE`.
/// A name may use all but the last byte.
pub const NAME_LEN: usize = 48;

/// Offset 0 of every region. Written once, before fork; after that, `free_offset` changes
/// under `shmem_lock` only, and everything else is read-only.
#[repr(C)]
pub struct Header {
    /// Always [`MAGIC`].
    pub magic: u32,
    /// `ShmemLock`: guards `free_offset`. Held for a few instructions only.
    pub shmem_lock: LockWord,
    /// Bytes in the whole region (`totalsize`).
    pub total_size: u64,
    /// The first byte nobody has been given yet (`freeoffset`). Only grows.
    pub free_offset: u64,
    /// Where the [`IndexHeader`] starts, in bytes from the base (PostgreSQL: `index`).
    pub index_offset: u64,
    /// `ShmemIndexLock`: guards the index's `used` count and its entries.
    pub index_lock: LockWord,
}

/// The index: this header, then `capacity` entries. Entries `0..used` are in use.
#[repr(C)]
pub struct IndexHeader {
    pub capacity: u64,
    pub used: u64,
}

/// One named structure (PostgreSQL's `ShmemIndexEnt`). Plain bytes and numbers, no pointer.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// The name, NUL-padded to [`NAME_LEN`] bytes.
    pub name: [u8; NAME_LEN],
    /// Where the structure starts, from the region's base.
    pub offset: u64,
    /// What was asked for.
    pub size: u64,
    /// What was given: `size` rounded up to whole cache lines.
    pub allocated_size: u64,
}
// ANCHOR_END: layout

/// What can go wrong in a region, each said the way PostgreSQL says it where it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShmemError {
    /// The allocator has fewer bytes left than a request needs.
    OutOfMemory {
        name: Option<String>,
        requested: usize,
        allocated: usize,
        left: usize,
        total: usize,
    },
    /// A name already in the index was asked for with another size.
    SizeMismatch {
        name: String,
        expected: usize,
        actual: usize,
    },
    /// A name longer than an entry can hold.
    NameTooLong { name: String },
    /// An empty name, or one with a NUL byte inside.
    BadName { name: String },
    /// Every entry of the index is in use.
    IndexFull { name: String, capacity: usize },
}

impl std::fmt::Display for ShmemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShmemError::OutOfMemory {
                name,
                requested,
                allocated,
                left,
                total,
            } => {
                match name {
                    Some(name) => write!(
                        f,
                        "not enough shared memory for data structure \"{name}\" ({requested} bytes requested"
                    )?,
                    None => write!(f, "out of shared memory ({requested} bytes requested")?,
                }
                write!(
                    f,
                    ", {allocated} with alignment): {left} of {total} bytes left; make the region larger"
                )
            }
            ShmemError::SizeMismatch {
                name,
                expected,
                actual,
            } => write!(
                f,
                "ShmemIndex entry size is wrong for data structure \"{name}\": expected {expected}, \
                 actual {actual}"
            ),
            ShmemError::NameTooLong { name } => write!(
                f,
                "name \"{name}\" is {} bytes; an index entry holds at most {}",
                name.len(),
                NAME_LEN - 1
            ),
            ShmemError::BadName { name } => {
                write!(f, "name {name:?} is empty or holds a NUL byte")
            }
            ShmemError::IndexFull { name, capacity } => write!(
                f,
                "could not create ShmemIndex entry for data structure \"{name}\": all {capacity} \
                 entries are in use"
            ),
        }
    }
}

impl std::error::Error for ShmemError {}

impl ShmemError {
    /// The same error, naming the structure it was for (an `OutOfMemory` from `alloc`
    /// knows only a size): "not enough shared memory for data structure \"NAME\"".
    pub fn for_structure(self, structure: &str) -> ShmemError {
        match self {
            ShmemError::OutOfMemory {
                requested,
                allocated,
                left,
                total,
                ..
            } => ShmemError::OutOfMemory {
                name: Some(structure.into()),
                requested,
                allocated,
                left,
                total,
            },
            other => other,
        }
    }
}

impl From<ShmemError> for Error {
    fn from(err: ShmemError) -> Self {
        Error::Failed(err.to_string())
    }
}

/// A name as an index entry stores it: the bytes, then NULs up to [`NAME_LEN`].
pub fn encode_name(name: &str) -> Result<[u8; NAME_LEN], ShmemError> {
    if name.is_empty() || name.contains('\0') {
        return Err(ShmemError::BadName { name: name.into() });
    }
    if name.len() >= NAME_LEN {
        return Err(ShmemError::NameTooLong { name: name.into() });
    }
    let mut key = [0; NAME_LEN];
    key[..name.len()].copy_from_slice(name.as_bytes());
    Ok(key)
}

/// The name an entry stores, without its NUL padding.
pub fn decode_name(key: &[u8; NAME_LEN]) -> String {
    let end = key.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    String::from_utf8_lossy(&key[..end]).into_owned()
}

/// What [`Shmem::alloc`] gave: where, and how much (the size rounded up to cache lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    pub offset: usize,
    pub allocated_size: usize,
}

// ANCHOR: segment
/// The region's memory: one shared anonymous mapping, made before fork so that every child
/// inherits it (lesson 07's big mapping, without the interlock). Unmapped in `Drop`.
pub struct Segment {
    mapping: Mapping,
}

impl Segment {
    /// Maps `size` bytes and lays out a region in them: the header, then an index with room
    /// for `index_capacity` entries, allocated like any other structure (and so, as in
    /// PostgreSQL, not listed in itself). Call before fork.
    pub fn create(size: usize, index_capacity: usize) -> Result<Segment> {
        let need = Segment::minimum_size(index_capacity);
        if size < need {
            return Err(Error::Usage(format!(
                "a region of {size} bytes cannot hold its header and an index of \
                 {index_capacity} entries: it needs at least {need} bytes"
            )));
        }
        let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        let mapping = Mapping::anonymous(size, rw, PG_MMAP_FLAGS)?;
        let header = mapping.as_ptr().cast::<Header>();
        // SAFETY: the mapping is fresh (zeroed), page-aligned and at least `need` bytes, so
        // the header fits and is aligned. No other process exists yet to see it half done.
        unsafe {
            header.write(Header {
                magic: MAGIC,
                shmem_lock: LockWord { state: 0.into() },
                total_size: size as u64,
                // Like ShmemAllocUnlocked for the header, then aligned to a cache line.
                free_offset: cache_line_align(size_of::<Header>()) as u64,
                index_offset: 0,
                index_lock: LockWord { state: 0.into() },
            });
        }
        let segment = Segment { mapping };
        let shmem = segment.shmem();
        let index = shmem.alloc(Segment::index_size(index_capacity))?;
        // SAFETY: `index` lies inside the region (alloc checked it) and is cache-line
        // aligned; still no other process.
        unsafe {
            shmem
                .ptr(index.offset)
                .cast::<IndexHeader>()
                .write(IndexHeader {
                    capacity: index_capacity as u64,
                    used: 0,
                });
            (*header).index_offset = index.offset as u64;
        }
        Ok(segment)
    }

    /// Bytes for the header and an index of `capacity` entries, each cache-line aligned.
    pub fn minimum_size(capacity: usize) -> usize {
        cache_line_align(size_of::<Header>()) + cache_line_align(Segment::index_size(capacity))
    }

    fn index_size(capacity: usize) -> usize {
        size_of::<IndexHeader>() + capacity * size_of::<IndexEntry>()
    }

    /// The region in this mapping, for as long as the mapping lives.
    pub fn shmem(&self) -> Shmem<'_> {
        Shmem {
            base: NonNull::new(self.mapping.as_ptr()).expect("a mapping is never at 0"),
            _memory: PhantomData,
        }
    }
}
// ANCHOR_END: segment

/// A view of a region: its base address and nothing else. Every location in the region is
/// an offset from `base`, so the same bytes at another base are the same region.
#[derive(Debug, Clone, Copy)]
pub struct Shmem<'a> {
    base: NonNull<u8>,
    _memory: PhantomData<&'a [u8]>,
}

impl<'a> Shmem<'a> {
    /// A region laid out by [`Segment::create`] whose bytes are at `base`, in this mapping or
    /// anywhere else (a copy, another mapping of the same memory): checks the magic and
    /// that the header's size fits in `len` before trusting anything else.
    ///
    /// # Safety
    /// `base..base + len` must be readable and writable for `'a`, and aligned to a page.
    pub unsafe fn attach(base: NonNull<u8>, len: usize) -> Result<Shmem<'a>> {
        if len < size_of::<Header>() {
            return Err(Error::Failed(format!("{len} bytes cannot hold a header")));
        }
        let header = base.as_ptr().cast::<Header>();
        // SAFETY: in bounds (checked) and aligned (the caller's promise); the magic and the
        // size are written once, before fork, and never change.
        let (magic, total) = unsafe { ((*header).magic, (*header).total_size) };
        if magic != MAGIC {
            return Err(Error::Failed(format!(
                "magic {magic:#x}, not {MAGIC:#x}: not one of our regions"
            )));
        }
        if total as usize > len {
            return Err(Error::Failed(format!(
                "the header says {total} bytes, only {len} are there"
            )));
        }
        Ok(Shmem {
            base,
            _memory: PhantomData,
        })
    }

    /// The region's first byte, in this process.
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    fn header(&self) -> *mut Header {
        self.base.as_ptr().cast()
    }

    /// The byte at `offset`: base + offset, the only way anything in the region is reached.
    /// Panics if `offset` lies outside the region.
    pub fn ptr(&self, offset: usize) -> *mut u8 {
        assert!(
            offset <= self.total_size(),
            "offset {offset} is outside the region"
        );
        // SAFETY: within the region (checked above), which is one allocation.
        unsafe { self.base.as_ptr().add(offset) }
    }

    /// Bytes in the whole region.
    pub fn total_size(&self) -> usize {
        // SAFETY: written before fork, read-only since.
        unsafe { (*self.header()).total_size as usize }
    }

    /// The allocator's lock, PostgreSQL's `ShmemLock`.
    pub fn shmem_lock(&self) -> SpinLock<'a> {
        // SAFETY: the lock word lives in the region for 'a and is only used atomically.
        let word = unsafe { &*addr_of!((*self.header()).shmem_lock) };
        SpinLock {
            word,
            backoff: Backoff::POSTGRES,
        }
    }

    /// The index's lock, PostgreSQL's `ShmemIndexLock`.
    pub fn index_lock(&self) -> SpinLock<'a> {
        // SAFETY: as for shmem_lock.
        let word = unsafe { &*addr_of!((*self.header()).index_lock) };
        SpinLock {
            word,
            backoff: Backoff::POSTGRES,
        }
    }

    // ANCHOR: alloc
    /// `ShmemAllocRaw`: the next `size` bytes, rounded up to whole cache lines, from the free
    /// offset, which only ever grows: nothing is freed. Under `ShmemLock`, because any process
    /// may allocate; the critical section is a load, a compare and a store.
    pub fn alloc(&self, size: usize) -> Result<Allocation, ShmemError> {
        let allocated_size = cache_line_align(size.max(1));
        let header = self.header();
        let lock = self.shmem_lock();
        SpinLock::acquire(&lock).unwrap_or_else(|stuck| panic!("{stuck}")); // INTERIM
        // SAFETY: free_offset and total_size are read and written under ShmemLock only.
        let (start, total) = unsafe { ((*header).free_offset, (*header).total_size) };
        let fits = start + allocated_size as u64 <= total;
        if fits {
            // SAFETY: as above.
            unsafe { (*header).free_offset = start + allocated_size as u64 };
        }
        ProcessLock::release(&lock); // INTERIM
        if !fits {
            return Err(ShmemError::OutOfMemory {
                name: None,
                requested: size,
                allocated: allocated_size,
                left: (total - start) as usize,
                total: total as usize,
            });
        }
        Ok(Allocation {
            offset: start as usize,
            allocated_size,
        })
    }
    // ANCHOR_END: alloc

    /// The free offset, read under `ShmemLock`.
    pub fn free_offset(&self) -> usize {
        let lock = self.shmem_lock();
        SpinLock::acquire(&lock).unwrap_or_else(|stuck| panic!("{stuck}")); // INTERIM
        // SAFETY: read under ShmemLock.
        let free = unsafe { (*self.header()).free_offset };
        ProcessLock::release(&lock); // INTERIM
        free as usize
    }

    fn index(&self) -> *mut IndexHeader {
        // SAFETY: index_offset is written before fork, read-only since.
        let offset = unsafe { (*self.header()).index_offset } as usize;
        self.ptr(offset).cast()
    }

    fn entry(&self, slot: usize) -> *mut IndexEntry {
        // SAFETY: slot < capacity (the callers' loops), so the entry lies in the index's
        // allocation; entries are 8-aligned after a 16-byte header at a cache-line boundary.
        unsafe { self.index().add(1).cast::<IndexEntry>().add(slot) }
    }

    // ANCHOR: index_ops
    /// The entry named `key`, if the index has one.
    ///
    /// # Safety
    /// The caller holds [`Shmem::index_lock`]: nobody may change the index meanwhile.
    pub unsafe fn lookup(&self, key: &[u8; NAME_LEN]) -> Option<IndexEntry> {
        // SAFETY: under the index lock (the caller's promise) entries 0..used are whole.
        let used = unsafe { (*self.index()).used } as usize;
        (0..used)
            // SAFETY: as above.
            .map(|slot| unsafe { self.entry(slot).read() })
            .find(|entry| entry.name == *key)
    }

    /// Whether every entry is in use (check before allocating, so that a full index does
    /// not leave an allocation nobody can find).
    ///
    /// # Safety
    /// As for [`Shmem::lookup`].
    pub unsafe fn index_is_full(&self) -> bool {
        // SAFETY: under the index lock (the caller's promise).
        let index = unsafe { self.index().read() };
        index.used >= index.capacity
    }

    /// Adds `entry` after the last one: writes the entry first, then counts it.
    ///
    /// # Safety
    /// As for [`Shmem::lookup`]; and the index is not full.
    pub unsafe fn insert(&self, entry: IndexEntry) {
        let index = self.index();
        // SAFETY: under the index lock; not full (the caller's promises), so slot `used`
        // is a free entry inside the index's allocation.
        unsafe {
            let used = (*index).used as usize;
            assert!(used < (*index).capacity as usize, "the index is full");
            self.entry(used).write(entry);
            (*index).used = used as u64 + 1;
        }
    }
    // ANCHOR_END: index_ops

    /// How many entries the index can hold.
    pub fn index_capacity(&self) -> usize {
        // SAFETY: written before fork, read-only since.
        unsafe { (*self.index()).capacity as usize }
    }

    /// Every entry, copied out under the index lock (in the order they were made).
    pub fn entries(&self) -> Vec<IndexEntry> {
        let lock = self.index_lock();
        SpinLock::acquire(&lock).unwrap_or_else(|stuck| panic!("{stuck}")); // INTERIM
        // SAFETY: under the index lock.
        let used = unsafe { (*self.index()).used } as usize;
        // SAFETY: as above.
        let entries = (0..used)
            .map(|slot| unsafe { self.entry(slot).read() })
            .collect();
        ProcessLock::release(&lock); // INTERIM
        entries
    }

    /// Looks a structure up by name without creating it: under the index lock.
    pub fn find(&self, name: &str) -> Result<Option<IndexEntry>, ShmemError> {
        let key = encode_name(name)?;
        let lock = self.index_lock();
        SpinLock::acquire(&lock).unwrap_or_else(|stuck| panic!("{stuck}")); // INTERIM
        // SAFETY: we hold the index lock.
        let found = unsafe { self.lookup(&key) };
        ProcessLock::release(&lock); // INTERIM
        Ok(found)
    }

    // ANCHOR: allocations
    /// The rows of PostgreSQL's `pg_shmem_allocations` view: each named structure; then
    /// `<anonymous>` (no offset: memory allocated outside the index, here the header and
    /// the index itself); then the unused rest, whose name is NULL (`None`).
    pub fn allocations(&self) -> Vec<Row> {
        let lock = self.index_lock();
        SpinLock::acquire(&lock).unwrap_or_else(|stuck| panic!("{stuck}")); // INTERIM
        // SAFETY: under the index lock.
        let used = unsafe { (*self.index()).used } as usize;
        let mut rows: Vec<Row> = (0..used)
            // SAFETY: as above.
            .map(|slot| unsafe { self.entry(slot).read() })
            .map(|entry| Row {
                name: Some(decode_name(&entry.name)),
                offset: Some(entry.offset as usize),
                size: entry.size as usize,
                allocated_size: entry.allocated_size as usize,
            })
            .collect();
        let free = self.free_offset(); // ShmemLock inside the index lock, as PostgreSQL nests them
        ProcessLock::release(&lock); // INTERIM
        let named: usize = rows.iter().map(|row| row.allocated_size).sum();
        let anonymous = free - named;
        rows.push(Row {
            name: Some("<anonymous>".into()),
            offset: None,
            size: anonymous,
            allocated_size: anonymous,
        });
        let unused = self.total_size() - free;
        rows.push(Row {
            name: None,
            offset: Some(free),
            size: unused,
            allocated_size: unused,
        });
        rows
    }
    // ANCHOR_END: allocations
}

/// One row of [`Shmem::allocations`]; `None` is SQL's NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub name: Option<String>,
    pub offset: Option<usize>,
    pub size: usize,
    pub allocated_size: usize,
}

/// `rows` as psql would print `SELECT name, off, size, allocated_size FROM
/// pg_shmem_allocations ORDER BY off`: a header, a rule, then one line per row, the NULL
/// offsets last (as `ORDER BY` puts them).
pub fn allocation_table(mut rows: Vec<Row>) -> Vec<String> {
    rows.sort_by_key(|row| row.offset.unwrap_or(usize::MAX));
    let mut lines = vec![
        format!(
            "{:<20} | {:>6} | {:>6} | {:>14}",
            "name", "off", "size", "allocated_size"
        ),
        format!("{:-<21}+{:-<8}+{:-<8}+{:-<15}", "", "", "", ""),
    ];
    for row in &rows {
        let offset = row.offset.map(|o| o.to_string()).unwrap_or_default();
        let name = row.name.as_deref().unwrap_or("");
        lines.push(format!(
            "{name:<20} | {offset:>6} | {:>6} | {:>14}",
            row.size, row.allocated_size
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_what_the_chapter_says() {
        assert_eq!(size_of::<Header>(), 40);
        assert_eq!(size_of::<IndexHeader>(), 16);
        assert_eq!(size_of::<IndexEntry>(), 72);
        assert_eq!(cache_line_align(1), 128);
        assert_eq!(cache_line_align(128), 128);
        assert_eq!(cache_line_align(129), 256);
    }

    #[test]
    fn names_are_nul_padded_and_checked() {
        let key = encode_name("XLOG Ctl").unwrap();
        assert_eq!(decode_name(&key), "XLOG Ctl");
        assert_eq!(key[8..], [0; NAME_LEN - 8]);
        assert!(encode_name(&"x".repeat(NAME_LEN - 1)).is_ok());
        assert!(matches!(
            encode_name(&"x".repeat(NAME_LEN)),
            Err(ShmemError::NameTooLong { .. })
        ));
        assert!(matches!(encode_name(""), Err(ShmemError::BadName { .. })));
    }

    #[test]
    fn alloc_bumps_by_cache_lines_and_says_what_is_left() {
        let segment = Segment::create(4096, 4).unwrap();
        let shmem = segment.shmem();
        let start = shmem.free_offset();
        assert_eq!(start, Segment::minimum_size(4));
        let a = shmem.alloc(1).unwrap();
        let b = shmem.alloc(200).unwrap();
        assert_eq!((a.offset, a.allocated_size), (start, 128));
        assert_eq!((b.offset, b.allocated_size), (start + 128, 256));
        let left = 4096 - shmem.free_offset();
        let err = shmem.alloc(left + 1).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("{left} of 4096 bytes left")),
            "{err}"
        );
        assert_eq!(
            shmem.free_offset(),
            4096 - left,
            "a failed alloc takes nothing"
        );
    }

    #[test]
    fn a_too_small_region_is_refused() {
        let err = Segment::create(100, 16).err().unwrap();
        assert!(err.to_string().contains("needs at least"), "{err}");
    }
}
