//! A single-producer single-consumer ring of bytes in shared memory.
//!
//! Why it is fast: moving a byte from one process to another through the kernel (a pipe, a
//! socket) costs two copies and two system calls per chunk, and a sleep and a wake-up
//! whenever one side waits for the other. Through a ring in memory both processes map, it
//! costs one copy in and one copy out, in user space, and the only thing the two sides
//! exchange is two counters.
//!
//! The contract that makes it correct without a lock: exactly one process pushes and exactly
//! one process pops. `head` counts the bytes ever pushed and only the producer writes it;
//! `tail` counts the bytes ever popped and only the consumer writes it. Byte number `n` of
//! the stream lives at `n % capacity`. The producer may write where the consumer is done
//! (below `tail + capacity`), the consumer may read what the producer has published (below
//! `head`): each side publishes its counter with Release after its copy, and reads the
//! other's with Acquire before its own. `push` and `pop` are the lesson's exercise.

use std::sync::atomic::AtomicU64;

use common::{Error, Result};
use l01_mmap::{Mapping, PG_MMAP_FLAGS, page_size};
pub use nix::sys::mman::ProtFlags;

pub use crate::exercise::{pop, push};

// ANCHOR: layout
/// Where the counters sit in the ring's mapping. Each has a cache line to itself (128
/// bytes: some CPUs fetch lines in pairs), so that the producer's writes to `head` do not
/// steal the line holding `tail` from the consumer, and the other way round. The data
/// starts on the next page.
const HEAD: usize = 0;
const TAIL: usize = 128;

/// A ring of `capacity` bytes (a power of two) in a `MAP_SHARED` mapping made before fork.
pub struct Ring {
    mapping: Mapping,
    capacity: usize,
    /// Where the data starts in the mapping: one page in, so that it can be protected on
    /// its own (the exercise checks do).
    data: usize,
}
// ANCHOR_END: layout

impl Ring {
    /// An empty ring. The mapping is zeroed, so both counters start at 0.
    pub fn new(capacity: usize) -> Result<Ring> {
        if !capacity.is_power_of_two() {
            return Err(Error::Usage(format!(
                "a ring's capacity must be a power of two, not {capacity}"
            )));
        }
        let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        let data = page_size();
        let mapping = Mapping::anonymous(data + capacity, rw, PG_MMAP_FLAGS)?;
        Ok(Ring {
            mapping,
            capacity,
            data,
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes what this process may do with the ring's data pages (only its own view of
    /// them): the exercise checks make them read-only to see what `push` did before copying.
    pub fn protect_data(&self, prot: ProtFlags) -> Result<()> {
        self.mapping.protect(self.data, self.capacity, prot)
    }

    /// Bytes ever pushed. Written by the producer only.
    pub fn head(&self) -> &AtomicU64 {
        self.counter(HEAD)
    }

    /// Bytes ever popped. Written by the consumer only.
    pub fn tail(&self) -> &AtomicU64 {
        self.counter(TAIL)
    }

    fn counter(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: the offset is inside the mapping and 8-aligned (mappings are page-aligned);
        // the zeroed bytes are a valid AtomicU64, only ever used atomically by any process;
        // the borrow ends before the mapping does.
        unsafe { AtomicU64::from_ptr(self.mapping.as_ptr().add(offset).cast()) }
    }

    // ANCHOR: copies
    /// Copies `bytes` into the ring's data at `position` (0 to capacity - 1). A copy must not
    /// run past the end: a piece that wraps around is two copies.
    ///
    /// # Safety
    /// No other process reads or writes those bytes during the copy: they are free (the
    /// consumer popped them, or never got there).
    pub unsafe fn copy_in(&self, position: usize, bytes: &[u8]) {
        self.check_piece(position, bytes.len());
        // SAFETY: in bounds (checked above), and the caller promises nobody else touches
        // the destination; `bytes` is our own memory, which cannot overlap the ring's.
        unsafe {
            let at = self.mapping.as_ptr().add(self.data + position);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), at, bytes.len());
        }
    }

    /// Copies bytes out of the ring's data at `position` into `out`. Same rules as
    /// [`Ring::copy_in`].
    ///
    /// # Safety
    /// Those bytes are published (the producer pushed them) and not yet popped, so nobody
    /// writes them during the copy.
    pub unsafe fn copy_out(&self, position: usize, out: &mut [u8]) {
        self.check_piece(position, out.len());
        // SAFETY: in bounds (checked above); the caller promises nobody writes the source.
        unsafe {
            let at = self.mapping.as_ptr().add(self.data + position);
            std::ptr::copy_nonoverlapping(at, out.as_mut_ptr(), out.len());
        }
    }
    // ANCHOR_END: copies

    fn check_piece(&self, position: usize, len: usize) {
        assert!(
            position < self.capacity && len <= self.capacity - position,
            "a copy of {len} bytes at position {position} runs past the end of a ring of {} \
             bytes: position = count % capacity, and a piece that wraps around is two copies",
            self.capacity
        );
    }
}

// ANCHOR: send
/// Pushes all of `data`, waiting while the ring is full.
pub fn send(ring: &Ring, mut data: &[u8]) {
    let mut waited = 0;
    while !data.is_empty() {
        match push(ring, data) {
            0 => wait_a_little(&mut waited),
            pushed => (data, waited) = (&data[pushed..], 0),
        }
    }
}

/// Fills all of `out`, waiting while the ring is empty.
pub fn receive(ring: &Ring, out: &mut [u8]) {
    let (mut filled, mut waited) = (0, 0);
    while filled < out.len() {
        match pop(ring, &mut out[filled..]) {
            0 => wait_a_little(&mut waited),
            popped => (filled, waited) = (filled + popped, 0),
        }
    }
}
// ANCHOR_END: send

/// One step of waiting for the other side: a spin hint, and after many of them, the CPU
/// given up (`sched_yield`), in case the other side is waiting for this very CPU.
pub fn wait_a_little(waited: &mut u32) {
    *waited = waited.saturating_add(1);
    if *waited < SPINS_BEFORE_YIELD {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// How many spin hints a waiter gives before it starts giving its CPU away: a few
/// microseconds, far longer than the other side takes to answer when it is running on
/// another CPU, far shorter than a time slice.
pub const SPINS_BEFORE_YIELD: u32 = 100;
