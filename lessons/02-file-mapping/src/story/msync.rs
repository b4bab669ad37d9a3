//! Step 5: `msync` is about durability, not visibility.
//!
//! Step 3 showed that read(2) sees a store through the shared mapping without any
//! `msync`. What `msync` changes is the page's state: dirty (newer than the disk) before,
//! clean after. `/proc/self/smaps` shows both, and the step says only what the counts show.

use common::{Result, section};
use l01_mmap::Mapping;
use l02_file_mapping::msync;
use nix::sys::mman::MsFlags;

use crate::counts;

// ANCHOR: msync
pub fn msync_shared(shared: &Mapping) -> Result<()> {
    section("5. msync is about durability, not visibility");
    let before = counts(shared)?;
    println!(
        "/proc/self/smaps, shared mapping: {} kB dirty, {} kB clean",
        before.dirty(),
        before.clean()
    );
    msync(shared, MsFlags::MS_SYNC)?;
    println!(
        "msync({:#x}, {}, MS_SYNC) = 0",
        shared.as_ptr() as usize,
        shared.len()
    );
    let after = counts(shared)?;
    println!(
        "/proc/self/smaps, shared mapping: {} kB dirty, {} kB clean",
        after.dirty(),
        after.clean()
    );
    // Say only what the counts show: on a tmpfs there is no disk, and the page stays dirty.
    println!(
        "{}",
        match (before.dirty(), after.dirty()) {
            (0, _) => "nothing was dirty: the kernel had already written the page back itself",
            (_, 0) =>
                "msync wrote the page to disk and the kernel marked it clean; \
                 read(2) saw the bytes before any of that",
            _ =>
                "still dirty: this filesystem keeps files in memory, so there was no disk to write to",
        }
    );
    Ok(())
}
// ANCHOR_END: msync
