//! Lesson 13's exercise: `init_struct`, the find-or-create of PostgreSQL's `ShmemInitStruct`.
//!
//! Write `init_struct`, then run `cargo exercise l13-shmem-index` until it is green.
//! The chapter (book/src/13-shmem-index.md, "Exercise") has hints; src/solution.rs has an
//! answer.

#[allow(unused_imports)] // you will need these
use crate::{IndexEntry, ProcessLock, Shmem, ShmemError, encode_name};

/// Finds the structure called `name` in the region's index, or creates it, and returns
/// `(offset, found)`: its offset from the region's base, and whether it was already there.
///
/// - Found with the same `size`: its offset, `found = true`. With another size:
///   `ShmemError::SizeMismatch` (`expected` is the size asked for, `actual` the stored one).
/// - Not found: allocate `size` bytes with `shmem.alloc` (cache-line aligned), add an entry
///   `{name, offset, size, allocated_size}` with `shmem.insert`; `found = false`.
/// - Any process may call this at any time: look up and insert under `shmem.index_lock()`.
/// - Errors: a bad name (`encode_name` says), `ShmemError::IndexFull` (check
///   `shmem.index_is_full()` *before* allocating), and `alloc`'s `OutOfMemory` passed on
///   with `.map_err(|err| err.for_structure(name))`, so that the message names the structure.
pub fn init_struct(shmem: &Shmem, name: &str, size: usize) -> Result<(usize, bool), ShmemError> {
    let _ = (shmem, name, size);
    todo!("write init_struct in src/exercise.rs: find the name in the index, or create it")
}
