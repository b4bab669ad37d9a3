//! Step 4: the interlock, a tiny System V segment at the first free key from the directory's
//! inode number, shown as lesson 06's search met it, as /proc/self/maps lists it, and as
//! `ipcs -m` would.
//!
//! Its header is copied to the start of the big area, as PostgreSQL does, so that whoever
//! finds the big area finds it described.

use std::path::Path;

use common::{Error, Result, parent, section};
use l01_mmap::page_size;
use l05_sysv_segments::{proc_entry, segment_stat};
use l06_keys_and_strangers::{Created, DirId, Probe, key_hex, read_header};
use l07_postgres_hybrid::{SharedMemory, copy_header, create_interlock, probe_note};

use crate::story::map_the_big_area::show_maps_line;

// ANCHOR: interlock
pub fn create_the_interlock(dir: &Path, shmem: &SharedMemory) -> Result<Created> {
    section("4. The interlock: a tiny System V segment (PGSharedMemoryCreate)");
    let inode = DirId::of(dir)?.inode;
    parent!(
        "the directory is inode {inode}: the first key to try is key {}",
        key_hex(inode as i32)
    );
    let created = create_interlock(dir, 7, &mut |probe: &Probe| {
        if let Some(note) = probe_note(probe) {
            parent!("{note}");
        }
    })?;
    let (key, shmid) = (key_hex(created.key), created.segment.id());
    let header = read_header(&created.attachment).expect("create_from wrote it");
    copy_header(&shmem.mapping, &header);
    parent!(
        "shmget(key {key}, {}, IPC_CREAT|IPC_EXCL|0600) = shmid {shmid}; attached; header \
         written, and copied to the start of the big area",
        created.attachment.size()
    );
    show_maps_line(created.attachment.as_ptr(), page_size())?;
    show_ipcs(shmid)?;
    Ok(created)
}
// ANCHOR_END: interlock

/// The segment as `ipcs -m` would list it, from the kernel's own table.
fn show_ipcs(shmid: i32) -> Result<()> {
    let line = proc_entry(shmid)?
        .ok_or_else(|| Error::Failed(format!("shmid {shmid} is missing from /proc/sysvipc/shm")))?;
    let info = segment_stat(shmid)?;
    parent!(
        "ipcs -m: key {} shmid {shmid} perms {} bytes {} nattch {}",
        key_hex(info.key),
        line.get("perms").unwrap_or("?"),
        info.size,
        info.nattch
    );
    Ok(())
}
