//! What a run killed with SIGKILL left in the kernel, found and removed by the next run.
//!
//! Nothing runs in a process killed by SIGKILL: no destructor, no signal handler. Its
//! segments stay, with nobody attached, and one made with `IPC_PRIVATE` can no longer be
//! found by key. But the kernel records who created each segment (`shm_cpid`, the `cpid`
//! column of `/proc/sysvipc/shm`), so a run marks itself before it creates any: an empty
//! file `$TMPDIR/LESSON.PID` ([`CreatorMark`]), removed once its segments are gone. The next
//! run of the lesson looks for marks whose process is dead ([`remove_left_by_killed_runs`])
//! and removes each segment that process created and nobody has attached, then the mark.
//! The mark exists before the segment does, so no moment of a kill escapes it. (PostgreSQL
//! finds its leftovers by key instead, and tells them by the header's magic and creator
//! PID: `PGSharedMemoryCreate` in `sysv_shmem.c`. Lesson 06 does it that way.)

use std::path::PathBuf;

use common::on_signal::Remove;
use common::{Error, Result};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::{Pid, getpid, getuid};

use crate::{proc_sysvipc_shm, remove};

/// The mark of a run that may create segments: `$TMPDIR/LESSON.PID`, deleted when dropped
/// (in this process only), or by SIGINT, SIGTERM and SIGHUP.
#[derive(Debug)]
pub struct CreatorMark {
    path: PathBuf,
    creator: Pid,
    _on_signal: Remove,
}

impl CreatorMark {
    /// Makes the mark. Make it before the first segment, keep it until the last is gone.
    pub fn make(lesson: &str) -> Result<CreatorMark> {
        let path = std::env::temp_dir().join(format!("{lesson}.{}", getpid()));
        std::fs::write(&path, "")
            .map_err(|err| Error::Failed(format!("{}: {err}", path.display())))?;
        Ok(CreatorMark {
            _on_signal: Remove::file(&path)?,
            path,
            creator: getpid(),
        })
    }
}

impl Drop for CreatorMark {
    fn drop(&mut self) {
        if getpid() == self.creator {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes what killed runs of `lesson` left: for each mark whose process is dead, every
/// segment of ours that it created and nobody has attached, then the mark. Returns one
/// sentence for each thing removed, for the lesson to print.
pub fn remove_left_by_killed_runs(lesson: &str) -> Result<Vec<String>> {
    let mut said = Vec::new();
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return Ok(said); // no temporary directory: no marks
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(lesson)?.strip_prefix('.'))
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if pid <= 0 || kill(Pid::from_raw(pid), None) != Err(Errno::ESRCH) {
            continue; // alive (or not ours to judge): its segments are in use
        }
        for line in proc_sysvipc_shm()? {
            let number = |column| line.number(column).unwrap_or(-1);
            if number("cpid") == i64::from(pid)
                && number("nattch") == 0
                && number("uid") == i64::from(getuid().as_raw())
            {
                let shmid = number("shmid") as i32;
                remove(shmid)?;
                said.push(format!(
                    "removed segment shmid {shmid}, left by a run (pid {pid}) that was killed \
                     before it could remove it"
                ));
            }
        }
        let _ = std::fs::remove_file(entry.path());
    }
    Ok(said)
}
