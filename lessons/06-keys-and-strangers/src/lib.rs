//! Lesson 06: unrelated processes meet by key, and must then check whom they met.
//!
//! A System V key is a 32-bit number that any process on the machine may ask `shmget` for.
//! Two programs that compute it the same way (here: from a directory) find the same segment
//! without being related at all. But anybody else may have picked the same number, so a
//! segment found by key proves nothing until its first bytes say whose it is, and only the
//! kernel's attach count says whether anybody still uses it. That is PostgreSQL's check at
//! start-up (`PGSharedMemoryCreate`, `PGSharedMemoryAttach` in src/backend/port/sysv_shmem.c).
//! The files, in the chapter's order: `keys`, `header` (with `tag`, the course's mark in it),
//! `message`, `found`, `key_search`, `find`, and `postgresql`, a real server's interlock.

mod find;
mod found;
mod header;
mod key_search;
mod keys;
mod message;
mod postgresql;
mod tag;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

/// The heart of the lesson, and its exercise: what a segment found at our key is to us.
/// (With `--features exercise`, this is your version, and everything below uses it.)
pub use exercise::classify;

pub use find::find_for_dir;
pub use found::{Found, errno_of};
pub use header::{Header, MAGIC, read_header, read_magic, read_pg_shmem_header, write_header};
pub use key_search::{Created, MAX_PROBES, Probe, create_from, next_key};
pub use keys::{DirId, FTOK_PROJECT, ftok_formula, key_from_ftok, key_from_inode, key_hex};
pub use l05_sysv_segments::Key;
pub use message::{
    MESSAGE_CAPACITY, MESSAGE_OFFSET, SEGMENT_SIZE, check_message, read_message, write_message,
};
pub use postgresql::{PostgresqlInterlock, postgresql_interlock};
pub use tag::{course_tag, index_shown, tagged_lesson};

/// This lesson's number, which its segments carry in their tag (see [`course_tag`]).
pub const LESSON: u8 = 6;
