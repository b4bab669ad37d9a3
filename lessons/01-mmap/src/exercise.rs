//! Lesson 01's exercise: whole pages, and a guard page after them.
//!
//! Fill in the two functions, then run `cargo course check 01` until it is green. `cargo
//! course hint 01` gives hints, one level at a time; src/solution.rs has an answer.

use common::Result;

#[allow(unused_imports)] // you will need these
use crate::{Mapping, PG_MMAP_FLAGS, page_size};
#[allow(unused_imports)]
use nix::sys::mman::ProtFlags;

/// `len` rounded up to a whole number of pages of `page_size` bytes (a power of two), or
/// `None` if that number does not fit in a `usize`.
pub fn round_up_to_pages(len: usize, page_size: usize) -> Option<usize> {
    let _ = (len, page_size);
    todo!("round len up to a multiple of page_size; None on overflow")
}

/// Maps `len` bytes, rounded up to whole pages, readable and writable and shared like
/// `PG_MMAP_FLAGS`, followed by one guard page that nobody may read or write, so that a
/// run past the end faults at once instead of scribbling on whatever lies beyond.
pub fn map_with_guard_page(len: usize) -> Result<Mapping> {
    let _ = len;
    todo!("map the rounded length plus one page, then mprotect the last page PROT_NONE")
}
