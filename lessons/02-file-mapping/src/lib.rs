//! Lesson 02: a file, mapped.
//!
//! Mapping a file puts the kernel's page cache copy of it straight into our address space.
//! With `MAP_SHARED` a store into the mapping is a store into that cached page: every
//! process reading the file sees it at once, and the kernel writes it to disk later, when
//! it likes or when `msync` insists. With `MAP_PRIVATE` the first store copies the page,
//! and from then on the copy is ours alone. `file_mapping.rs` makes the mappings;
//! `smaps.rs` reads the kernel's page counts, which show a page dirty, clean, or copied.

mod file_mapping;
mod smaps;

pub use file_mapping::{map_file, msync};
pub use smaps::{Smaps, smaps};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;
