//! Lesson 01's exercise, solved: whole pages, and a guard page after them.

use common::{Error, Result};
use nix::sys::mman::ProtFlags;

use crate::{Mapping, PG_MMAP_FLAGS, page_size};

/// `len` rounded up to a whole number of pages of `page_size` bytes (a power of two), or
/// `None` if that number does not fit in a `usize`.
pub fn round_up_to_pages(len: usize, page_size: usize) -> Option<usize> {
    len.checked_next_multiple_of(page_size)
}

/// Maps `len` bytes, rounded up to whole pages, readable and writable and shared like
/// `PG_MMAP_FLAGS`, followed by one guard page that nobody may read or write, so that a
/// run past the end faults at once instead of scribbling on whatever lies beyond.
pub fn map_with_guard_page(len: usize) -> Result<Mapping> {
    let page = page_size();
    let usable = round_up_to_pages(len, page)
        .filter(|&usable| usable > 0)
        .ok_or_else(|| Error::Usage(format!("cannot map {len} bytes with a guard page")))?;
    let total = usable
        .checked_add(page)
        .ok_or_else(|| Error::Usage(format!("{len} bytes and a guard page overflow")))?;
    let mapping = Mapping::anonymous(
        total,
        ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
        PG_MMAP_FLAGS,
    )?;
    mapping.protect(usable, page, ProtFlags::PROT_NONE)?;
    Ok(mapping)
}
