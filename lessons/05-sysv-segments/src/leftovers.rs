//! What a run killed with SIGKILL left in the kernel, found and removed by the next run.
//!
//! Nothing runs in a process killed by SIGKILL: no destructor, no signal handler. Its
//! segments stay, with nobody attached, and one made with `IPC_PRIVATE` can no longer be
//! found by key. But the kernel records who created each segment (`shm_cpid`, the `cpid`
//! column of `/proc/sysvipc/shm`), so a run marks itself before it creates any: an empty
//! file `$TMPDIR/LESSON.PID` ([`mark`], see `common::marks`), removed once its segments are
//! gone. The next run of the lesson looks for marks whose process is dead
//! ([`remove_left_by_killed_runs`])
//! and removes each segment that process created and nobody has attached, then the mark.
//! The mark exists before the segment does, so no moment of a kill escapes it. (PostgreSQL
//! finds its leftovers by key instead, and tells them by the header's magic and creator
//! PID: `PGSharedMemoryCreate` in `sysv_shmem.c`. Lesson 06 does it that way.)

use common::Result;
use common::marks::{Mark, left_by_the_dead};
use nix::unistd::getuid;

use crate::{proc_sysvipc_shm, remove};

/// The mark of a run that may create segments: `$TMPDIR/LESSON.PID` (see `common::marks`).
/// Make it before the first segment, keep it until the last is gone.
pub fn mark(lesson: &str) -> Result<Mark> {
    Mark::make(lesson, None)
}

/// Removes what killed runs of `lesson` left: for each mark whose process is dead, every
/// segment of ours that it created and nobody has attached, then the mark. Returns one
/// sentence for each thing removed, for the lesson to print.
pub fn remove_left_by_killed_runs(lesson: &str) -> Result<Vec<String>> {
    let mut said = Vec::new();
    for dead in left_by_the_dead(lesson) {
        for line in proc_sysvipc_shm()? {
            let number = |column| line.number(column).unwrap_or(-1);
            if number("cpid") == i64::from(dead.pid)
                && number("nattch") == 0
                && number("uid") == i64::from(getuid().as_raw())
            {
                let shmid = number("shmid") as i32;
                remove(shmid)?;
                said.push(format!(
                    "removed segment shmid {shmid}, left by a run (pid {}) that was killed \
                     before it could remove it",
                    dead.pid
                ));
            }
        }
        let _ = std::fs::remove_file(&dead.path);
    }
    Ok(said)
}
