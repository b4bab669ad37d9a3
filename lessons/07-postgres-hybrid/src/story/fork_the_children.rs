//! Step 6: the children, forked once everything exists, so that each inherits the big area
//! at the same address and one attachment of the interlock: `shm_nattch` counts them all.
//!
//! Each child writes its own slot and says so on a pipe, one at a time, so the parent reads
//! the slots only once they are written. Then it waits on a second pipe for end-of-file,
//! which comes when the postmaster closes it at shutdown, or dies (PostgreSQL's
//! postmaster-death pipe): a child never outlives its server for long.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use common::{Error, Result, child, fork_child, parent, section};
use l05_sysv_segments::segment_stat;
use l07_postgres_hybrid::{SLOT_SIZE, STATUS_READY, ShmemPart, offsets};
use nix::fcntl::OFlag;
use nix::unistd::{pipe2, read, write};

use crate::Server;

// ANCHOR: children
pub fn fork_the_children(server: &mut Server, parts: &[ShmemPart], count: u64) -> Result<()> {
    section("6. Fork the children: each inherits the big area and the interlock");
    let slots = offsets(parts)[0]; // "process slots" is the first part; slot 0 is ours
    let (ready_read, ready_write) = pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
    let (stop_read, stop_write) = pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
    let mapping = &server.shmem.mapping;
    for number in 1..=count as usize {
        let offset = slots + number * SLOT_SIZE;
        let child = fork_child(|| {
            // A session of its own, as each PostgreSQL child takes one (InitPostmasterChild
            // calls setsid). Then a signal for the terminal's foreground job, or the SIGHUP
            // the kernel sends a stopped job whose leader died, does not reach the children.
            let _ = nix::unistd::setsid();
            let me = std::process::id();
            let text = format!("child {number} (child pid {me}) was here");
            // SAFETY: the slot lies inside the mapping (the size counted one per process) and
            // only this child writes it; the parent reads it after our byte on the pipe.
            unsafe { mapping.write_at(offset, text.as_bytes()) };
            child!("child pid {me}: wrote slot {number} at offset {offset} of the big area");
            // Our copy of the pipe's write end must go, or we would never see end-of-file.
            // SAFETY: in this child, the descriptor belongs to our copy of `stop_write`,
            // which is never dropped (we leave with _exit): it is closed here, once.
            drop(unsafe { OwnedFd::from_raw_fd(stop_write.as_raw_fd()) });
            if write(&ready_write, b"!").is_err() {
                return 1;
            }
            // Wait for the postmaster to close its end: at shutdown, or when it dies.
            let mut byte = [0u8; 1];
            while let Ok(1) = read(stop_read.as_fd(), &mut byte) {}
            0
        })?;
        server.children.push(child);
        let mut byte = [0u8; 1];
        read(ready_read.as_fd(), &mut byte).map_err(Error::sys("read"))?; // one at a time
    }
    server.stop = Some(stop_write);
    let shmid = server.interlock.segment.id();
    let nattch = segment_stat(shmid)?.nattch;
    let children = common::count(count, "child", "children");
    parent!("shm_nattch = {nattch}: the postmaster and its {children}");
    for number in 1..=count as usize {
        // SAFETY: each child wrote its slot before its byte on the pipe, which we have read;
        // nobody writes the slots any more.
        let bytes = unsafe { mapping.read_at(slots + number * SLOT_SIZE, SLOT_SIZE) };
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(SLOT_SIZE);
        parent!(
            "slot {number} reads {:?}",
            String::from_utf8_lossy(&bytes[..end])
        );
    }
    server
        .lock
        .update(|pid_file| pid_file.status = Some(STATUS_READY.into()))?;
    parent!("lock file line 8 = {STATUS_READY:?}");
    Ok(())
}
// ANCHOR_END: children
