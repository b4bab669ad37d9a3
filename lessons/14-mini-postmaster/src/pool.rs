//! One process's view of the shared structures: where each one is, in this process.
//!
//! The region holds offsets only (lesson 04): each process finds every structure by name in
//! lesson 13's index and turns the offsets into pointers of its own. The postmaster calls
//! [`Pool::attach`] first and creates them all; every child calls it again and finds them
//! all, at the same offsets (PostgreSQL's `CreateSharedMemoryAndSemaphores` and the
//! `*ShmemInit` functions work this way). The buffer pool, the WAL and the lock table add
//! their own methods to [`Pool`], each in its file.

use l11_lwlock::LwLock;
use l13_shmem_index::{Shmem, init_struct};

use common::Result;

use crate::{RECORD_SIZE, structures};

/// One process's view of the shared structures: where each one is, in this process.
pub struct Pool<'a> {
    pub shmem: Shmem<'a>,
    pub buffers: usize,
    pub(crate) descriptors: usize,
    pub(crate) blocks: usize,
    pub(crate) locks: usize,
    pub(crate) wal_ctl: usize,
    pub(crate) wal: usize,
    pub(crate) lock_table: usize,
}

// ANCHOR: attach
/// What `init_struct` answered for one structure: its name, its offset, whether it was found.
pub type Found = (String, usize, bool);

impl<'a> Pool<'a> {
    /// Finds every structure by name, creating and initializing those not found yet
    /// (`CreateSharedMemoryAndSemaphores`: in the postmaster, all are created; in a child,
    /// all are found). Returns the view and, for each structure, whether it was found.
    pub fn attach(
        shmem: Shmem<'a>,
        buffers: usize,
        wal_records: usize,
    ) -> Result<(Pool<'a>, Vec<Found>)> {
        let mut found = Vec::new();
        for part in structures(buffers, wal_records) {
            let (offset, was_there) = init_struct(&shmem, &part.name, part.size)?;
            found.push((part.name, offset, was_there));
        }
        let at = |i: usize| found[i].1;
        let pool = Pool {
            shmem,
            buffers,
            descriptors: at(0),
            blocks: at(1),
            locks: at(2),
            wal_ctl: at(3),
            wal: at(4),
            lock_table: at(5),
        };
        // New memory is zeroed: only what must not start at zero is set here.
        if !found[0].2 {
            for buffer in 0..buffers {
                // SAFETY: the descriptors were just allocated (zeroed, 64-aligned, room for
                // `buffers`), and nobody else knows of them yet.
                unsafe { (*pool.descriptor_ptr(buffer)).block = buffer as u32 };
            }
        }
        if !found[2].2 {
            for buffer in 0..buffers {
                // SAFETY: zeroed, cache-line aligned room for `buffers` locks, unused yet.
                unsafe { LwLock::init(pool.lock_ptr(buffer))? };
            }
        }
        if !found[3].2 {
            // SAFETY: as above, for "XLOG Ctl".
            unsafe {
                let ctl = pool.wal_ctl_ptr();
                (*ctl).capacity = (wal_records * RECORD_SIZE) as u64;
                LwLock::init(&raw mut (*ctl).write_lock)?;
            }
        }
        Ok((pool, found))
    }
}
// ANCHOR_END: attach
