//! The region's memory: one shared anonymous mapping, laid out before fork.
//!
//! The postmaster maps the whole region at once, before any child exists, and writes its
//! header and an empty index into it; every child then inherits the same memory (lesson
//! 07's big mapping, without the interlock). Nobody else can see the layout half done,
//! because nobody else exists yet.

use std::ptr::NonNull;

use common::{Error, Result};
use l01_mmap::{Mapping, PG_MMAP_FLAGS};
use nix::sys::mman::ProtFlags;

use crate::{Header, IndexEntry, IndexHeader, MAGIC, RegionLock, Shmem, cache_line_align};

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
                shmem_lock: RegionLock::free(),
                total_size: size as u64,
                // Like ShmemAllocUnlocked for the header, then aligned to a cache line.
                free_offset: cache_line_align(size_of::<Header>()) as u64,
                index_offset: 0,
                index_lock: RegionLock::free(),
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
        Shmem::laid_out_at(NonNull::new(self.mapping.as_ptr()).expect("a mapping is never at 0"))
    }
}
// ANCHOR_END: segment

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_too_small_region_is_refused() {
        let err = Segment::create(100, 16).err().unwrap();
        assert!(err.to_string().contains("needs at least"), "{err}");
    }
}
