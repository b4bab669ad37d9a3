//! Zero copies: a ring of slots in shared memory, where the producer builds each message and
//! the consumer uses it in place.
//!
//! Why: the byte ring (ring.rs) copies every byte twice, into the ring and out of it, as a
//! pipe or a socket does; it only saves the system calls. What no kernel channel can do is
//! not copy at all. Here the producer asks for a free slot, writes its message straight into
//! it and publishes it; the consumer gets a read-only view of the oldest published slot,
//! reads the message where it lies, and releases the slot. PostgreSQL's buffer pool works
//! this way: a page read once into shared memory is used in place by every backend.
//!
//! The contract is the byte ring's, counted in slots: exactly one process reserves and
//! publishes, exactly one takes and releases. `published` counts the slots ever published
//! and only the producer writes it; `released` counts the slots ever released and only the
//! consumer writes it. Message number `n` lives in slot `n % slots`. A slot is handed over
//! whole: between `reserve` and `publish` only the producer touches it, between `publish`
//! and the release only the consumer reads it. That is what makes a `&mut [u8]` to the one
//! and a `&[u8]` to the other sound while they hold it.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Error, Result};
use l01_mmap::{Mapping, PG_MMAP_FLAGS, page_size};
use nix::sys::mman::ProtFlags;

// ANCHOR: layout
/// Where the counters sit in the first page of the mapping, each on a cache line of its own
/// (as in ring.rs), then each slot's message length; the slots start on the second page.
const PUBLISHED: usize = 0;
const RELEASED: usize = 128;
const LENGTHS: usize = 256;

/// `slots` slots of `slot_size` bytes each, in a `MAP_SHARED` mapping made before fork.
pub struct SlotRing {
    mapping: Mapping,
    slots: usize,
    slot_size: usize,
    /// Where slot 0 starts in the mapping: one page in, so that the slots can be protected
    /// on their own (the checks do).
    data: usize,
    /// In this process only: a slot is reserved, or taken, and not yet given back. One of
    /// each at a time, or two views of one slot could exist.
    reserving: Cell<bool>,
    holding: Cell<bool>,
}
// ANCHOR_END: layout

impl SlotRing {
    /// The most slots a ring may have: their lengths must fit in the first page.
    pub fn max_slots() -> usize {
        (page_size() - LENGTHS) / 8
    }

    /// An empty ring. The mapping is zeroed, so both counters start at 0.
    pub fn new(slots: usize, slot_size: usize) -> Result<SlotRing> {
        if !(1..=Self::max_slots()).contains(&slots)
            || slot_size == 0
            || !slot_size.is_multiple_of(128)
        {
            return Err(Error::Usage(format!(
                "a slot ring needs 1 to {} slots of a multiple of 128 bytes (whole cache \
                 lines), not {slots} of {slot_size}",
                Self::max_slots()
            )));
        }
        let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        let data = page_size();
        let mapping = Mapping::anonymous(data + slots * slot_size, rw, PG_MMAP_FLAGS)?;
        let (reserving, holding) = (Cell::new(false), Cell::new(false));
        Ok(SlotRing {
            mapping,
            slots,
            slot_size,
            data,
            reserving,
            holding,
        })
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Slots ever published. Written by the producer only.
    pub fn published(&self) -> &AtomicU64 {
        self.atomic(PUBLISHED)
    }

    /// Slots ever released. Written by the consumer only.
    pub fn released(&self) -> &AtomicU64 {
        self.atomic(RELEASED)
    }

    /// Changes what this process may do with the slots (only its own view of them): the
    /// checks make them read-only, or inaccessible, in a child, to see what a call touches.
    pub fn protect_data(&self, prot: ProtFlags) -> Result<()> {
        self.mapping
            .protect(self.data, self.slots * self.slot_size, prot)
    }

    fn length(&self, slot: usize) -> &AtomicU64 {
        self.atomic(LENGTHS + 8 * slot)
    }

    fn atomic(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: the offset is inside the first page (max_slots keeps the lengths there)
        // and 8-aligned; zeroed bytes are a valid AtomicU64, only ever used atomically by
        // any process; the borrow ends before the mapping does.
        unsafe { AtomicU64::from_ptr(self.mapping.as_ptr().add(offset).cast()) }
    }

    /// Where the slot of message `number` starts.
    fn slot(&self, number: u64) -> *mut u8 {
        let index = (number % self.slots as u64) as usize;
        // SAFETY: index < slots, so the slot lies inside the mapping.
        unsafe {
            self.mapping
                .as_ptr()
                .add(self.data + index * self.slot_size)
        }
    }
}

// ANCHOR: reserve
impl SlotRing {
    /// The next free slot, to build a message in, or `None` while every slot holds a message
    /// the consumer has not released. Called by the producer only.
    pub fn reserve(&self) -> Option<Reserved<'_>> {
        assert!(
            !self.reserving.get(),
            "one reserved slot at a time: publish it first"
        );
        // Our own counter: nobody else writes it.
        let number = self.published().load(Ordering::Relaxed);
        // Acquire: the consumer's reads of the slots below `released` happened before its
        // Release store of it, so they are over before we write into one of them again.
        let released = self.released().load(Ordering::Acquire);
        if number - released == self.slots as u64 {
            return None; // full
        }
        self.reserving.set(true);
        Some(Reserved { ring: self, number })
    }

