//! Lesson 04: structures in shared memory.
//!
//! Once two processes map the same pages, Rust's usual promises stop covering them: the
//! compiler assumes that memory behind a `&T` does not change, and another process breaks
//! that at will. So the lesson reaches shared memory through raw pointers and atomics made
//! in place (`atomic.rs`); lays a region out behind a `#[repr(C)]` header (`header.rs`),
//! written before anyone looks and checked before anyone trusts it (`region.rs`,
//! `attach_error.rs`); stores offsets, never pointers (`views.rs`); and gives the exercise
//! its structure (`mailbox.rs`).

mod atomic;
mod attach_error;
mod header;
mod mailbox;
mod region;
mod views;

pub use atomic::{atomic_u32, atomic_u64};
pub use attach_error::AttachError;
pub use header::{
    COUNTERS_OFFSET, Counters, Header, MAGIC, REGION_SIZE, VERSION, header_layout, hex32,
};
pub use mailbox::{MAILBOX_MAGIC, MAILBOX_VERSION, MAILBOX_WORDS, Mailbox};
pub use region::Region;
pub use views::map_twice;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;
