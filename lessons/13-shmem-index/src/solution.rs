//! Lesson 13's exercise, solved: `init_struct`, PostgreSQL's `ShmemInitStruct`.

use crate::{IndexEntry, Shmem, ShmemError, encode_name};

// ANCHOR: solution
/// Finds the structure called `name`, or creates it: `(offset, found)`.
pub fn init_struct(shmem: &Shmem, name: &str, size: usize) -> Result<(usize, bool), ShmemError> {
    let key = encode_name(name)?;
    // One critical section from the look-up to the insert: a process that looked and found
    // nothing must not let another look before its entry is in. So one guard, held until
    // the function returns, on every path.
    let mut index = shmem.lock_index()?;
    if let Some(entry) = index.lookup(&key) {
        if entry.size as usize != size {
            return Err(ShmemError::SizeMismatch {
                name: name.into(),
                expected: size,
                actual: entry.size as usize,
            });
        }
        return Ok((entry.offset as usize, true));
    }
    if index.is_full() {
        return Err(ShmemError::IndexFull {
            name: name.into(),
            capacity: shmem.index_capacity(),
        });
    }
    let allocation = shmem.alloc(size).map_err(|err| err.for_structure(name))?;
    index.insert(IndexEntry {
        name: key,
        offset: allocation.offset as u64,
        size: size as u64,
        allocated_size: allocation.allocated_size as u64,
    });
    Ok((allocation.offset, false))
}
// ANCHOR_END: solution
