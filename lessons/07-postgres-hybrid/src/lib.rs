//! Lesson 07: PostgreSQL's hybrid: one big anonymous mapping, one tiny System V segment.
//!
//! Since 9.3 PostgreSQL keeps its shared memory in one anonymous `MAP_SHARED` mapping that the
//! postmaster makes before it forks anybody (lesson 03), and keeps a System V segment beside
//! it only for one fact the kernel tracks for System V segments and not for mappings: how
//! many processes have it attached (`shm_nattch`). A lock file in the data directory records
//! the postmaster's PID and the segment's key and id, so the next start can tell a running
//! server from a dead one's leftovers. The files, in the order a start uses them: `cluster`
//! (never a real PostgreSQL's directory), `lock_file` (with `pid_file`, its contents, and
//! `lock_data_dir`, start or refuse), `shmem_size`, `big_area`, `interlock`. Each value owns what it made and undoes it in `Drop`.

mod big_area;
mod cluster;
mod interlock;
mod lock_data_dir;
mod lock_file;
mod pid_file;
mod shmem_size;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

pub use exercise::decide;

pub use big_area::{HugePages, SharedMemory, create_anonymous_segment, huge_page_size};
pub use cluster::{CLUSTER_FILES, refuse_a_postgresql_cluster};
pub use interlock::{copy_header, create_interlock, probe_note};
pub use lock_data_dir::{Decision, Note, lock_data_dir, owner_alive};
pub use lock_file::LockFile;
pub use pid_file::{
    LOCK_FILE, PidFile, STATUS_READY, STATUS_STARTING, STATUS_STOPPING, now, read_lock_file,
};
pub use shmem_size::{
    BLOCK_SIZE, PARTS_OFFSET, SIZE_ROUNDING, SLOP, SLOT_SIZE, ShmemPart, offsets, parts, shmem_size,
};
