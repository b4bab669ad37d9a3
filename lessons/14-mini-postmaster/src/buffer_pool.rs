//! The buffer pool: "Buffer Descriptors" (one per buffer: which block, dirty or not),
//! "Buffer Blocks" (the 8 kB pages themselves) and "Buffer Content Locks" (one lesson-11
//! LWLock per page, made in place in the region).
//!
//! A page's rows are plain `u64`s, not atomics: its LWLock guards them. Read a page under
//! the lock held shared, change it under the lock held exclusive, and only through the raw
//! pointer [`Pool::page`] gives. Buffer `n` always holds block `n` of the table: there is no
//! buffer mapping, no reading from disk, no pins.

use std::sync::atomic::{AtomicU32, Ordering};

use common::Result;
use l11_lwlock::LwLock;

use crate::{DataFiles, Mode, Pool};

// ANCHOR: structures
/// PostgreSQL's `BLCKSZ`: a page, in a buffer and in the data file.
pub const BLOCK_SIZE: usize = 8192;
/// Rows in a page: the lesson's table is pages of `u64` counters.
pub const ROWS_PER_PAGE: usize = 32;

/// The start of every page: the LSN of the last WAL record that changed it (`pd_lsn`),
/// then the rows. The rest of the 8 kB stays zero.
#[repr(C)]
pub struct Page {
    pub lsn: u64,
    pub rows: [u64; ROWS_PER_PAGE],
}

/// One buffer's descriptor (`BufferDesc`), padded to 64 bytes as PostgreSQL pads its own.
/// PostgreSQL keeps the page's content lock in here too; lesson 11's `LwLock` carries its
/// own 72 process slots (4.6 kB), so ours sit in an array of their own beside.
#[repr(C, align(64))]
pub struct BufferDesc {
    /// Which block of the relation the buffer holds (`tag`).
    pub block: u32,
    /// [`DIRTY`] once changed, until a writer (the background writer or the checkpointer)
    /// has written it out.
    pub flags: AtomicU32,
}

/// `BM_DIRTY`: the page in memory is newer than the page on disk.
pub const DIRTY: u32 = 1;
// ANCHOR_END: structures

impl Pool<'_> {
    pub(crate) fn descriptor_ptr(&self, buffer: usize) -> *mut BufferDesc {
        assert!(buffer < self.buffers, "buffer {buffer} does not exist");
        // SAFETY: inside "Buffer Descriptors" (checked above).
        unsafe {
            self.shmem
                .ptr(self.descriptors)
                .cast::<BufferDesc>()
                .add(buffer)
        }
    }

    pub(crate) fn lock_ptr(&self, buffer: usize) -> *mut LwLock {
        assert!(buffer < self.buffers, "buffer {buffer} does not exist");
        // SAFETY: inside "Buffer Content Locks" (checked above).
        unsafe { self.shmem.ptr(self.locks).cast::<LwLock>().add(buffer) }
    }

    /// Buffer `buffer`'s descriptor. Its `block` is written before fork only; `flags` is
    /// an atomic: a shared reference is fine.
    pub fn descriptor(&self, buffer: usize) -> &BufferDesc {
        // SAFETY: see above; the region outlives 'a.
        unsafe { &*self.descriptor_ptr(buffer) }
    }

    /// Buffer `buffer`'s page. Read or write it only while holding [`Pool::page_lock`]
    /// (shared to read, exclusive to write), and only through the raw pointer.
    pub fn page(&self, buffer: usize) -> *mut Page {
        assert!(buffer < self.buffers, "buffer {buffer} does not exist");
        self.shmem.ptr(self.blocks + buffer * BLOCK_SIZE).cast()
    }

    /// The LWLock that guards buffer `buffer`'s page (PostgreSQL's `content_lock`).
    pub fn page_lock(&self, buffer: usize) -> &LwLock {
        // SAFETY: initialized in place by `attach` before any process could use it; it is
        // only atomics and semaphores, meant to be shared.
        unsafe { &*self.lock_ptr(buffer) }
    }

    // ANCHOR: write_page
    /// `FlushBuffer`: if buffer `buffer` is dirty, writes its page to the table's file,
    /// WAL first (the WAL is flushed up to the page's LSN before the page is written), all
    /// while holding the page's lock shared, so that nobody changes it meanwhile and two
    /// writers can only write the same version. Returns whether it wrote.
    pub fn write_page(&self, buffer: usize, files: &DataFiles) -> Result<bool> {
        let desc = self.descriptor(buffer);
        if desc.flags.load(Ordering::Acquire) & DIRTY == 0 {
            return Ok(false);
        }
        let _shared = self.page_lock(buffer).hold(Mode::Shared);
        // SAFETY: we hold the page's lock: nobody writes the page while we copy it.
        let (lsn, copy) = unsafe {
            let bytes = std::slice::from_raw_parts(self.page(buffer).cast::<u8>(), BLOCK_SIZE);
            ((*self.page(buffer)).lsn, bytes.to_vec())
        };
        self.flush_wal(lsn, files)?;
        desc.flags.fetch_and(!DIRTY, Ordering::AcqRel);
        files.write_page(desc.block, &copy)?;
        Ok(true)
    }
    // ANCHOR_END: write_page
}
