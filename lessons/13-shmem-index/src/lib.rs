//! Lesson 13: one shared region, and structures in it found by name.
//!
//! PostgreSQL's postmaster makes one big shared region before it forks anything, and dozens
//! of subsystems carve their structures out of it; every process must then find the *same*
//! structure for the same subsystem. The answer, in `shmem.c`, has three parts, and so does
//! this lesson: a header at offset 0 (`layout.rs`, laid out by `segment.rs`); a bump
//! allocator under a spinlock (`allocator.rs`); and an index of names in the region itself
//! (`index.rs`), which `init_struct`, PostgreSQL's `ShmemInitStruct`, searches and fills
//! (the exercise). Nothing in the region is a pointer: every location is an offset.

mod allocations;
mod allocator;
mod index;
mod layout;
mod name;
mod region_lock;
mod segment;
mod shmem;
mod shmem_error;

pub use allocations::{Row, allocation_table};
pub use allocator::Allocation;
pub use index::IndexGuard;
pub use l08_races::{ProcessLock, race, usable_cpus};
pub use layout::{CACHE_LINE, Header, IndexEntry, IndexHeader, MAGIC, NAME_LEN, cache_line_align};
pub use name::{decode_name, encode_name};
pub use region_lock::RegionLock;
pub use segment::Segment;
pub use shmem::Shmem;
pub use shmem_error::ShmemError;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

pub use exercise::init_struct;
