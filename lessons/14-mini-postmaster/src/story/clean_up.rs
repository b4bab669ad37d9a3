//! The last step: leave nothing behind. The interlock is removed, the region unmapped and
//! the lock file deleted, in that order, once every child is gone.

use common::{Result, parent};
use l05_sysv_segments::segment_stat;
use l06_keys_and_strangers::Created;
use l13_shmem_index::Segment;

use super::server::Server;
use crate::step;

// ANCHOR: clean_up
pub fn clean_up(mut server: Server, region: Segment) -> Result<()> {
    step("Leave nothing behind");
    let interlock = server.interlock.take().expect("alive");
    let shmid = interlock.segment.id();
    parent!(
        "shm_nattch = {}: every child is gone",
        segment_stat(shmid)?.nattch
    );
    let Created {
        segment,
        attachment,
        ..
    } = interlock;
    drop(attachment);
    segment.remove()?;
    parent!("shmdt, IPC_RMID: shmid {shmid} removed");
    let lock = server.lock.take().expect("alive");
    let path = lock.path().to_path_buf();
    drop(server);
    drop(region); // munmap: the region, and every structure in it
    parent!("munmap: the big mapping is gone");
    lock.delete()?;
    parent!("deleted {}", path.display());
    parent!("database system is shut down");
    Ok(())
}
// ANCHOR_END: clean_up
