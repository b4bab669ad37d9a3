//! The bump allocator: PostgreSQL's `ShmemAllocRaw`, under `ShmemLock`.
//!
//! Any process may allocate, so the free offset is read and moved under a spinlock, for a
//! load, a compare and a store: what lesson 09's spinlock is for. Nothing is ever freed.
//! PostgreSQL sizes the region before mapping it and allocates at start-up, so memory
//! never fragments, and an offset handed out once stays valid for the life of the server.

use std::ptr::addr_of;

use l08_races::{Guard, ProcessLock};

use crate::{RegionLock, Shmem, ShmemError, cache_line_align};

/// What [`Shmem::alloc`] gave: where, and how much (the size rounded up to cache lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    pub offset: usize,
    pub allocated_size: usize,
}

// ANCHOR: alloc
impl<'a> Shmem<'a> {
    /// Takes `ShmemLock`, which guards the free offset; dropping the guard releases it.
    /// (The exercise's checks hold it to stop a process in the middle of an allocation.)
    #[track_caller]
    pub fn lock_allocator(&self) -> Result<Guard<'a, RegionLock>, ShmemError> {
        // SAFETY: the lock lives in the region's header for 'a, and is only used atomically.
        let lock: &'a RegionLock = unsafe { &*addr_of!((*self.header()).shmem_lock) };
        lock.lock().map_err(|stuck| ShmemError::Stuck {
            lock: "ShmemLock",
            why: stuck.to_string(),
        })
    }
}

impl Shmem<'_> {
    /// `ShmemAllocRaw`: the next `size` bytes, rounded up to whole cache lines, from the free
    /// offset, which only ever grows: nothing is freed. Under `ShmemLock`, because any process
    /// may allocate; the critical section is a load, a compare and a store.
    pub fn alloc(&self, size: usize) -> Result<Allocation, ShmemError> {
        let allocated_size = cache_line_align(size.max(1));
        let header = self.header();
        let held = self.lock_allocator()?;
        // SAFETY: free_offset and total_size are read and written under ShmemLock only.
        let (start, total) = unsafe { ((*header).free_offset, (*header).total_size) };
        let fits = start + allocated_size as u64 <= total;
        if fits {
            // SAFETY: as above.
            unsafe { (*header).free_offset = start + allocated_size as u64 };
        }
        drop(held);
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
}
// ANCHOR_END: alloc

impl Shmem<'_> {
    /// The free offset, read under `ShmemLock`. A lock stuck for minutes is a panic here,
    /// as it is a PANIC in PostgreSQL.
    pub fn free_offset(&self) -> usize {
        let _held = self
            .lock_allocator()
            .unwrap_or_else(|stuck| panic!("{stuck}"));
        // SAFETY: read under ShmemLock.
        unsafe { (*self.header()).free_offset as usize }
    }
}

#[cfg(test)]
mod tests {
    use crate::Segment;

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
}
