//! The index of names, PostgreSQL's `ShmemIndex`, and the guard through which it is read
//! and changed.
//!
//! Any process may look a name up or add one at any time, so the index is touched only
//! under `ShmemIndexLock`. Rather than trust every caller to hold that lock, the index is
//! reached only through an [`IndexGuard`]: [`Shmem::lock_index`] takes the lock and returns
//! the guard, the guard's methods are the only way to the entries, and dropping it releases
//! the lock. A guard proves that the lock is held; how long it must be held is the
//! caller's question (`init_struct`, the exercise, holds one from look-up to insert).

use std::ptr::addr_of;

use l08_races::{Guard, ProcessLock};

use crate::{IndexEntry, IndexHeader, NAME_LEN, RegionLock, Shmem, ShmemError, encode_name};

// ANCHOR: lock_index
/// Proof that this process holds `ShmemIndexLock`, and the only way to the index's entries.
/// Dropping it releases the lock.
#[must_use = "the index lock is released as soon as the guard is dropped"]
pub struct IndexGuard<'a> {
    shmem: Shmem<'a>,
    _held: Guard<'a, RegionLock>,
}

impl<'a> Shmem<'a> {
    /// Takes `ShmemIndexLock` and returns the guard that holds it. An error only if the
    /// lock stays taken for minutes (stuck: its holder most likely died holding it).
    #[track_caller]
    pub fn lock_index(&self) -> Result<IndexGuard<'a>, ShmemError> {
        // SAFETY: the lock lives in the region's header for 'a, and is only used atomically.
        let lock: &'a RegionLock = unsafe { &*addr_of!((*self.header()).index_lock) };
        let held = lock.lock().map_err(|stuck| ShmemError::Stuck {
            lock: "ShmemIndexLock",
            why: stuck.to_string(),
        })?;
        Ok(IndexGuard {
            shmem: *self,
            _held: held,
        })
    }
}
// ANCHOR_END: lock_index

impl Shmem<'_> {
    /// How many entries the index can hold.
    pub fn index_capacity(&self) -> usize {
        // SAFETY: written before fork, read-only since.
        unsafe { (*self.index()).capacity as usize }
    }

    /// Every entry, copied out under the index lock (in the order they were made). A lock
    /// stuck for minutes is a panic here, as it is a PANIC in PostgreSQL.
    pub fn entries(&self) -> Vec<IndexEntry> {
        let index = self.lock_index().unwrap_or_else(|stuck| panic!("{stuck}"));
        index.entries()
    }

    /// Looks a structure up by name without creating it: under the index lock.
    pub fn find(&self, name: &str) -> Result<Option<IndexEntry>, ShmemError> {
        let key = encode_name(name)?;
        Ok(self.lock_index()?.lookup(&key))
    }

    fn index(&self) -> *mut IndexHeader {
        // SAFETY: index_offset is written before fork, read-only since.
        let offset = unsafe { (*self.header()).index_offset } as usize;
        self.ptr(offset).cast()
    }
}

// ANCHOR: index_ops
impl IndexGuard<'_> {
    /// The entry named `key`, if the index has one.
    pub fn lookup(&self, key: &[u8; NAME_LEN]) -> Option<IndexEntry> {
        (0..self.used())
            .map(|slot| self.entry(slot))
            .find(|entry| entry.name == *key)
    }

    /// Whether every entry is in use (check before allocating, so that a full index does
    /// not leave an allocation nobody can find).
    pub fn is_full(&self) -> bool {
        // SAFETY: we hold the index lock, so nobody changes the index header meanwhile.
        let index = unsafe { self.shmem.index().read() };
        index.used >= index.capacity
    }

    /// Adds `entry` after the last one: writes the entry first, then counts it. Panics if
    /// the index is full (see [`IndexGuard::is_full`]).
    pub fn insert(&mut self, entry: IndexEntry) {
        let index = self.shmem.index();
        // SAFETY: we hold the index lock; slot `used` is checked to be a free entry inside
        // the index's allocation before it is written.
        unsafe {
            let used = (*index).used as usize;
            assert!(used < (*index).capacity as usize, "the index is full");
            self.slot(used).write(entry);
            (*index).used = used as u64 + 1;
        }
    }
}
// ANCHOR_END: index_ops

impl IndexGuard<'_> {
    /// Every entry in use, copied out.
    pub fn entries(&self) -> Vec<IndexEntry> {
        (0..self.used()).map(|slot| self.entry(slot)).collect()
    }

    /// Entries `0..used` are whole: an insert writes an entry before it counts it.
    fn used(&self) -> usize {
        // SAFETY: we hold the index lock, so nobody changes `used` meanwhile.
        unsafe { (*self.shmem.index()).used as usize }
    }

    /// A copy of entry `slot`, one of `0..used`.
    fn entry(&self, slot: usize) -> IndexEntry {
        debug_assert!(slot < self.used());
        // SAFETY: we hold the index lock, and the slot is in use, so the entry is whole.
        unsafe { self.slot(slot).read() }
    }

    /// Where entry `slot` lies. Panics unless `slot` is below the index's capacity.
    fn slot(&self, slot: usize) -> *mut IndexEntry {
        assert!(
            slot < self.shmem.index_capacity(),
            "slot {slot} is past the index"
        );
        // SAFETY: slot < capacity (checked), so the entry lies in the index's allocation;
        // entries are 8-aligned after a 16-byte header at a cache-line boundary.
        unsafe { self.shmem.index().add(1).cast::<IndexEntry>().add(slot) }
    }
}
