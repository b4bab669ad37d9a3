//! Lesson 03's exercise, solved: bring a value home from a child.

use common::{Error, Result, fork_child};
use l01_mmap::{Mapping, PG_MMAP_FLAGS};
use nix::sys::mman::ProtFlags;

/// Runs `work` in a forked child and returns the value it computed, carried back through a
/// shared mapping. `T: Copy` keeps out anything that owns memory elsewhere (a `String`'s
/// bytes live on the child's heap, which the parent cannot see).
///
/// If the child does not exit with status 0 (it panicked, or a signal killed it), the
/// result is an error that says how it ended, never a value nobody wrote.
pub fn run_in_child<T: Copy>(work: impl FnOnce() -> T) -> Result<T> {
    let size = size_of::<T>().max(1);
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let mapping = Mapping::anonymous(size, rw, PG_MMAP_FLAGS)?;
    let slot = mapping.as_ptr().cast::<T>(); // page-aligned, so aligned for any T
    let child = fork_child(|| {
        let value = work();
        // SAFETY: the mapping is writable and large enough for a T, and the parent does
        // not read it until this process has exited.
        unsafe { slot.write(value) };
        0
    })?;
    match child.wait()? {
        // SAFETY: the child exited normally, so it wrote a whole T there; it is gone, so
        // nobody writes while we read.
        common::Exit::Code(0) => Ok(unsafe { slot.read() }),
        other => Err(Error::Failed(format!("the child {other}"))),
    }
}
