//! What lies where in a region: the header at offset 0, the index, its entries.
//!
//! Every process, whatever address it maps the region at, must read the same bytes the
//! same way: so `#[repr(C)]`, a magic number, sizes fixed at compile time, and no pointers,
//! only offsets from the region's base (lesson 04). Alignment is PostgreSQL's: every
//! allocation starts on a cache line of its own.

use crate::RegionLock;

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
    pub shmem_lock: RegionLock,
    /// Bytes in the whole region (`totalsize`).
    pub total_size: u64,
    /// The first byte nobody has been given yet (`freeoffset`). Only grows.
    pub free_offset: u64,
    /// Where the [`IndexHeader`] starts, in bytes from the base (PostgreSQL: `index`).
    pub index_offset: u64,
    /// `ShmemIndexLock`: guards the index's `used` count and its entries.
    pub index_lock: RegionLock,
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
}
