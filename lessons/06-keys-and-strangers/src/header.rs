//! The header: the first bytes of every segment this lesson makes, saying whose it is.
//!
//! Finding a segment at our key proves nothing: anybody may have picked the same key. So the
//! creator writes PostgreSQL's idea of a header (`PGShmemHeader`) at offset 0: a magic number
//! for "made by this program", the directory's device and inode for "for this directory".
//! It is published the way lesson 04 publishes a structure (the fields, then the magic with
//! `Release`), so a reader that finds the magic finds the rest complete. What the header
//! cannot say is whether anybody still uses the segment: that is the kernel's `shm_nattch`.

use std::sync::atomic::{AtomicI32, Ordering};

use l05_sysv_segments::Attachment;

use crate::keys::DirId;

// ANCHOR: header
/// PostgreSQL's `PGShmemMagic` (src/include/storage/pg_shmem.h), borrowed: the number that
/// says "one of ours" to whoever attaches the segment.
pub const MAGIC: i32 = 679_834_894;

/// The first bytes of every segment this lesson makes, like PostgreSQL's `PGShmemHeader`.
/// `#[repr(C)]`, so its layout is the same in every process that maps it, whatever compiled
/// it; plain numbers only, no pointers (they would mean nothing in another process).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// [`MAGIC`] once every other field is written; anything else: not ours (or not yet).
    pub magic: i32,
    /// The process that made the segment. Shown, never trusted: the process may be long gone
    /// and its number reused. `shm_nattch` is what says whether anyone is still there.
    pub creator_pid: i32,
    /// The segment's size, as created.
    pub total_size: u64,
    /// The directory the segment belongs to (see [`DirId`]).
    pub device: u64,
    pub inode: u64,
}

impl Header {
    /// The header of a segment this process makes now for directory `dir`.
    pub fn new(dir: DirId, total_size: usize) -> Header {
        Header {
            magic: MAGIC,
            creator_pid: std::process::id() as i32,
            total_size: total_size as u64,
            device: dir.device,
            inode: dir.inode,
        }
    }

    pub fn dir(&self) -> DirId {
        DirId {
            device: self.device,
            inode: self.inode,
        }
    }
}

/// Writes `header` at offset 0 of the segment: every other field first, then the magic with
/// `Release`, so that whoever reads the magic with `Acquire` ([`read_header`]) and finds
/// [`MAGIC`] also finds the rest complete. Panics if the segment is too small to hold it.
pub fn write_header(attachment: &Attachment, header: &Header) {
    assert!(
        attachment.size() >= size_of::<Header>(),
        "no room for a header"
    );
    let p = attachment.as_ptr().cast::<Header>();
    // SAFETY: the segment holds a whole Header (asserted) and starts on a page boundary, so
    // `p` is aligned for it. Nobody reads the other fields before seeing MAGIC, which is
    // stored last; the magic itself is only ever accessed atomically.
    unsafe {
        (&raw mut (*p).creator_pid).write(header.creator_pid);
        (&raw mut (*p).total_size).write(header.total_size);
        (&raw mut (*p).device).write(header.device);
        (&raw mut (*p).inode).write(header.inode);
        AtomicI32::from_ptr(&raw mut (*p).magic).store(header.magic, Ordering::Release);
    }
}

/// The first four bytes of the segment, as a magic number; `None` if the segment is smaller
/// than a [`Header`] (then it is certainly not ours).
pub fn read_magic(attachment: &Attachment) -> Option<i32> {
    if attachment.size() < size_of::<Header>() {
        return None;
    }
    let p = attachment.as_ptr().cast::<Header>();
    // SAFETY: in bounds and aligned (as in write_header); an atomic load is sound even while
    // another process writes there.
    Some(unsafe { AtomicI32::from_ptr(&raw mut (*p).magic).load(Ordering::Acquire) })
}

/// The segment's header, if it has ours: room for one and [`MAGIC`] at offset 0. Anything
/// else is a stranger's memory, which we do not interpret.
pub fn read_header(attachment: &Attachment) -> Option<Header> {
    if read_magic(attachment)? != MAGIC {
        return None;
    }
    let p = attachment.as_ptr().cast::<Header>();
    // SAFETY: the Acquire load of MAGIC above synchronizes with write_header's Release
    // store, after which the other fields never change.
    Some(unsafe {
        Header {
            magic: MAGIC,
            creator_pid: (&raw const (*p).creator_pid).read(),
            total_size: (&raw const (*p).total_size).read(),
            device: (&raw const (*p).device).read(),
            inode: (&raw const (*p).inode).read(),
        }
    })
}
// ANCHOR_END: header

#[cfg(test)]
mod tests {
    use super::*;
    use l05_sysv_segments::{IPC_PRIVATE, Segment, attach};

    #[test]
    fn the_header_is_laid_out_like_c_would() {
        assert_eq!(size_of::<Header>(), 32);
        assert_eq!(std::mem::offset_of!(Header, device), 16);
    }

    #[test]
    fn a_segment_smaller_than_a_header_has_no_magic() {
        let segment = Segment::create(IPC_PRIVATE, 8, 0o600).unwrap();
        let attachment = attach(segment.id()).unwrap();
        assert_eq!(read_magic(&attachment), None);
        assert_eq!(read_header(&attachment), None);
    }
}
