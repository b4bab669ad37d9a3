//! Lesson 05: System V shared memory, through a small safe wrapper.
//!
//! A System V segment is shared memory with a name and a life of its own: it outlives
//! every process that used it, and the kernel counts its attachments (`shm_nattch`), the
//! one fact that makes PostgreSQL still keep a small System V segment today. nix wraps
//! none of the calls, so they are wrapped here, once, for every later lesson: `shmget` and
//! `IPC_RMID` in `segment.rs`, `shmat` and `shmdt` in `attachment.rs`, `IPC_STAT` in
//! `ipc_stat.rs`; the kernel's table and limits in `proc_sysvipc.rs` and `limits.rs`;
//! what a killed run left, in `leftovers.rs`.

mod attachment;
mod ipc_stat;
pub mod leftovers;
mod limits;
mod proc_sysvipc;
mod segment;

pub use attachment::{Attachment, attach, attach_read_only};
pub use ipc_stat::{SHM_DEST, ShmStat, segment_stat};
pub use limits::{Limits, limits};
pub use proc_sysvipc::{ProcShmLine, proc_entry, proc_sysvipc_shm};
pub use segment::{IPC_PRIVATE, Key, Segment, find, remove};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;
