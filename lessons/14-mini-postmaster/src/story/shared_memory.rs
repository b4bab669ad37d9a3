//! Steps 2 to 4: size shared memory as a sum of parts, create it (the big mapping and the
//! interlock, lesson 07's hybrid, with lesson 13's region laid out in the mapping), and
//! create the structures in it by name. After this the postmaster never touches them again.

use std::os::fd::OwnedFd;
use std::path::Path;

use common::{Error, Result, Signals, parent};
use l06_keys_and_strangers::{Probe, key_hex};
use l07_postgres_hybrid::{LockFile, STATUS_READY, ShmemPart, create_interlock, probe_note};
use l13_shmem_index::{Segment, allocation_table};
use l14_mini_postmaster::{INDEX_CAPACITY, Pool};
use nix::fcntl::OFlag;
use nix::unistd::pipe2;

use super::server::{Requests, Server};
use crate::step;

// ANCHOR: size
pub fn show_the_size(parts: &[ShmemPart], size: usize) {
    step("Size shared memory: a sum of parts (CalculateShmemSize)");
    let row = |name: &str, bytes: usize| println!("  {name:<32}{bytes:>12}");
    row("fixed slop", l07_postgres_hybrid::SLOP);
    for part in parts {
        row(&part.name, part.size);
    }
    println!("  {}", "-".repeat(44));
    row(
        "sum",
        l07_postgres_hybrid::SLOP + parts.iter().map(|p| p.size).sum::<usize>(),
    );
    row("rounded up to a multiple of 8192", size);
}
// ANCHOR_END: size

// ANCHOR: create
pub fn create_shared_memory(
    dir: &Path,
    size: usize,
    lock: LockFile,
    signals: Signals,
) -> Result<(Segment, Server)> {
    step("Create shared memory: the big mapping and the interlock");
    let region = Segment::create(size, INDEX_CAPACITY)?;
    parent!(
        "mmap(NULL, {size}, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0) = {:#x}",
        region.shmem().base() as usize
    );
    parent!("laid out as lesson 13's region: header, ShmemIndex, bump allocator");
    // Lesson 06's search for a free key reports every segment it meets on its way.
    let interlock = create_interlock(dir, 14, &mut |probe: &Probe| {
        if let Some(note) = probe_note(probe) {
            parent!("{note}");
        }
    })?;
    let (key, shmid) = (interlock.key, interlock.segment.id());
    parent!(
        "shmget(key {}, ..., IPC_CREAT|IPC_EXCL|0600) = shmid {shmid}: the interlock, attached",
        key_hex(key)
    );
    let (reports, report_write) = pipe()?;
    let mut server = Server {
        children: Vec::new(),
        requests: Requests {
            checkpointer: pipe()?.1,
            bgwriter: pipe()?.1,
            walwriter: pipe()?.1,
        },
        reports,
        report_write: Some(report_write),
        signals,
        shutdown: None,
        interlock: Some(interlock),
        lock: Some(lock),
    };
    server.lock.as_mut().expect("just set").update(|pid_file| {
        pid_file.shmem = Some((key, shmid));
        pid_file.status = Some(STATUS_READY.into());
    })?;
    parent!("postmaster.pid line 7: key and shmid; line 8: {STATUS_READY:?}");
    Ok((region, server))
}

/// A pipe whose ends are closed by exec (there is none here) and by dropping them.
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))
}
// ANCHOR_END: create

// ANCHOR: structures
pub fn create_the_structures(
    region: &Segment,
    buffers: usize,
    wal_records: usize,
) -> Result<Pool<'_>> {
    step("Create the structures by name (CreateSharedMemoryAndSemaphores)");
    let (pool, found) = Pool::attach(region.shmem(), buffers, wal_records)?;
    for (name, offset, found) in found {
        parent!("init_struct({name:?}) -> offset {offset:>6}, found = {found}");
    }
    parent!("SELECT name, off, size, allocated_size FROM pg_shmem_allocations ORDER BY off;");
    for line in allocation_table(pool.shmem.allocations()) {
        println!("  {line}");
    }
    Ok(pool)
}
// ANCHOR_END: structures
