//! Step 4: the region at another address. Offsets, not pointers.
//!
//! A child copies the region's bytes to its heap, attaches to the copy (checking the magic
//! first) and finds "XLOG Ctl" there, at the same offset, with the same greeting: nothing in
//! the bytes depends on where they are. The copy is private; it proves the layout only.

use std::alloc::Layout;
use std::ptr::NonNull;

use common::{Error, Exit, Result, child, fork_child, parent, section};
use l13_shmem_index::Shmem;

use crate::{XLOG_GREETING, read_bytes};

// ANCHOR: another_address
pub fn another_address(shmem: &Shmem, size: usize) -> Result<()> {
    section("4. At another address: offsets, not pointers");
    let child = fork_child(|| {
        // A private copy of the region's bytes, on the heap: another address. A copy is not
        // shared (writes to it stay here), but it shows that nothing in the bytes depends on
        // where they are: the header, the index, the entries hold offsets only.
        let layout = Layout::from_size_align(size, 4096).expect("a valid layout");
        // SAFETY: the layout is not zero-sized (the region holds at least a header).
        let Some(copy) = NonNull::new(unsafe { std::alloc::alloc(layout) }) else {
            return 2;
        };
        // SAFETY: both ranges are `size` bytes long, and the copy is fresh. The other
        // processes are waiting for us, so nobody changes the region while we copy it.
        unsafe { copy.as_ptr().copy_from_nonoverlapping(shmem.base(), size) };
        // SAFETY: the copy is ours, `size` bytes, page-aligned, and lives until dealloc.
        let Ok(there) = (unsafe { Shmem::attach(copy, size) }) else {
            return 3;
        };
        let moved = there.base() != shmem.base();
        let entry = there.find("XLOG Ctl").ok().flatten();
        let status = match entry {
            Some(entry) => {
                let offset = entry.offset as usize;
                // SAFETY: the entry's 520 bytes lie inside the copy.
                let greeting = unsafe { read_bytes(there.ptr(offset), XLOG_GREETING.len()) };
                child!(
                    "child pid {}: copied the region to {:p}; a different address: {moved}",
                    std::process::id(),
                    there.base()
                );
                child!("attach() checked the magic; find(\"XLOG Ctl\") -> offset {offset}");
                child!(
                    "  base + {offset} = {:p} reads \"{greeting}\"",
                    there.ptr(offset)
                );
                0
            }
            None => 4,
        };
        // SAFETY: allocated above with this layout, and no longer used.
        unsafe { std::alloc::dealloc(copy.as_ptr(), layout) };
        status
    })?;
    let pid = child.pid();
    match child.wait()? {
        Exit::Code(0) => {}
        exit => return Err(Error::Failed(format!("child pid {pid} {exit}"))),
    }
    parent!("PostgreSQL maps its region at the same address in every process and stores");
    parent!("pointers; with offsets the region would work at any address, as it did here");
    Ok(())
}
// ANCHOR_END: another_address
