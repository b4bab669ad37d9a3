//! Shared memory as the postmaster holds it: lesson 14's region and lesson 07's interlock,
//! created at start and again after every crash. The postmaster creates them and removes
//! them, and never reads or writes what is inside: a child that left the region half
//! changed cannot harm it. After a crash, nothing in the old region is kept: not its
//! locks, not its pages, not its WAL buffers. The startup process rebuilds from the files.

use std::path::Path;

use common::{Result, parent};
use l05_sysv_segments::segment_stat;
use l06_keys_and_strangers::{Created, Key, key_hex};
use l07_postgres_hybrid::{LockFile, STATUS_READY, create_interlock, shmem_size};
use l13_shmem_index::Segment;
use l14_mini_postmaster::DataFiles;
use l14_mini_postmaster::{INDEX_CAPACITY, Pool, region_parts};

use super::round::UPDATES;
use crate::{Options, step};

/// Shared memory, as the postmaster holds it: the region and the interlock. Dropped in
/// this order: the interlock is removed (IPC_RMID) and detached, the region unmapped.
pub struct SharedMemory {
    pub interlock: Created,
    region: Segment,
    pub buffers: usize,
    wal_records: usize,
}

impl SharedMemory {
    pub fn shmid(&self) -> i32 {
        self.interlock.segment.id()
    }

    /// A view of the structures, found by name: for the children to inherit.
    pub fn pool(&self) -> Result<Pool<'_>> {
        Ok(Pool::attach(self.region.shmem(), self.buffers, self.wal_records)?.0)
    }

    /// `shmdt` and `IPC_RMID` of the interlock, then `munmap` of the region.
    pub fn remove(self) -> Result<()> {
        let Created {
            segment,
            attachment,
            ..
        } = self.interlock;
        drop(attachment);
        segment.remove()?;
        drop(self.region);
        Ok(())
    }
}

// ANCHOR: create
/// Lesson 14's shared memory: the region (an anonymous mapping laid out by lesson 13, with
/// the structures created by name) and the interlock. `previous`: the interlock it replaces.
pub fn create_shared_memory(
    dir: &Path,
    options: &Options,
    lock: &mut LockFile,
    previous: Option<(Key, i32)>,
) -> Result<SharedMemory> {
    let buffers = options.buffers as usize;
    // The WAL buffers hold the whole WAL (lesson 14): what is in the file, and a round more
    // (a round makes at most UPDATES updates per backend).
    let round = options.workers as usize * UPDATES;
    let in_file = DataFiles::open(dir)?.read_wal(0)?.len();
    let wal_records = (in_file.div_ceil(round) + 1) * round;
    let size = shmem_size(&region_parts(buffers, wal_records)).expect("the options are bounded");
    let region = Segment::create(size, INDEX_CAPACITY)?;
    parent!(
        "mmap(NULL, {size}, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0) = {:#x}",
        region.shmem().base() as usize
    );
    let (_, found) = Pool::attach(region.shmem(), buffers, wal_records)?;
    let names: Vec<&str> = found.iter().map(|(name, _, _)| name.as_str()).collect();
    let new = found.iter().filter(|(_, _, found)| !found).count();
    parent!("{new} structures created by name (found = false):");
    parent!("  {}", names.join(", "));
    let interlock = create_interlock(dir, 15, &mut |_| {})?;
    let (key, shmid) = (interlock.key, interlock.segment.id());
    parent!(
        "shmget(key {}, ..., IPC_CREAT|IPC_EXCL|0600) = shmid {shmid}: the interlock, attached",
        key_hex(key)
    );
    if let Some((old_key, old_shmid)) = previous {
        parent!(
            "the same key as before: {}; a new shmid: {} (the old one was shmid {old_shmid})",
            yes(key == old_key),
            yes(shmid != old_shmid)
        );
    }
    lock.update(|pid_file| {
        pid_file.shmem = Some((key, shmid));
        pid_file.status = Some(STATUS_READY.into());
    })?;
    Ok(SharedMemory {
        interlock,
        region,
        buffers,
        wal_records,
    })
}

pub fn yes(truth: bool) -> &'static str {
    if truth { "yes" } else { "no" }
}
// ANCHOR_END: create

// ANCHOR: reinitialize
/// All children are gone: remove shared memory and create it again (the postmaster's
/// `PostmasterStateMachine`, then `shmem_exit` and `CreateSharedMemoryAndSemaphores`).
pub fn reinitialize(
    shmem: SharedMemory,
    dir: &Path,
    options: &Options,
    lock: &mut LockFile,
) -> Result<SharedMemory> {
    step("Reinitialize: new shared memory, the old one thrown away");
    parent!("LOG:  all server processes terminated; reinitializing");
    let (key, shmid) = (shmem.interlock.key, shmem.shmid());
    parent!(
        "shm_nattch = {}: only the postmaster is attached",
        segment_stat(shmid)?.nattch
    );
    shmem.remove()?;
    parent!("shmdt, IPC_RMID: shmid {shmid} removed; munmap: the region is gone, and with it");
    parent!("  whatever the dead process left half done (a lock it held, a change not logged)");
    create_shared_memory(dir, options, lock, Some((key, shmid)))
}
// ANCHOR_END: reinitialize
