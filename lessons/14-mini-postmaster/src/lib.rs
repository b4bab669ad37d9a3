//! Lesson 14: a mini postmaster, and the shared structures its children work in.
//!
//! PostgreSQL's postmaster works out the size of all its shared memory, creates it and every
//! structure in it before it forks anybody, and from then on does not touch it: a child that
//! dies halfway through a change cannot take the postmaster down with it. This library is
//! what lives in that memory, in small, and what lies on disk beside it. It is built on
//! earlier lessons: lesson 13's region (structures found by name), lesson 11's LWLocks (one
//! per page), lesson 07's sum of parts. The postmaster's story is the binary (src/main.rs);
//! lesson 15 crashes and restarts the same server.

mod buffer_pool;
mod checkpoint;
mod control_file;
mod data_files;
mod latch;
mod lock_table;
mod pool;
mod sizing;
mod wal;
mod workload;
mod writers;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

pub use buffer_pool::{BLOCK_SIZE, BufferDesc, DIRTY, Page, ROWS_PER_PAGE};
pub use checkpoint::{Checkpoint, checkpoint, checkpointer};
pub use control_file::{CONTROL_FILE, ControlFile, DbState, UnfinishedControlFile};
pub use data_files::{DataFiles, TABLE_FILE, WAL_FILE};
pub use exercise::update_row;
pub use l11_lwlock::Mode;
pub use latch::{CHECKPOINT, SHUTDOWN, Wake, postmaster_gone, wait_on};
pub use lock_table::{LOCK_SLOTS, LockSlot, LockTable, RELATION};
pub use pool::{Found, Pool};
pub use sizing::{INDEX_CAPACITY, region_parts, structures};
pub use wal::{RECORD_SIZE, WalCtl, WalRecord};
pub use workload::{CHECKPOINT_RECORDS, UPDATES_PER_BACKEND, checkpoint_due, target};
pub use writers::{WRITER_DELAY, bgwriter, walwriter};
