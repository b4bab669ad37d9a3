//! A file, mapped: `map_file` and `msync`.
//!
//! A file mapping puts the page cache's copy of the file straight into our address space.
//! With `MAP_SHARED` a store is a store into that cached page, seen at once by every reader
//! of the file; `msync` only decides when it reaches the disk. The mapping is lesson 01's
//! `Mapping`, so it is unmapped in `Drop` and reached through raw pointers only.

use std::fs::File;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use common::{Error, Result};
use l01_mmap::Mapping;
use nix::sys::mman::{MapFlags, MsFlags, ProtFlags, mmap};

// ANCHOR: file_mapping
/// Maps `len` bytes of `file`, starting at byte `offset` of the file, and hands the mapping
/// to lesson 01's [`Mapping`], which unmaps it in `Drop` and, like there, gives out raw
/// pointers only: other processes may write the same pages through their own mappings,
/// or through `write(2)`, at any moment.
///
/// `offset` must be a multiple of the page size: the kernel maps whole pages of the file
/// and says EINVAL otherwise. `len` may reach past the end of the file; mmap does not
/// check, and the pages out there fault with SIGBUS when touched.
pub fn map_file(
    file: &File,
    offset: u64,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
) -> Result<Mapping> {
    let nonzero = NonZeroUsize::new(len)
        .ok_or_else(|| Error::Usage("cannot map 0 bytes of a file: ask for at least 1".into()))?;
    let offset = i64::try_from(offset)
        .map_err(|_| Error::Usage(format!("file offset {offset} does not fit in an off_t")))?;
    // SAFETY: with no address hint the kernel picks a range that overlaps nothing already
    // mapped, so no existing Rust object is affected. What the new pages hold is up to
    // the file; `Mapping` reaches them through raw pointers only.
    let addr =
        unsafe { mmap(None, nonzero, prot, flags, file, offset) }.map_err(Error::sys("mmap"))?;
    // The mapping holds its own reference to the file: `file` may be closed now.
    // SAFETY: `addr..addr + len` is the mapping mmap just made, and nothing else owns it.
    Ok(unsafe { Mapping::from_raw(addr.cast(), len) })
}

/// Asks the kernel to write the mapping's dirty pages to the file's storage.
/// With `MS_SYNC` it returns once they are written.
pub fn msync(mapping: &Mapping, flags: MsFlags) -> Result<()> {
    let addr = NonNull::new(mapping.as_ptr()).expect("a mapping is never at address 0");
    // SAFETY: the range is exactly one whole mapping, which starts on a page boundary (mmap
    // returned it); msync reads and writes no Rust-visible memory.
    unsafe { nix::sys::mman::msync(addr.cast(), mapping.len(), flags) }.map_err(Error::sys("msync"))
}
// ANCHOR_END: file_mapping

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smaps;
    use std::io::Write;

    fn file_of(len: u64) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("data"))
            .unwrap();
        file.set_len(len).unwrap();
        (dir, file)
    }

    #[test]
    fn a_shared_write_is_seen_by_read_and_counted_dirty() {
        let (_dir, mut file) = file_of(100);
        let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        let mapping = map_file(&file, 0, 100, prot, MapFlags::MAP_SHARED).unwrap();
        // SAFETY: 3 bytes at 0 are inside the 100-byte file; only this test uses it.
        unsafe { mapping.write_at(0, b"abc") };
        let mut seen = [0; 3];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut seen, 0).unwrap();
        assert_eq!(&seen, b"abc");
        assert_eq!(smaps(mapping.as_ptr()).unwrap().unwrap().dirty(), page_kb());
        // And the other way round: write(2) to the file shows up in the mapping.
        file.write_all(b"xyz").unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { mapping.read_at(0, 3) }, b"xyz");
    }

    #[test]
    fn an_unaligned_offset_is_einval() {
        let (_dir, file) = file_of(100);
        let err = map_file(&file, 1, 10, ProtFlags::PROT_READ, MapFlags::MAP_SHARED).unwrap_err();
        assert_eq!(err.to_string(), "mmap: Invalid argument (EINVAL)");
    }

    fn page_kb() -> u64 {
        l01_mmap::page_size() as u64 / 1024
    }
}
