//! Lesson 01: one anonymous mapping.
//!
//! `mmap` asks the kernel for a range of fresh pages in this process's address space. It
//! is where every later lesson starts: PostgreSQL's postmaster makes its whole shared area
//! with one such call (`CreateAnonymousSegment` in `src/backend/port/sysv_shmem.c`).
//!
//! [`Mapping`] owns one mapping and unmaps it in `Drop`. [`maps_entry`] finds a mapping in
//! `/proc/self/maps`, the kernel's own list of this process's mappings, so the lesson can
//! show what the kernel really did rather than what we asked for.
//!
//! Later lessons reuse both: the raw calls are wrapped once, here.

use std::num::NonZeroUsize;
use std::ptr::NonNull;

use common::{Error, Result};
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, mprotect, munmap};
use nix::unistd::{SysconfVar, sysconf};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

// ANCHOR: shim
/// `MAP_HASSEMAPHORE` tells BSD kernels the region will hold semaphores. Linux has no such
/// flag and needs none, so, like PostgreSQL's `src/include/portability/mem.h`, we define it
/// as "no bits" where the system lacks it. (`MAP_ANON` vs `MAP_ANONYMOUS`, the other half of
/// the article's C shim, needs nothing in Rust: the `libc` crate offers `MAP_ANONYMOUS` on
/// every Unix.)
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd"
))]
pub const MAP_HASSEMAPHORE: MapFlags = MapFlags::from_bits_retain(libc::MAP_HASSEMAPHORE);
#[cfg(not(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
pub const MAP_HASSEMAPHORE: MapFlags = MapFlags::empty();

/// PostgreSQL's `PG_MMAP_FLAGS`: memory shared with every process forked after the call.
/// (`mmap_anonymous` adds `MAP_ANONYMOUS` itself.)
pub const PG_MMAP_FLAGS: MapFlags = MapFlags::MAP_SHARED.union(MAP_HASSEMAPHORE);
// ANCHOR_END: shim

/// The size of one page, the unit in which the kernel maps memory.
pub fn page_size() -> usize {
    sysconf(SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .expect("the kernel always knows its page size") as usize
}

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

// ANCHOR: maps
/// One line of `/proc/self/maps`: a range of addresses and what backs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapsEntry {
    pub start: usize,
    pub end: usize,
    /// `rw-s`: readable, writable, not executable, **s**hared (`p` would be private).
    pub perms: String,
    /// What backs the range: a file path, `[heap]`, or empty for private anonymous memory.
    pub name: String,
}

impl MapsEntry {
    pub fn size(&self) -> usize {
        self.end - self.start
    }
}

/// The line as the lessons print it: `7f3a5c000000-7f3a5c002000 rw-s /dev/zero (deleted)`.
impl std::fmt::Display for MapsEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:x}-{:x} {} {}",
            self.start, self.end, self.perms, self.name
        )
    }
}

/// The entries of `/proc/self/maps` that overlap `addr..addr + len`, in address order.
pub fn maps_entries(addr: *const u8, len: usize) -> Result<Vec<MapsEntry>> {
    let (lo, hi) = (addr as usize, addr as usize + len);
    let text = std::fs::read_to_string("/proc/self/maps")?;
    Ok(text
        .lines()
        .filter_map(parse_maps_line)
        .filter(|e| e.start < hi && lo < e.end)
        .collect())
}

/// The one entry of `/proc/self/maps` that contains `addr`, if any.
pub fn maps_entry(addr: *const u8) -> Result<Option<MapsEntry>> {
    Ok(maps_entries(addr, 1)?.into_iter().next())
}

/// The entry of `/proc/self/maps` that contains `addr`, which must be mapped.
pub fn listed_mapping(addr: *const u8) -> Result<MapsEntry> {
    maps_entry(addr)?.ok_or_else(|| {
        Error::Failed(format!(
            "nothing is mapped at {:#x}, says /proc/self/maps",
            addr as usize
        ))
    })
}

/// `7f3a5c000000-7f3a5c002000 rw-s 00000000 00:01 2058 /dev/zero (deleted)`
fn parse_maps_line(line: &str) -> Option<MapsEntry> {
    let mut fields = line.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let perms = fields.next()?.to_string();
    let (_offset, _device, _inode) = (fields.next()?, fields.next()?, fields.next()?);
    let name = fields.next().unwrap_or("").trim_start().to_string();
    Some(MapsEntry {
        start: usize::from_str_radix(start, 16).ok()?,
        end: usize::from_str_radix(end, 16).ok()?,
        perms,
        name,
    })
}
// ANCHOR_END: maps

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maps_line_is_parsed_with_its_name() {
        let entry =
            parse_maps_line("7f3a5c000000-7f3a5c002000 rw-s 00000000 00:01 2058                       /dev/zero (deleted)")
                .unwrap();
        assert_eq!(entry.size(), 0x2000);
        assert_eq!(entry.perms, "rw-s");
        assert_eq!(entry.name, "/dev/zero (deleted)");
    }

    #[test]
    fn an_anonymous_private_line_has_an_empty_name() {
        let entry = parse_maps_line("7f3a5c000000-7f3a5c001000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(entry.name, "");
    }

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
