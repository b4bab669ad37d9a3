//! Lesson 01: one anonymous mapping.
//!
//! `mmap` asks the kernel for a range of fresh pages in this process's address space. It
//! is where every later lesson starts: PostgreSQL's postmaster makes its whole shared area
//! with one such call (`CreateAnonymousSegment` in `src/backend/port/sysv_shmem.c`).
//! The raw calls are wrapped once, here, and later lessons reuse the wrappers: the flags
//! (`flags.rs`), the page size (`page.rs`), the mapping that unmaps itself (`mapping.rs`),
//! and `/proc/self/maps`, which shows what the kernel really did (`maps.rs`).

mod flags;
mod mapping;
mod maps;
mod page;

pub use flags::{MAP_HASSEMAPHORE, PG_MMAP_FLAGS};
pub use mapping::Mapping;
pub use maps::{MapsEntry, listed_mapping, maps_entries, maps_entry};
pub use page::page_size;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;
