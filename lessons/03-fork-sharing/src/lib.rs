//! Lesson 03: what a forked child shares with its parent, and what it only copies.
//!
//! After `fork`, the child has the parent's address space, page for page, at the same
//! addresses. Almost all of it is private: the kernel shares the pages read-only and copies
//! one the moment either process writes it (copy-on-write). A `MAP_SHARED` mapping is the
//! exception: both processes keep the very same physical pages, so a write by one is a
//! write for both. That is how PostgreSQL's children reach the postmaster's shared memory.
//!
//! The mapping itself is lesson 01's `l01_mmap::Mapping`; this lesson adds no new system
//! call, only a second process.

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;
