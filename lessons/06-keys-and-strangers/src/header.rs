//! The header: the first bytes of every segment the course keys to a directory, saying whose
//! it is.
//!
//! Finding a segment at our key proves nothing: anybody may have picked the same key. So the
//! creator writes PostgreSQL's own header (`PGShmemHeader`) at offset 0, byte for byte as
//! PostgreSQL 9.4 to 18 lay it out on 64-bit Linux: a magic number for "made by this
//! program", the directory's device and inode for "for this directory". Byte for byte, so that
//! each side's check works on the other's segments: a real PostgreSQL sees a course server's
//! interlock as a live one and refuses to start beside it, and the course reads a real
//! server's as it is. The one field PostgreSQL never reads in a segment it finds,
//! `index`, carries the course's tag (`tag.rs`). It is published the way lesson 04 publishes a
//! structure (the fields, then the magic with `Release`), so a reader that finds the magic
//! finds the rest complete. Whether anybody still uses the segment is the kernel's
//! `shm_nattch`, not the header's to say.

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use l05_sysv_segments::Attachment;

use crate::keys::DirId;
use crate::tag::{course_tag, tagged_lesson};

// ANCHOR: header
/// PostgreSQL's `PGShmemMagic` (src/include/storage/pg_shmem.h): the number that says "a
/// PostgreSQL shared memory header" to whoever attaches the segment.
pub const MAGIC: i32 = 679_834_894;

/// PostgreSQL's `PGShmemHeader` (src/include/storage/pg_shmem.h, 9.4 to 18), for 64-bit
/// Linux: 56 bytes, each field at PostgreSQL's offset (the unit tests compare them).
/// `#[repr(C)]`, so the layout is C's in every process that maps it, whatever compiled it.
/// No Rust pointers: `index` is a C pointer in PostgreSQL, a plain number here.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Offset 0, `magic`: [`MAGIC`] once every other field is written; anything else: no
    /// header (or not yet).
    pub magic: i32,
    /// Offset 4, `creatorPID`: the process that made the segment. Shown, never trusted: it may
    /// be long gone and its number reused. `shm_nattch` says whether anyone is still there.
    pub creator_pid: i32,
    /// Offset 8, `totalsize`. The course writes the segment's own size (an interlock's is the
    /// header's, 56); a real server's interlock holds the size of all its shared memory, the
    /// anonymous mapping beside it.
    pub total_size: u64,
    /// Offset 16, `freeoffset`: where free space begins. The course allocates nothing after
    /// the header in these segments, so it writes the header's size, 56: what PostgreSQL
    /// writes too when it creates a segment (`PGSharedMemoryCreate`).
    pub free_offset: u64,
    /// Offset 24, `dsm_control`: the handle of PostgreSQL's dynamic shared memory control
    /// segment, 0 for none. The course makes no dynamic shared memory: always 0, which also
    /// tells a PostgreSQL that removes a stale segment of its directory that there are no
    /// dynamic segments to clean up after it. Then 4 bytes of padding, as in C.
    pub dsm_control: u32,
    /// Offset 32, `index`: in PostgreSQL, a pointer to the ShmemIndex table, meaningful in
    /// its own processes only (0 in the interlock of the default `shared_memory_type = mmap`).
    /// PostgreSQL never reads it from a segment it finds, so the course writes its tag here:
    /// see [`course_tag`](crate::course_tag).
    pub index: u64,
    /// Offsets 40 and 48, `device` and `inode`: the directory the segment belongs to (see
    /// [`DirId`]).
    pub device: u64,
    pub inode: u64,
}

