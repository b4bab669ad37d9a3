//! One value in shared memory, for racing processes to fight over.
//!
//! A race needs memory that every racer sees: a `MAP_SHARED` mapping made before fork, so
//! that every child inherits it at the same address (lesson 03). The mapping starts zeroed,
//! which is why `T` must be plain data for which all-zero bytes are a valid value.

use std::marker::PhantomData;

use common::Result;
use l01_mmap::{Mapping, PG_MMAP_FLAGS};
use nix::sys::mman::ProtFlags;

// ANCHOR: shared
/// One `T` in shared memory, all bytes zero to start with. `T` must be plain data for which
/// all-zero bytes are a valid value (integers, atomics, arrays and `#[repr(C)]` structs of
/// them) and must hold no pointers (lesson 04).
pub struct Shared<T> {
    mapping: Mapping,
    _type: PhantomData<T>,
}

impl<T> Shared<T> {
    pub fn new() -> Result<Shared<T>> {
        let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        let mapping = Mapping::anonymous(size_of::<T>().max(1), rw, PG_MMAP_FLAGS)?;
        Ok(Shared {
            mapping,
            _type: PhantomData,
        })
    }

    /// The value's address: the same in every process forked after [`Shared::new`], and
    /// aligned for any `T` (mappings start on a page boundary).
    pub fn as_ptr(&self) -> *mut T {
        self.mapping.as_ptr().cast()
    }
}
// ANCHOR_END: shared
