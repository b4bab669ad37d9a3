//! The last step, the stop, in PostgreSQL's order: the children first, then the shared
//! memory (the interlock, then the big area), and the lock file last, so that nobody can
//! start in the directory while anything of this server is still there.
//!
//! Each removal is checked where the kernel shows it: /proc/sysvipc/shm and /proc/self/maps.

use common::{Result, parent, section};
use l01_mmap::maps_entry;
use l05_sysv_segments::{proc_entry, segment_stat};
use l06_keys_and_strangers::Created;
use l07_postgres_hybrid::STATUS_STOPPING;

use crate::Server;

// ANCHOR: stop
pub fn stop(mut server: Server, step: u32) -> Result<()> {
    section(&format!(
        "{step}. Stop: children first, then shared memory, then the lock file"
    ));
    server
        .lock
        .update(|pid_file| pid_file.status = Some(STATUS_STOPPING.into()))?;
    parent!("lock file line 8 = {STATUS_STOPPING:?}");
    server.stop.take(); // close our end of the pipe: every child reads end-of-file and exits
    for child in std::mem::take(&mut server.children) {
        let pid = child.pid();
        let exit = child.wait()?;
        parent!("child pid {pid} {exit}");
    }
    let shmid = server.interlock.segment.id();
    parent!(
        "shm_nattch = {}: only ours is left",
        segment_stat(shmid)?.nattch
    );
    let Server {
        lock,
        shmem,
        interlock,
        ..
    } = server;
    let Created {
        segment,
        attachment,
        ..
    } = interlock;
    drop(attachment); // shmdt
    segment.remove()?; // IPC_RMID: nobody is attached, so the kernel frees it at once
    parent!(
        "shmdt, then IPC_RMID: shmid {shmid} {} /proc/sysvipc/shm",
        if proc_entry(shmid)?.is_some() {
            "is still in"
        } else {
            "is gone from"
        }
    );
    let (addr, len) = (shmem.mapping.as_ptr(), shmem.mapping.len());
    drop(shmem); // munmap
    let mapped = maps_entry(addr)?.is_some_and(|e| e.start == addr as usize);
    parent!(
        "munmap({:#x}, {len}): /proc/self/maps {} it",
        addr as usize,
        if mapped {
            "still lists"
        } else {
            "no longer lists"
        }
    );
    let path = lock.path().to_path_buf();
    lock.delete()?;
    parent!("deleted {}", path.display());
    Ok(())
}
// ANCHOR_END: stop
