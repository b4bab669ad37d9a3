//! Buffers that start on a page boundary, as the rings' data does.
//!
//! Why: how fast a copy runs depends on how its source and its target are aligned. On some
//! CPUs (this course's AMD EPYC among them) copying 16 KiB from a page boundary to 8 bytes
//! past one takes twenty times as long as copying it between two page boundaries. A buffer
//! from the heap starts wherever the allocator put it, so the same program would measure a
//! fast ring in one run and a slow one in the next. Every buffer a chunk is built in,
//! copied to or copied from therefore starts on a page, for every channel alike. PostgreSQL
//! aligns its shared buffers and I/O buffers the same way (`PG_IO_ALIGN_SIZE`).

use std::ops::{Deref, DerefMut};

use l01_mmap::page_size;

/// `len` zeroed bytes starting on a page boundary (inside a heap buffer a page longer).
pub struct PageAligned {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl PageAligned {
    pub fn new(len: usize) -> PageAligned {
        let storage = vec![0u8; len + page_size()];
        let start = storage.as_ptr().align_offset(page_size());
        PageAligned {
            storage,
            start,
            len,
        }
    }
}

impl Deref for PageAligned {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

impl DerefMut for PageAligned {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}
