//! Step 3: fork, and the child inherits the attachment.
//!
//! `fork` copies the attachment along with the rest of the address space, and the kernel
//! counts the copy: `shm_nattch` goes from 1 to 2. The child reads the parent's message,
//! leaves its own, and gives its copy up with `shmdt`, as a PostgreSQL child that needs
//! no shared memory does (`PGSharedMemoryDetach`).

use common::{Result, child, fork_child, parent, section};
use l05_sysv_segments::{Attachment, Segment, segment_stat};

use crate::story::text::{read_text, write_text};

// ANCHOR: fork
pub fn inherit_through_fork(segment: &Segment, attachment: &Attachment) -> Result<()> {
    section("3. Fork: the child inherits the attachment");
    let shmid = segment.id();
    let child = fork_child(|| {
        let nattch = segment_stat(shmid).map(|s| s.nattch).unwrap_or(0);
        child!(
            "child pid {}: attached at {:#x} here too; shm_nattch {nattch}",
            std::process::id(),
            attachment.as_ptr() as usize
        );
        child!("it reads {:?}", read_text(attachment));
        write_text(attachment, "written by the child");
        // SAFETY: we are the forked child, which leaves with _exit and never drops its copy
        // of `attachment`; nothing below touches the segment's memory.
        match unsafe { attachment.detach_inherited() } {
            Ok(()) => {
                let nattch = segment_stat(shmid).map(|s| s.nattch).unwrap_or(0);
                child!(
                    "wrote {:?}; shmdt: shm_nattch {nattch}",
                    "written by the child"
                );
                0
            }
            Err(err) => {
                child!("{err}");
                1
            }
        }
    })?;
    let pid = child.pid();
    let exit = child.wait()?;
    parent!("waitpid: child pid {pid} {exit}");
    parent!(
        "shm_nattch {}; the segment reads {:?}",
        segment_stat(shmid)?.nattch,
        read_text(attachment)
    );
    Ok(())
}
// ANCHOR_END: fork
