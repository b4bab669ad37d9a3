//! Marks that a process leaves in `$TMPDIR` while it owns something the kernel keeps.
//!
//! A process killed with SIGKILL runs nothing: its System V segments and semaphore sets
//! stay. So before it makes one, it leaves a mark, an empty file `$TMPDIR/PREFIX.PID` (or
//! `PREFIX.PID.N` for its N-th), removed once the object is gone; a signal that ends it
//! politely removes the mark too ([`Remove`]). A later run looks for marks whose process is
//! dead ([`left_by_the_dead`]) and removes what that process made. The mark exists before
//! the object does, so no moment of a kill escapes it; and it is found only by runs with
//! the same `$TMPDIR`, so the tests, which each pass their own, never clean up after one
//! another.

use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::{Pid, getpid};

use crate::on_signal::Remove;
use crate::{Error, Result};

/// A mark of this process, deleted when dropped (in this process only).
#[derive(Debug)]
pub struct Mark {
    path: PathBuf,
    creator: Pid,
    _on_signal: Remove,
}

impl Mark {
    /// Makes `$TMPDIR/PREFIX.PID`, or `$TMPDIR/PREFIX.PID.N` with `Some(n)`.
    pub fn make(prefix: &str, n: Option<u32>) -> Result<Mark> {
        let name = match n {
            None => format!("{prefix}.{}", getpid()),
            Some(n) => format!("{prefix}.{}.{n}", getpid()),
        };
        let path = std::env::temp_dir().join(name);
        let on_signal = Remove::file(&path)?; // first: a signal may come the moment it exists
        std::fs::write(&path, "")
            .map_err(|err| Error::Failed(format!("{}: {err}", path.display())))?;
        Ok(Mark {
            _on_signal: on_signal,
            path,
            creator: getpid(),
        })
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        if getpid() == self.creator {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A mark whose process is dead: its PID, its `N` (if it has one), and the file, which the
/// finder deletes once it has removed what the process left.
#[derive(Debug)]
pub struct DeadMark {
    pub pid: i32,
    pub n: Option<u32>,
    pub path: PathBuf,
}

/// The marks `PREFIX.PID[.N]` in `$TMPDIR` whose process no longer exists.
pub fn left_by_the_dead(prefix: &str) -> Vec<DeadMark> {
    let entries = std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten();
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let rest = name.strip_prefix(prefix)?.strip_prefix('.')?;
            let (pid, n) = match rest.split_once('.') {
                Some((pid, n)) => (pid, Some(n.parse().ok()?)),
                None => (rest, None),
            };
            let pid: i32 = pid.parse().ok().filter(|&pid| pid > 0)?;
            // ESRCH only: a process we may not signal (EPERM) is alive.
            (kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH)).then(|| DeadMark {
                pid,
                n,
                path: entry.path(),
            })
        })
        .collect()
}
