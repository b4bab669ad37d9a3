//! Step 3: children find every structure by name, at the postmaster's offsets.
//!
//! A forked child inherits the mapping at the same base, so the same offset names the same
//! bytes: each backend asks for what the postmaster created and is told `found = true`,
//! and reads what the postmaster wrote there before the fork.

use common::{Error, Exit, Result, child, fork_child, parent, section};
use l13_shmem_index::{Shmem, init_struct};

use crate::{STARTUP, XLOG_GREETING, read_bytes};

// ANCHOR: children
pub fn children_find_them(shmem: &Shmem, offsets: &[usize]) -> Result<()> {
    section("3. Children find them by name");
    for backend in 1..=2 {
        let child = fork_child(|| {
            let mut same = 0;
            for (&(name, size), &expected) in STARTUP.iter().zip(offsets) {
                match init_struct(shmem, name, size) {
                    Ok((offset, true)) if offset == expected => same += 1,
                    _ => {}
                }
            }
            let (offset, _) = match init_struct(shmem, "XLOG Ctl", 520) {
                Ok(found) => found,
                Err(err) => {
                    child!("backend {backend}: {err}");
                    return 1;
                }
            };
            // SAFETY: "XLOG Ctl" is 520 bytes long; the postmaster wrote it before fork.
            let greeting = unsafe { read_bytes(shmem.ptr(offset), XLOG_GREETING.len()) };
            child!(
                "backend {backend}, child pid {}: {same} of {} found, at the postmaster's offsets",
                std::process::id(),
                STARTUP.len()
            );
            child!(
                "  \"XLOG Ctl\" at base + {offset} = {:p} reads \"{greeting}\"",
                shmem.ptr(offset)
            );
            if same == STARTUP.len() { 0 } else { 1 }
        })?;
        let pid = child.pid();
        let exit = child.wait()?;
        if exit != Exit::Code(0) {
            return Err(Error::Failed(format!("backend child pid {pid} {exit}")));
        }
    }
    parent!("same base in every child (the mapping is inherited), same offsets: same memory");
    Ok(())
}
// ANCHOR_END: children
