//! Lesson 13's exercise: `init_struct`, the find-or-create of PostgreSQL's `ShmemInitStruct`.
//!
//! Write `init_struct`, then run `cargo course check 13` until it is green. `cargo course
//! hint 13` gives hints, one level at a time; src/solution.rs has an answer.

#[allow(unused_imports)] // you will need these
use crate::{IndexEntry, Shmem, ShmemError, encode_name};

/// Finds the structure called `name` in the region's index, or creates it, and returns
/// `(offset, found)`: its offset from the region's base, and whether it was already there.
///
/// - Found with the same `size`: its offset, `found = true`. With another size:
///   `ShmemError::SizeMismatch` (`expected` is the size asked for, `actual` the stored one).
/// - Not found: allocate `size` bytes with `shmem.alloc` (cache-line aligned), add an entry
///   `{name, offset, size, allocated_size}` with the guard's `insert`; `found = false`.
/// - Any process may call this at any time; only one may ever be told `found = false` for
///   a name. The index is reached through `shmem.lock_index()?`: a guard holding its lock.
/// - Errors: a bad name (`encode_name`), `ShmemError::IndexFull` (check `is_full()` *before*
///   allocating), and `alloc`'s, passed on as `.map_err(|err| err.for_structure(name))`.
pub fn init_struct(shmem: &Shmem, name: &str, size: usize) -> Result<(usize, bool), ShmemError> {
    let _ = (shmem, name, size);
    todo!("write init_struct in src/exercise.rs: find the name in the index, or create it")
}
