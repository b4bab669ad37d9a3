//! Lesson 02: a file, mapped.
//!
//! Mapping a file puts the kernel's page cache copy of it straight into our address space.
//! With `MAP_SHARED` a store into the mapping is a store into that cached page: every
//! process reading the file sees it at once, and the kernel writes it to disk later, when
//! it likes or when `msync` insists. With `MAP_PRIVATE` the first store copies the page,
//! and from then on the copy is ours alone. Touching a mapped page that lies wholly past
//! the end of the file has nothing to read or write, and the kernel answers with SIGBUS.
//!
//! [`map_file`] makes one such mapping, owned by lesson 01's `Mapping`; [`smaps`] reads the
//! kernel's page counts for a mapping, which is how the lesson shows a page being dirty,
//! clean, or copied. The anonymous mapping, the page size and `/proc/self/maps` come from
//! lesson 01.

use std::fs::File;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use common::{Error, Result};
use l01_mmap::Mapping;
use nix::sys::mman::{MapFlags, MsFlags, ProtFlags, mmap};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

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

// ANCHOR: smaps
/// The kernel's page counts for one mapping, from `/proc/self/smaps`, in kB.
///
/// Careful with the names: here "shared" and "private" say how many mappings use a page
/// (more than one, or just this one), not whether it was mapped `MAP_SHARED`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Smaps {
    /// Resident: pages of the mapping that are in memory now.
    pub rss: u64,
    pub shared_clean: u64,
    pub shared_dirty: u64,
    pub private_clean: u64,
    pub private_dirty: u64,
    /// Pages that belong to no file: for a `MAP_PRIVATE` file mapping, the copies made
    /// when we wrote.
    pub anonymous: u64,
}

impl Smaps {
    /// Changed in memory and not yet written back to the file.
    pub fn dirty(&self) -> u64 {
        self.shared_dirty + self.private_dirty
    }

    /// The same as the file's blocks on disk (or never changed).
    pub fn clean(&self) -> u64 {
        self.shared_clean + self.private_clean
    }
}

/// The counts for the mapping that starts at `addr`, if there is one.
pub fn smaps(addr: *const u8) -> Result<Option<Smaps>> {
    let text = std::fs::read_to_string("/proc/self/smaps")?;
    let mut lines = text.lines();
    // Each mapping is a header line like /proc/self/maps has, then "Key:  value kB" lines.
    let found = lines
        .by_ref()
        .any(|line| range_start(line) == Some(addr as usize));
    if !found {
        return Ok(None);
    }
    let mut counts = Smaps::default();
    for line in lines.take_while(|line| range_start(line).is_none()) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let kb = || {
            value
                .trim()
                .trim_end_matches(" kB")
                .parse::<u64>()
                .unwrap_or(0)
        };
        match key {
            "Rss" => counts.rss = kb(),
            "Shared_Clean" => counts.shared_clean = kb(),
            "Shared_Dirty" => counts.shared_dirty = kb(),
            "Private_Clean" => counts.private_clean = kb(),
            "Private_Dirty" => counts.private_dirty = kb(),
            "Anonymous" => counts.anonymous = kb(),
            _ => {}
        }
    }
    Ok(Some(counts))
}

/// `7f3a5c000000-7f3a5c002000 rw-s ...` gives `0x7f3a5c000000`; a "Key: value" line gives
/// `None` (no key is a range of hex numbers).
fn range_start(line: &str) -> Option<usize> {
    let (start, end) = line.split_whitespace().next()?.split_once('-')?;
    usize::from_str_radix(end, 16).ok()?;
    usize::from_str_radix(start, 16).ok()
}
// ANCHOR_END: smaps

#[cfg(test)]
mod tests {
    use super::*;
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
    fn header_lines_give_a_start_and_counts_do_not() {
        assert_eq!(
            range_start("7f3a5c000000-7f3a5c002000 rw-s 00000000 fd:00 42 /tmp/x"),
            Some(0x7f3a5c000000)
        );
        assert_eq!(range_start("Rss:                   4 kB"), None);
        assert_eq!(range_start("VmFlags: rd wr sh mr mw me ms sd"), None);
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
