//! Lesson 13's exercise, solved: `init_struct`, PostgreSQL's `ShmemInitStruct`.

use crate::{IndexEntry, NAME_LEN, ProcessLock, Shmem, ShmemError, encode_name};

// ANCHOR: solution
/// Finds the structure called `name`, or creates it: `(offset, found)`.
pub fn init_struct(shmem: &Shmem, name: &str, size: usize) -> Result<(usize, bool), ShmemError> {
    let key = encode_name(name)?;
    // One critical section from the lookup to the insert: a process that looked and found
    // nothing must not let another look before its entry is in.
    let lock = shmem.index_lock();
    crate::SpinLock::acquire(&lock).unwrap_or_else(|stuck| panic!("{stuck}")); // INTERIM
    let outcome = find_or_create(shmem, name, &key, size);
    ProcessLock::release(&lock); // INTERIM
    outcome
}

fn find_or_create(
    shmem: &Shmem,
    name: &str,
    key: &[u8; NAME_LEN],
    size: usize,
) -> Result<(usize, bool), ShmemError> {
    // SAFETY: we hold the index lock (so for the two calls below too).
    if let Some(entry) = unsafe { shmem.lookup(key) } {
        if entry.size as usize != size {
            return Err(ShmemError::SizeMismatch {
                name: name.into(),
                expected: size,
                actual: entry.size as usize,
            });
        }
        return Ok((entry.offset as usize, true));
    }
    // SAFETY: we hold the index lock.
    if unsafe { shmem.index_is_full() } {
        return Err(ShmemError::IndexFull {
            name: name.into(),
            capacity: shmem.index_capacity(),
        });
    }
    let allocation = shmem.alloc(size).map_err(|err| err.for_structure(name))?;
    // SAFETY: we hold the index lock.
    unsafe {
        shmem.insert(IndexEntry {
            name: *key,
            offset: allocation.offset as u64,
            size: size as u64,
            allocated_size: allocation.allocated_size as u64,
        })
    };
    Ok((allocation.offset, false))
}
// ANCHOR_END: solution
