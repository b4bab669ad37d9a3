//! Lesson 03's exercise: bring a value home from a child.
//!
//! Fill in `run_in_child`, then run `cargo course check 03` until it is green. `cargo
//! course hint 03` gives hints, one level at a time; src/solution.rs has an answer.

#[allow(unused_imports)] // you will need these
use common::{Error, Exit, Result, fork_child};
#[allow(unused_imports)]
use l01_mmap::{Mapping, PG_MMAP_FLAGS};
#[allow(unused_imports)]
use nix::sys::mman::ProtFlags;

/// Runs `work` in a forked child and returns the value it computed, carried back through a
/// shared mapping. `T: Copy` keeps out anything that owns memory elsewhere (a `String`'s
/// bytes live on the child's heap, which the parent cannot see).
///
/// If the child does not exit with status 0 (it panicked, or a signal killed it), the
/// result is an error that says how it ended, never a value nobody wrote.
pub fn run_in_child<T: Copy>(work: impl FnOnce() -> T) -> Result<T> {
    let _ = work;
    todo!("map a shared page, fork a child that stores work() there, wait, then read it")
}
