//! Lesson 05's exercise: children's results gathered in a segment that cannot leak.
//!
//! Fill in `run_in_children`, then run `cargo course check 05` until it is green. `cargo
//! course hint 05` gives hints, one level at a time; src/solution.rs has an answer.

#[allow(unused_imports)] // you will need these
use common::{Child, Error, Exit, Result, fork_child};

#[allow(unused_imports)]
use crate::{IPC_PRIVATE, Segment, attach, remove};

/// Runs `work(i)` for each `i` in `0..children`, each in a forked child of its own, and
/// returns the results in order of `i`, carried back through one System V segment
/// (`IPC_PRIVATE`, 0600). `T: Copy` keeps out anything that owns memory elsewhere.
///
/// The segment must not outlive the call on any path: not when a child fails, and not even
/// when the calling process is killed with SIGKILL halfway, when no destructor runs.
///
/// If a child does not exit with status 0, the result is an error that names the child by
/// its index (`child 1`) and says how it ended.
pub fn run_in_children<T: Copy>(children: usize, work: impl Fn(usize) -> T) -> Result<Vec<T>> {
    let _ = (children, work);
    todo!("create a private segment, attach it, mark it with IPC_RMID, fork, wait, read")
}
