//! A view of a region: its base address, and every location in it as an offset from there.
//!
//! `Shmem` holds nothing but the base, so it is as cheap to copy as a pointer, and the same
//! bytes at another base are the same region (the lesson's step 4 reads a copy). What it
//! offers is split by concept: the allocator (`allocator.rs`), the index (`index.rs`) and
//! the listing (`allocations.rs`); this file has the base, the header and the offsets.

use std::marker::PhantomData;
use std::ptr::NonNull;

use common::{Error, Result};

use crate::{Header, MAGIC};

// ANCHOR: shmem
/// A view of a region: its base address and nothing else. Every location in the region is
/// an offset from `base`, so the same bytes at another base are the same region.
#[derive(Debug, Clone, Copy)]
pub struct Shmem<'a> {
    base: NonNull<u8>,
    _memory: PhantomData<&'a [u8]>,
}

impl<'a> Shmem<'a> {
    /// The region that [`Segment::create`](crate::Segment::create) has just laid out at
    /// `base`: trusted, not checked.
    pub(crate) fn laid_out_at(base: NonNull<u8>) -> Shmem<'a> {
        Shmem {
            base,
            _memory: PhantomData,
        }
    }

    /// A region laid out by [`Segment::create`](crate::Segment::create) whose bytes are at
    /// `base`, in this mapping or anywhere else (a copy, another mapping of the same
    /// memory): checks the magic and that the header's size fits in `len` before trusting
    /// anything else.
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
        Ok(Shmem::laid_out_at(base))
    }

    /// The region's first byte, in this process.
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// The header at offset 0. Its fields say which lock, if any, guards them.
    pub(crate) fn header(&self) -> *mut Header {
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
    // ANCHOR_END: shmem

    /// Bytes in the whole region.
    pub fn total_size(&self) -> usize {
        // SAFETY: written before fork, read-only since.
        unsafe { (*self.header()).total_size as usize }
    }
}
