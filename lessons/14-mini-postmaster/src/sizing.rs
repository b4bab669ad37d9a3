//! The size of shared memory, worked out before anything is mapped: a sum of parts, as
//! PostgreSQL's `CalculateShmemSize` adds up every subsystem's estimate. A region that is
//! too small must fail at start-up, not halfway through the run.

use l07_postgres_hybrid::ShmemPart;
use l11_lwlock::LwLock;
use l13_shmem_index::{Segment, cache_line_align};

use crate::{BLOCK_SIZE, BufferDesc, LockTable, RECORD_SIZE, WalCtl};

/// Entries in the region's index (lesson 13).
pub const INDEX_CAPACITY: usize = 16;

// ANCHOR: parts
/// The named structures for `buffers` buffers and room for `wal_records` WAL records:
/// the parts whose sum is the region's size. Each is rounded up to whole cache lines, as
/// lesson 13's allocator will hand them out.
pub fn structures(buffers: usize, wal_records: usize) -> Vec<ShmemPart> {
    let part = |name: &str, size: usize| ShmemPart {
        name: name.into(),
        size,
    };
    vec![
        part("Buffer Descriptors", buffers * size_of::<BufferDesc>()),
        part("Buffer Blocks", buffers * BLOCK_SIZE),
        part("Buffer Content Locks", buffers * size_of::<LwLock>()),
        part("XLOG Ctl", size_of::<WalCtl>()),
        part("WAL Buffers", wal_records * RECORD_SIZE),
        part("Lock table", size_of::<LockTable>()),
    ]
}

/// What the region needs: its header and index (lesson 13), then every structure, each
/// cache-line aligned. Lesson 07's `shmem_size` adds the slop and rounds to 8 kB.
pub fn region_parts(buffers: usize, wal_records: usize) -> Vec<ShmemPart> {
    let mut parts = vec![ShmemPart {
        name: "header and ShmemIndex".into(),
        size: Segment::minimum_size(INDEX_CAPACITY),
    }];
    parts.extend(
        structures(buffers, wal_records)
            .into_iter()
            .map(|part| ShmemPart {
                size: cache_line_align(part.size),
                ..part
            }),
    );
    parts
}
// ANCHOR_END: parts

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LOCK_SLOTS, Page, ROWS_PER_PAGE};

    #[test]
    fn the_layout_is_what_the_chapter_says() {
        assert_eq!(size_of::<BufferDesc>(), 64);
        assert_eq!(size_of::<Page>(), 8 + 8 * ROWS_PER_PAGE);
        assert_eq!(RECORD_SIZE, 16);
        assert_eq!(size_of::<LockTable>(), 16 * LOCK_SLOTS);
    }

    #[test]
    fn every_part_is_whole_cache_lines() {
        let parts = region_parts(16, 400);
        assert!(parts.iter().all(|p| p.size % 128 == 0));
        assert_eq!(parts[2].size, 16 * 8192);
    }
}
