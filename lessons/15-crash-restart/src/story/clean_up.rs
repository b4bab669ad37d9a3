//! The last step: leave nothing behind. Every child is gone; the interlock is removed, the
//! region unmapped and the lock file deleted.

use common::{Result, parent};
use l05_sysv_segments::segment_stat;
use l07_postgres_hybrid::LockFile;

use super::shmem::SharedMemory;
use crate::step;

// ANCHOR: clean_up
pub fn clean_up(shmem: SharedMemory, lock: LockFile) -> Result<()> {
    step("Leave nothing behind");
    let shmid = shmem.shmid();
    parent!(
        "shm_nattch = {}: every child is gone",
        segment_stat(shmid)?.nattch
    );
    shmem.remove()?;
    parent!("shmdt, IPC_RMID: shmid {shmid} removed; munmap: the region is gone");
    let path = lock.path().to_path_buf();
    lock.delete()?;
    parent!("deleted {}", path.display());
    Ok(())
}
// ANCHOR_END: clean_up
