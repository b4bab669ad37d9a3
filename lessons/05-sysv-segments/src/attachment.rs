//! `Attachment`: one `shmat` of a segment, undone by `shmdt` in `Drop`.
//!
//! Attaching maps the segment into this process wherever the kernel finds room, and the
//! kernel counts it in `shm_nattch` until it is detached, by `shmdt` or by the process's
//! exit. Like lesson 01's `Mapping`, an attachment hands out a raw pointer only.

use std::ffi::c_void;
use std::ptr::NonNull;

use common::{Error, Result};
use nix::errno::Errno;

use crate::segment_stat;

// ANCHOR: attachment
/// One attachment of a segment (`shmat`), detached (`shmdt`) when dropped. Like lesson 01's
/// `Mapping`, it hands out a raw pointer only: other processes write this memory.
#[derive(Debug)]
pub struct Attachment {
    addr: NonNull<u8>,
    size: usize,
}

/// `shmat(shmid, NULL, 0)`: maps the segment read-write at an address the kernel picks.
pub fn attach(shmid: i32) -> Result<Attachment> {
    attach_with(shmid, 0)
}

/// `shmat(shmid, NULL, SHM_RDONLY)`: maps it read-only, to look at a segment that may be
/// somebody else's without any way to change it. A write through it is a SIGSEGV.
pub fn attach_read_only(shmid: i32) -> Result<Attachment> {
    attach_with(shmid, libc::SHM_RDONLY)
}

fn attach_with(shmid: i32, flags: i32) -> Result<Attachment> {
    let size = segment_stat(shmid)?.size;
    // SAFETY: with a null address the kernel picks a free range, so no Rust object is
    // affected; the result is either a new mapping or (void *) -1.
    let addr = unsafe { libc::shmat(shmid, std::ptr::null(), flags) };
    if addr as isize == -1 {
        return Err(Error::sys("shmat")(Errno::last()));
    }
    let addr = NonNull::new(addr.cast()).expect("shmat never returns NULL on success");
    Ok(Attachment { addr, size })
}

impl Attachment {
    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    /// The segment's size as created (`shm_segsz`); the mapping itself covers whole pages.
    pub fn size(&self) -> usize {
        self.size
    }
}

impl Attachment {
    /// Detaches the copy of this attachment that a forked child inherited, as PostgreSQL's
    /// `PGSharedMemoryDetach` does for a child that needs no shared memory. Each process has
    /// its own attachment after `fork`, so the parent's is unaffected.
    ///
    /// # Safety
    /// Only in a forked child, which never drops its copy of `self` (it leaves with `_exit`),
    /// and nothing may read or write through `self` afterwards: the pages are gone.
    pub unsafe fn detach_inherited(&self) -> Result<()> {
        // SAFETY: `addr` is where this process has the segment attached (inherited through
        // fork); the caller promises nobody uses the range after this.
        if unsafe { libc::shmdt(self.addr.as_ptr().cast::<c_void>()) } < 0 {
            return Err(Error::sys("shmdt")(Errno::last()));
        }
        Ok(())
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // SAFETY: `addr` came from our own successful shmat and is detached only here.
        let _ = unsafe { libc::shmdt(self.addr.as_ptr().cast::<c_void>()) };
    }
}
// ANCHOR_END: attachment

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IPC_PRIVATE, Segment};

    #[test]
    fn a_read_only_attachment_is_mapped_read_only() {
        let segment = Segment::create(IPC_PRIVATE, 100, 0o600).unwrap();
        let attachment = attach_read_only(segment.id()).unwrap();
        let start = format!("{:x}-", attachment.as_ptr() as usize);
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps.lines().find(|l| l.starts_with(&start)).unwrap();
        assert_eq!(line.split_whitespace().nth(1), Some("r--s"), "{line}");
    }
}
