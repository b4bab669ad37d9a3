//! Lesson 05's exercise, solved: children's results gathered in a segment that cannot leak.

use common::{Child, Error, Exit, Result, fork_child};

use crate::{IPC_PRIVATE, Segment, attach};

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
    let size = children
        .checked_mul(size_of::<T>())
        .ok_or_else(|| Error::Usage(format!("{children} results do not fit in memory")))?
        .max(1); // shmget refuses 0 bytes; T may be () or there may be no children
    let segment = Segment::create(IPC_PRIVATE, size, 0o600)?;
    let attachment = attach(segment.id())?;
    // Mark it at once: from here on the kernel frees it when the last attachment goes,
    // whoever holds it and however that process ends. (Between shmget and this line a
    // SIGKILL would still leak it: the window is small, not zero.)
    segment.remove()?;

    let slots = attachment.as_ptr().cast::<T>(); // page-aligned, so aligned for any T
    let mut running = Vec::with_capacity(children);
    for i in 0..children {
        let work = &work;
        running.push(fork_child(move || {
            let value = work(i);
            // SAFETY: slot i lies inside the segment (children * size_of::<T>() bytes), it
            // is this child's alone, and the parent reads it only after this child exits.
            unsafe { slots.add(i).write(value) };
            0
        })?);
    }
    // Wait for every child, even after one has failed, so none is left running.
    let exits = running
        .into_iter()
        .map(Child::wait)
        .collect::<Result<Vec<_>>>()?;
    if let Some((i, exit)) = exits
        .iter()
        .enumerate()
        .find(|(_, exit)| **exit != Exit::Code(0))
    {
        return Err(Error::Failed(format!("child {i} {exit}")));
    }
    // SAFETY: every child exited normally, so each wrote a whole T into its slot; all are
    // gone, so nobody writes while we read.
    Ok((0..children)
        .map(|i| unsafe { slots.add(i).read() })
        .collect())
    // `attachment` drops here: shmdt, the last attachment, and the kernel frees the segment.
}
