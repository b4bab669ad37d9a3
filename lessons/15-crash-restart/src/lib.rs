//! Lesson 15: a crash and a restart, the way PostgreSQL's postmaster survives them.
//!
//! Lesson 12 ended with a rule: when a process dies while it holds a lock, neither the lock
//! nor the data it guarded can be trusted, so throw both away. This lesson is that rule at
//! work in lesson 14's mini postmaster: when a child ends in a way nobody planned, the
//! postmaster stops every other child, makes shared memory anew, and has a startup process
//! rebuild the pages from the files on disk. Nothing committed is lost, because a commit
//! returns only once its WAL record is on disk; nothing uncommitted survives, because a page
//! reaches the disk only with the WAL that describes it. The library is what the check and
//! the startup process need; the postmaster's story is the binary (src/main.rs).

mod check;
mod crash;
mod log_child_exit;
mod lsn;
mod notebook;
mod quickdie;
mod recovery;
mod redo;
mod role;

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

pub use check::{Checked, check};
pub use crash::{Crash, Died, parse_crash};
pub use exercise::{is_crash, terminate_children};
pub use log_child_exit::{describe_signal, log_child_exit};
pub use lsn::lsn;
pub use notebook::{LINE, Line, NOTEBOOK_FILE, Notebook, Progress, Round};
pub use quickdie::install_quickdie;
pub use recovery::startup_process;
pub use redo::{Redo, redo_record, replay};
pub use role::Role;
