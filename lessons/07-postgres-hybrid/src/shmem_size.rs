//! The size of the shared area, computed once before anything is mapped, as a sum of named
//! parts: PostgreSQL's `CalculateShmemSize` (src/backend/storage/ipc/ipci.c).
//!
//! The area never grows after start-up, so every subsystem must say up front what it needs;
//! a fixed slop covers what is too small to count, and the total is rounded up to whole
//! pages. Each part's place in the area follows from the sizes alone: offsets, never
//! pointers, because every process may map the area at another address.

// ANCHOR: size
/// What `CalculateShmemSize` (src/backend/storage/ipc/ipci.c) starts from: 100000 bytes "for
/// the stuff that's too small to bother with estimating". Our header lives in it.
pub const SLOP: usize = 100_000;
/// The size is rounded up to a multiple of this, "a typical page size".
pub const SIZE_ROUNDING: usize = 8192;
/// The bytes of one buffer, and of one slot per process in the lesson's process table.
pub const BLOCK_SIZE: usize = 8192;
pub const SLOT_SIZE: usize = 128;
/// Where the named parts begin: after a copy of the interlock's header, cache-line aligned.
pub const PARTS_OFFSET: usize = 128;

/// One named part of the shared area, as `pg_shmem_allocations` would list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmemPart {
    pub name: String,
    pub size: usize,
}

/// The parts this lesson's server needs for `buffers` buffers and `processes` processes.
/// The names are PostgreSQL's; the sizes are small, and each is counts times a unit.
pub fn parts(buffers: usize, processes: usize) -> Option<Vec<ShmemPart>> {
    let part = |name: String, count: usize, unit: usize| {
        Some(ShmemPart {
            name: format!("{name} ({count} x {unit})"),
            size: count.checked_mul(unit)?,
        })
    };
    Some(vec![
        part("process slots".into(), processes, SLOT_SIZE)?,
        part("Buffer Descriptors".into(), buffers, 64)?,
        // PostgreSQL's default: 1/32 of the buffers, at least 8 blocks (64 kB).
        part("WAL buffers".into(), (buffers / 32).max(8), BLOCK_SIZE)?,
        part("Buffer Blocks".into(), buffers, BLOCK_SIZE)?,
    ])
}

/// The slop plus every part, rounded up to [`SIZE_ROUNDING`]; `None` if that overflows.
pub fn shmem_size(parts: &[ShmemPart]) -> Option<usize> {
    parts
        .iter()
        .try_fold(SLOP, |sum, part| sum.checked_add(part.size))?
        .checked_next_multiple_of(SIZE_ROUNDING)
}

/// Where each part starts in the mapping: one after the other from [`PARTS_OFFSET`].
pub fn offsets(parts: &[ShmemPart]) -> Vec<usize> {
    parts
        .iter()
        .scan(PARTS_OFFSET, |next, part| {
            let offset = *next;
            *next += part.size;
            Some(offset)
        })
        .collect()
}
// ANCHOR_END: size

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_is_the_slop_plus_the_parts_rounded_up() {
        let parts = parts(16, 4).unwrap();
        let sum: usize = SLOP + parts.iter().map(|p| p.size).sum::<usize>();
        assert_eq!(sum, 100_000 + 512 + 1024 + 65_536 + 131_072);
        assert_eq!(shmem_size(&parts), Some(303_104));
        assert_eq!(shmem_size(&parts).unwrap() % SIZE_ROUNDING, 0);
        assert_eq!(offsets(&parts), [128, 640, 1664, 67_200]);
    }

    #[test]
    fn sizes_that_overflow_are_none() {
        assert_eq!(parts(usize::MAX / 2, 1), None);
        let huge = [ShmemPart {
            name: "x".into(),
            size: usize::MAX - 10,
        }];
        assert_eq!(shmem_size(&huge), None);
    }
}
