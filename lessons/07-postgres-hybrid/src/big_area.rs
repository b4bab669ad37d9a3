//! The big area: all of the server's shared memory in one anonymous `MAP_SHARED` mapping,
//! made before the first fork so that every child inherits it (PostgreSQL's
//! `CreateAnonymousSegment`, since 9.3).
//!
//! Huge pages make a big area cheaper for the CPU (fewer page-table entries, fewer TLB
//! slots), but only if the kernel has them reserved. `huge_pages` says what to do when it
//! has not: `try` falls back to normal pages, `on` refuses to start, `off` never asks.

use common::{Error, Result};
use l01_mmap::{Mapping, PG_MMAP_FLAGS};
use nix::sys::mman::{MapFlags, ProtFlags};

// ANCHOR: huge
/// `huge_pages`: whether to map the big area with huge pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HugePages {
    /// Normal pages only.
    Off,
    /// Huge pages if the kernel has enough reserved; normal pages otherwise.
    Try,
    /// Huge pages, or fail to start.
    On,
}

/// The kernel's default huge page size, from the "Hugepagesize:" line of /proc/meminfo,
/// like PostgreSQL's `GetHugePageSize`; 2 MiB if the line is missing, as it assumes too.
pub fn huge_page_size() -> usize {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("Hugepagesize:")?;
            let kb = rest
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<usize>()
                .ok()?;
            kb.checked_mul(1024)
        })
        .unwrap_or(2 * 1024 * 1024)
}

/// The big area and how it was made.
#[derive(Debug)]
pub struct SharedMemory {
    pub mapping: Mapping,
    /// `huge_pages_status`: whether the mapping really is made of huge pages.
    pub huge_pages: bool,
    /// When `try` fell back to normal pages: the failed call, for the record.
    pub fallback: Option<Error>,
}

/// The big area, like `CreateAnonymousSegment` in src/backend/port/sysv_shmem.c: with `on` or
/// `try`, the size rounded up to whole huge pages and `MAP_HUGETLB`; if that fails, `try`
/// maps the size asked for with normal pages, and `on` fails.
pub fn create_anonymous_segment(size: usize, huge: HugePages) -> Result<SharedMemory> {
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    if huge == HugePages::Off {
        let mapping = Mapping::anonymous(size, rw, PG_MMAP_FLAGS)?;
        return Ok(SharedMemory {
            mapping,
            huge_pages: false,
            fallback: None,
        });
    }
    let huge_size = size
        .checked_next_multiple_of(huge_page_size())
        .ok_or_else(|| Error::Usage(format!("{size} bytes in huge pages overflow a size_t")))?;
    match Mapping::anonymous(huge_size, rw, PG_MMAP_FLAGS | MapFlags::MAP_HUGETLB) {
        Ok(mapping) => Ok(SharedMemory {
            mapping,
            huge_pages: true,
            fallback: None,
        }),
        Err(err) if huge == HugePages::Try => Ok(SharedMemory {
            mapping: Mapping::anonymous(size, rw, PG_MMAP_FLAGS)?,
            huge_pages: false,
            fallback: Some(err),
        }),
        Err(err) => Err(Error::Failed(format!(
            "could not map {huge_size} bytes of anonymous shared memory with huge pages \
             ({err}); reserve huge pages (/proc/sys/vm/nr_hugepages) or use --huge-pages=try"
        ))),
    }
}
// ANCHOR_END: huge

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_huge_page_size_is_read_from_meminfo() {
        let size = huge_page_size();
        assert!(size >= 2 * 1024 * 1024 && size.is_power_of_two(), "{size}");
    }

    #[test]
    fn huge_pages_try_always_gives_memory() {
        let shmem = create_anonymous_segment(300_000, HugePages::Try).unwrap();
        let expected = if shmem.huge_pages {
            300_000usize.next_multiple_of(huge_page_size())
        } else {
            300_000
        };
        assert_eq!(shmem.mapping.len(), expected);
        assert_eq!(shmem.fallback.is_some(), !shmem.huge_pages);
    }
}
