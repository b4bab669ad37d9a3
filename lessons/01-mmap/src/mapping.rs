//! `Mapping`: memory from `mmap`, given back with `munmap` in `Drop`, on every path out.
//!
//! `mmap`, `mprotect` and `munmap` are wrapped here once for the whole course: later lessons
//! map files (02), share pages across `fork` (03) and lay out structures (04) through it.

use std::num::NonZeroUsize;
use std::ptr::NonNull;

use common::{Error, Result};
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, mprotect, munmap};

use crate::page_size;

// ANCHOR: mapping
/// One anonymous mapping: `len` bytes at `addr`, unmapped when dropped.
///
/// The memory may be shared with other processes, so `Mapping` never hands out `&[u8]`:
/// a Rust reference promises that nobody else changes the bytes, a promise another process
/// can break. Callers get a raw pointer and say, in their own `SAFETY:` comments, why
/// each access is sound.
#[derive(Debug)]
pub struct Mapping {
    addr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// Maps `len` fresh, zero-filled bytes. The kernel rounds the mapping up to whole pages;
    /// `len` is what was asked for, and what [`Mapping::len`] reports.
    pub fn anonymous(len: usize, prot: ProtFlags, flags: MapFlags) -> Result<Mapping> {
        let nonzero = NonZeroUsize::new(len)
            .ok_or_else(|| Error::Usage("cannot map 0 bytes: ask for at least 1".into()))?;
        // SAFETY: with no address hint the kernel picks a range that overlaps nothing
        // already mapped, so no existing Rust object can be affected.
        let addr =
            unsafe { mmap_anonymous(None, nonzero, prot, flags) }.map_err(Error::sys("mmap"))?;
        Ok(Mapping {
            addr: addr.cast(),
            len,
        })
    }

    /// Takes ownership of a mapping made by another `mmap` call (of a file, say: lesson 02),
    /// so that it too is unmapped in `Drop` and read and written the same way.
    ///
    /// # Safety
    /// `addr..addr + len` must be exactly one mapping returned by `mmap`, owned by nobody
    /// else: this `Mapping` unmaps it.
    pub unsafe fn from_raw(addr: NonNull<u8>, len: usize) -> Mapping {
        Mapping { addr, len }
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `addr` falls inside this mapping's pages.
    pub fn contains(&self, addr: usize) -> bool {
        let start = self.as_ptr() as usize;
        (start..start + self.mapped_len()).contains(&addr)
    }

    /// How many bytes are really mapped: `len` rounded up to whole pages. All of them are
    /// ours to use, not only the `len` we asked for.
    pub fn mapped_len(&self) -> usize {
        self.len.next_multiple_of(page_size())
    }

    /// Copies `bytes` into the mapped pages at `offset` (which must leave room for them;
    /// panics otherwise, before touching memory).
    ///
    /// # Safety
    /// Those bytes must be writable, and no other thread or process may read or write them
    /// while this runs: sharing them safely is what later lessons' locks are for.
    pub unsafe fn write_at(&self, offset: usize, bytes: &[u8]) {
        self.check_range(offset, bytes.len());
        // SAFETY: in bounds (checked); the caller promises writability and exclusivity.
        unsafe {
            self.as_ptr()
                .add(offset)
                .copy_from_nonoverlapping(bytes.as_ptr(), bytes.len())
        }
    }

    /// Copies `len` bytes out of the mapping, from `offset`.
    ///
    /// # Safety
    /// Those bytes must be readable, and no other thread or process may write them while
    /// this runs.
    pub unsafe fn read_at(&self, offset: usize, len: usize) -> Vec<u8> {
        self.check_range(offset, len);
        let mut bytes = vec![0; len];
        // SAFETY: in bounds (checked); the caller promises readability and no writer.
        unsafe {
            self.as_ptr()
                .add(offset)
                .copy_to_nonoverlapping(bytes.as_mut_ptr(), len)
        };
        bytes
    }

    fn check_range(&self, offset: usize, len: usize) {
        assert!(
            offset
                .checked_add(len)
                .is_some_and(|end| end <= self.mapped_len()),
            "{offset}+{len} reaches past the {} mapped bytes",
            self.mapped_len()
        );
    }

    /// Changes the protection of the pages covering `offset..offset + len`.
    /// `offset` must be a multiple of the page size (the kernel says EINVAL otherwise).
    pub fn protect(&self, offset: usize, len: usize, prot: ProtFlags) -> Result<()> {
        let mapped = self.mapped_len();
        if offset.checked_add(len).is_none_or(|end| end > mapped) {
            return Err(Error::Failed(format!(
                "protect: {offset}+{len} reaches past the {mapped} mapped bytes"
            )));
        }
        // SAFETY: `offset` is inside the mapping (checked above), so the sum stays in it.
        let start = unsafe { self.addr.add(offset) };
        // SAFETY: the range lies inside this mapping, which we own; no Rust reference into
        // it exists (we hand out raw pointers only), so none is invalidated.
        unsafe { mprotect(start.cast(), len, prot) }.map_err(Error::sys("mprotect"))
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `addr` and `len` came from our own successful mmap, and the mapping is
        // unmapped only here, once.
        let _ = unsafe { munmap(self.addr.cast(), self.len) };
    }
}
// ANCHOR_END: mapping

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PG_MMAP_FLAGS, maps_entry};

    #[test]
    fn a_mapping_is_listed_while_it_lives_and_gone_after_drop() {
        let mapping = Mapping::anonymous(1, ProtFlags::PROT_READ, PG_MMAP_FLAGS).unwrap();
        let addr = mapping.as_ptr();
        let entry = maps_entry(addr).unwrap().expect("listed");
        assert_eq!(entry.start, addr as usize);
        assert_eq!(entry.size(), page_size());
        assert_eq!(entry.perms, "r--s");
        drop(mapping);
        assert!(maps_entry(addr).unwrap().is_none_or(|e| e != entry));
    }

    #[test]
    fn zero_bytes_is_a_usage_error() {
        let err = Mapping::anonymous(0, ProtFlags::PROT_READ, PG_MMAP_FLAGS).unwrap_err();
        assert_eq!(err.exit_status(), 2);
    }
}
