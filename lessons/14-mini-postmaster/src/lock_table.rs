//! The lock table: where backends record the relation lock they hold (PostgreSQL's
//! `LockAcquire`, in small). A fixed array of atomic counters, with one lock mode that never
//! conflicts, `RowExclusiveLock`, the one every `UPDATE` takes on its table: nobody waits
//! here, and the table shows who holds what.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use common::{Error, Result};

use crate::Pool;

// ANCHOR: structures
/// The table's relation number, as its file in the data directory is named.
pub const RELATION: u32 = 16384;
/// Slots in the lock table.
pub const LOCK_SLOTS: usize = 16;

/// One relation lock: which relation, how many hold it now, how often it was granted.
#[repr(C)]
pub struct LockSlot {
    pub relation: AtomicU32,
    pub held: AtomicU32,
    pub granted: AtomicU64,
}

/// The lock table: a fixed array, searched from `relation % LOCK_SLOTS` on.
#[repr(C)]
pub struct LockTable {
    pub slots: [LockSlot; LOCK_SLOTS],
}
// ANCHOR_END: structures

impl Pool<'_> {
    /// The lock table: only atomics.
    pub fn lock_table(&self) -> &LockTable {
        // SAFETY: inside the region, cache-line aligned, zeroed by the allocator (a valid
        // empty table of atomics).
        unsafe { &*self.shmem.ptr(self.lock_table).cast::<LockTable>() }
    }

    // ANCHOR: lock_table
    /// Takes a lock on `relation` in the lock table (`LockAcquire`, with one mode only,
    /// that never conflicts: `RowExclusiveLock`, as every UPDATE takes).
    pub fn lock_relation(&self, relation: u32) -> Result<()> {
        let slots = &self.lock_table().slots;
        for probe in 0..LOCK_SLOTS {
            let slot = &slots[(relation as usize + probe) % LOCK_SLOTS];
            let owner = match slot.relation.compare_exchange(
                0,
                relation,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => relation,
                Err(now) => now,
            };
            if owner == relation {
                slot.held.fetch_add(1, Ordering::AcqRel);
                slot.granted.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
        Err(Error::Failed(
            "out of shared memory: the lock table is full".into(),
        ))
    }

    /// Gives the lock back (`LockRelease`).
    pub fn unlock_relation(&self, relation: u32) {
        if let Some(slot) = self.lock_slot(relation) {
            slot.held.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The lock table's slot for `relation`, if it has one.
    fn lock_slot(&self, relation: u32) -> Option<&LockSlot> {
        let slots = &self.lock_table().slots;
        (0..LOCK_SLOTS)
            .map(|probe| &slots[(relation as usize + probe) % LOCK_SLOTS])
            .find(|slot| slot.relation.load(Ordering::Acquire) == relation)
    }
    // ANCHOR_END: lock_table
}