impl Header {
    /// The header of a segment that lesson `lesson` makes now for directory `dir`.
    pub fn new(dir: DirId, total_size: usize, lesson: u8) -> Header {
        Header {
            magic: MAGIC,
            creator_pid: std::process::id() as i32,
            total_size: total_size as u64,
            free_offset: size_of::<Header>() as u64,
            dsm_control: 0,
            index: course_tag(lesson),
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

    /// The lesson whose tag `index` holds; `None`: not the course's header (a real server's).
    pub fn lesson(&self) -> Option<u8> {
        tagged_lesson(self.index)
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
        (&raw mut (*p).free_offset).write(header.free_offset);
        (&raw mut (*p).dsm_control).write(header.dsm_control);
        (&raw mut (*p).index).write(header.index);
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

/// The segment's header, if it is the course's: room for one, [`MAGIC`] at offset 0, and the
/// course's tag in `index`. Anything else is a stranger's memory, or a real PostgreSQL's
/// ([`read_pg_shmem_header`] reads that).
pub fn read_header(attachment: &Attachment) -> Option<Header> {
    read_pg_shmem_header(attachment).filter(|header| header.lesson().is_some())
}

/// The segment's header read the way PostgreSQL's `PGSharedMemoryAttach` reads it: any
/// segment with room for one and [`MAGIC`] at offset 0, the course's or a real server's.
pub fn read_pg_shmem_header(attachment: &Attachment) -> Option<Header> {
    if read_magic(attachment)? != MAGIC {
        return None;
    }
    let p = attachment.as_ptr().cast::<Header>();
    // SAFETY: in bounds and aligned (as in write_header). Each field is read by an atomic
    // load, sound whoever writes there: after the Acquire load of MAGIC, a header of ours is
    // complete (write_header stores MAGIC last, with Release). PostgreSQL stores its magic
    // before the rest, so a header read while a server creates it may show zeros for a
    // moment, which compare as another directory's, as they would to PostgreSQL.
    Some(unsafe {
        let u64_at = |field: *mut u64| AtomicU64::from_ptr(field).load(Ordering::Relaxed);
        Header {
            magic: MAGIC,
            creator_pid: AtomicI32::from_ptr(&raw mut (*p).creator_pid).load(Ordering::Relaxed),
            total_size: u64_at(&raw mut (*p).total_size),
            free_offset: u64_at(&raw mut (*p).free_offset),
            dsm_control: AtomicU32::from_ptr(&raw mut (*p).dsm_control).load(Ordering::Relaxed),
            index: u64_at(&raw mut (*p).index),
            device: u64_at(&raw mut (*p).device),
            inode: u64_at(&raw mut (*p).inode),
        }
    })
}
// ANCHOR_END: header

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;
    use l05_sysv_segments::{IPC_PRIVATE, Segment, attach};

    /// The offsets of `PGShmemHeader` in src/include/storage/pg_shmem.h (PostgreSQL 9.4 to
    /// 18) on 64-bit Linux, where `pid_t` and `dsm_handle` are 4 bytes, `Size`, pointers,
    /// `dev_t` and `ino_t` 8, and C pads `dsm_control` to the pointer's alignment.
    #[test]
    fn the_header_is_postgresqls_pg_shmem_header_byte_for_byte() {
        assert_eq!(offset_of!(Header, magic), 0);
        assert_eq!(offset_of!(Header, creator_pid), 4);
        assert_eq!(offset_of!(Header, total_size), 8);
        assert_eq!(offset_of!(Header, free_offset), 16);
        assert_eq!(offset_of!(Header, dsm_control), 24);
        assert_eq!(offset_of!(Header, index), 32);
        assert_eq!(offset_of!(Header, device), 40);
        assert_eq!(offset_of!(Header, inode), 48);
        assert_eq!(
            size_of::<Header>(),
            56,
            "a real server's interlock is 56 bytes"
        );
        // The C types behind the Rust ones, as libc declares them for this target.
        assert_eq!(size_of::<libc::pid_t>(), size_of::<i32>());
        assert_eq!(size_of::<libc::size_t>(), size_of::<u64>());
        assert_eq!(size_of::<*const u8>(), size_of::<u64>());
        assert_eq!(size_of::<libc::dev_t>(), size_of::<u64>());
        assert_eq!(size_of::<libc::ino_t>(), size_of::<u64>());
    }

    #[test]
    fn the_course_fills_the_fields_it_has_no_use_for_as_postgresql_does() {
        let dir = DirId {
            device: 65024,
            inode: 10_010_690,
        };
        let header = Header::new(dir, 1024, 6);
        assert_eq!((header.magic, header.total_size), (MAGIC, 1024));
        assert_eq!(header.free_offset, 56, "the header's size");
        assert_eq!(header.dsm_control, 0, "no dynamic shared memory");
        assert_eq!((header.lesson(), header.dir()), (Some(6), dir));
    }

    #[test]
    fn a_header_without_the_course_tag_is_postgresqls_not_ours() {
        let segment = Segment::create(IPC_PRIVATE, 4096, 0o600).unwrap();
        let attachment = attach(segment.id()).unwrap();
        let dir = DirId::of(&std::env::temp_dir()).unwrap();
        let theirs = Header {
            index: 0, // a real server's interlock: PostgreSQL never sets it there
            ..Header::new(dir, 148_324_352, 6)
        };
        write_header(&attachment, &theirs);
        assert_eq!(read_header(&attachment), None);
        assert_eq!(read_pg_shmem_header(&attachment), Some(theirs));
        let ours = Header::new(dir, 4096, 14);
        write_header(&attachment, &ours);
        assert_eq!(read_header(&attachment), Some(ours));
    }

    #[test]
    fn a_segment_smaller_than_a_header_has_no_magic() {
        let segment = Segment::create(IPC_PRIVATE, 8, 0o600).unwrap();
        let attachment = attach(segment.id()).unwrap();
        assert_eq!(read_magic(&attachment), None);
        assert_eq!(read_header(&attachment), None);
    }
}