    /// The oldest published message, to use in place, or `None` while there is none. The
    /// slot is released when the view is dropped. Called by the consumer only.
    pub fn take(&self) -> Option<Taken<'_>> {
        assert!(
            !self.holding.get(),
            "one taken slot at a time: release it first"
        );
        let number = self.released().load(Ordering::Relaxed); // our own counter
        // Acquire: pairs with the producer's Release store of `published`: the message
        // below it has been written, and we see all of it.
        if self.published().load(Ordering::Acquire) == number {
            return None; // empty
        }
        let slot = (number % self.slots as u64) as usize;
        let len = self.length(slot).load(Ordering::Relaxed) as usize;
        self.holding.set(true);
        Some(Taken {
            ring: self,
            number,
            len,
        })
    }
}
// ANCHOR_END: reserve

// ANCHOR: handles
/// A free slot, reserved by the producer: build the message in it, then publish it.
/// Dropping it unpublished gives it back (nothing was published).
pub struct Reserved<'a> {
    ring: &'a SlotRing,
    /// The message this slot will carry: its number in the stream.
    number: u64,
}

impl Reserved<'_> {
    /// The whole slot, to write the message into. Nobody else reads or writes it until
    /// it is published.
    pub fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the slot of message `number` is free: the consumer released the message
        // that was there before (reserve checked `number - released < slots`) and reads
        // no slot at or above `published`, which is still `number`. Only the producer
        // writes free slots, and this process holds one reservation at a time, so this
        // borrow of `self` is the only reference to those bytes while it lives.
        unsafe { std::slice::from_raw_parts_mut(self.ring.slot(self.number), self.ring.slot_size) }
    }

    /// Publishes the first `len` bytes of the slot as the next message.
    pub fn publish(self, len: usize) {
        assert!(
            len <= self.ring.slot_size,
            "a message of {len} bytes does not fit in a slot of {}",
            self.ring.slot_size
        );
        let slot = (self.number % self.ring.slots as u64) as usize;
        self.ring.length(slot).store(len as u64, Ordering::Relaxed);
        // Release: the message (and its length) written before this store is visible to
        // whoever sees the new count.
        self.ring
            .published()
            .store(self.number + 1, Ordering::Release);
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.ring.reserving.set(false);
    }
}

/// A published message, taken by the consumer: read it in place (it derefs to `&[u8]`);
/// dropping the view releases the slot to the producer.
pub struct Taken<'a> {
    ring: &'a SlotRing,
    number: u64,
    len: usize,
}

impl std::ops::Deref for Taken<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: message `number` is published (take saw it below `published`) and not yet
        // released: only the consumer releases, when this `Taken` is dropped, and the view
        // borrows it, so it ends first. Until the release the producer does not write that
        // slot (it reserves slot `n % slots` only once `n - released < slots`), so nobody
        // changes these bytes while the reference lives. The slot lies inside the mapping,
        // and `len` is at most `slot_size` (publish checks).
        unsafe { std::slice::from_raw_parts(self.ring.slot(self.number), self.len) }
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        // Release: our reads of the slot are over before the producer may write it again.
        self.ring
            .released()
            .store(self.number + 1, Ordering::Release);
        self.ring.holding.set(false);
    }
}
// ANCHOR_END: handles
