//! Start, or refuse? What a starting server does about a lock file it finds in its data
//! directory: PostgreSQL's `CreateLockFile` (src/backend/utils/init/miscinit.c).
//!
//! A PID that is alive means another postmaster: refuse. A dead one may have left children
//! that still write to the directory, and only the interlock's attach count can say: refuse
//! while it is not zero. Otherwise everything found is stale: remove our segment (never a
//! stranger's), delete the file, and start. [`decide`] is that decision, and the exercise.
//! Two refusals come on top of it: a directory that holds a real PostgreSQL cluster is never
//! taken at all, and a real server's interlock that its lock file records (a stranger's to
//! `classify`, which knows the course's segments) refuses the start while it is attached,
//! as PostgreSQL would refuse.

use std::io::ErrorKind;
use std::path::Path;

use common::on_signal::holding_off;
use common::{Error, Result};
use l05_sysv_segments::remove;
use l06_keys_and_strangers::{DirId, Found, Key, classify, key_hex, postgresql_interlock};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::{Pid, getpid, getppid};

use crate::cluster::refuse_a_postgresql_cluster;
use crate::decide;
use crate::lock_file::LockFile;
use crate::pid_file::{LOCK_FILE, PidFile};

// ANCHOR: decision
/// What a start must do about a lock file it found: the outcomes of `CreateLockFile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The PID in the lock file is alive: another postmaster runs in this directory.
    Running { pid: i32 },
    /// The PID is dead, but `nattch` processes still have its segment attached: the old
    /// postmaster's children (backends) live on, and may still be writing.
    SegmentInUse { key: Key, shmid: i32, nattch: u64 },
    /// Nobody is home. Delete the lock file, remove our stale segment if there is one (never
    /// a stranger's), and start.
    Stale { remove_segment: Option<i32> },
}
// ANCHOR_END: decision

// ANCHOR: alive
/// Whether the lock file's PID names a live process that could be another postmaster:
/// `kill(pid, 0)` sends nothing and says whether the process exists. As in `CreateLockFile`,
/// our own PID and our parent's do not count (after a reboot the old file's PID may be
/// reused by us or the shell that started us), nor does EPERM (another user's process
/// cannot be a postmaster for our directory, which only we can read).
pub fn owner_alive(pid: i32) -> bool {
    if pid == getpid().as_raw() || pid == getppid().as_raw() {
        return false;
    }
    match kill(Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(Errno::ESRCH | Errno::EPERM) => false,
        Err(_) => true, // cannot tell: assume the worst, as PostgreSQL does
    }
}
// ANCHOR_END: alive

/// What [`lock_data_dir`] found and did on its way, for the caller to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A lock file whose PID is not running.
    StaleLockFile { pid: i32 },
    /// Its recorded segment was ours and unattached: removed.
    RemovedSegment { key: Key, shmid: i32 },
    /// Its recorded segment was a stranger's or gone: left alone.
    LeftSegment { shmid: i32, found: Found },
}

/// A note as a line of the story, the words lessons 07 and 14 print it in.
impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Note::StaleLockFile { pid } => write!(
                f,
                "found a lock file of PID {pid}, which is not running: another server might \
                 have been running; trying to start anyway"
            ),
            Note::RemovedSegment { key, shmid } => write!(
                f,
                "its segment (key {}, shmid {shmid}) is ours and nobody has it attached: \
                 removed it",
                key_hex(*key)
            ),
            Note::LeftSegment { shmid, found } => {
                write!(f, "its segment shmid {shmid} is {found} now: left it alone")
            }
        }
    }
}

// ANCHOR: lock
/// `CreateLockFile`: make `dir/postmaster.pid` ours, or say why not. A lock file left by a
/// dead server is checked (see [`decide`]), cleaned up, and the creation tried again. A
/// directory that holds a PostgreSQL cluster is refused before anything is created in it.
pub fn lock_data_dir(dir: &Path, start_time: i64, notes: &mut Vec<Note>) -> Result<LockFile> {
    DirId::of(dir)?;
    refuse_a_postgresql_cluster(dir)?;
    let shown = dir.display();
    for _ in 0..100 {
        let path = dir.join(LOCK_FILE);
        // With Ctrl-C and kill held off until the new lock file is registered for removal.
        match holding_off(|| Ok(LockFile::create(dir, PidFile::new(dir, start_time))))? {
            Ok(lock) => return Ok(lock),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
            Err(err) => {
                return Err(Error::Failed(format!(
                    "could not create lock file \"{}\": {err}",
                    path.display()
                )));
            }
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == ErrorKind::NotFound => continue, // gone meanwhile
            Err(err) => return Err(Error::Failed(format!("{}: {err}", path.display()))),
        };
        let found = PidFile::parse(&text).ok_or_else(|| {
            Error::Failed(format!(
                "lock file \"{}\" is empty or garbled: either another server is starting, or \
                 it is left from a crash during start-up; if no server runs in {shown}, delete it",
                path.display()
            ))
        })?;
        let cannot_tell = |key: Key, shmid: i32, err: Error| {
            Error::Failed(format!(
                "could not tell whether shared memory block (key {}, shmid {shmid}) is still \
                 in use ({err}); if no server runs in {shown}, remove it with ipcrm",
                key_hex(key)
            ))
        };
        let segment = match found.shmem {
            Some((key, shmid)) => {
                Some(classify(shmid, dir).map_err(|err| cannot_tell(key, shmid, err))?)
            }
            None => None,
        };
        let decision = decide(&found, owner_alive(found.pid), segment);
        // A real PostgreSQL's interlock for this directory, still attached, behind a stranger's
        // verdict: its server's children live on (PostgreSQL's `PGSharedMemoryIsInUse`).
        if let (Decision::Stale { .. }, Some((key, shmid)), Some(Found::Stranger)) =
            (decision, found.shmem, segment)
            && let Some(theirs) =
                postgresql_interlock(shmid, dir).map_err(|err| cannot_tell(key, shmid, err))?
            && theirs.nattch > 0
        {
            return Err(theirs.in_use(dir));
        }
        match decision {
            Decision::Running { pid } => {
                return Err(Error::Failed(format!(
                    "lock file \"{}\" already exists: is another postmaster (PID {pid}) \
                     running in data directory \"{shown}\"?",
                    path.display()
                )));
            }
            Decision::SegmentInUse { key, shmid, nattch } => {
                return Err(Error::Failed(format!(
                    "pre-existing shared memory block (key {}, shmid {shmid}) is still in use \
                     by {nattch} process{}: terminate any old server processes associated \
                     with data directory \"{shown}\"",
                    key_hex(key),
                    if nattch == 1 { "" } else { "es" }
                )));
            }
            Decision::Stale { remove_segment } => {
                notes.push(Note::StaleLockFile { pid: found.pid });
                if let (Some((key, shmid)), Some(found)) = (found.shmem, segment) {
                    if remove_segment == Some(shmid) {
                        remove(shmid)?;
                        notes.push(Note::RemovedSegment { key, shmid });
                    } else {
                        notes.push(Note::LeftSegment { shmid, found });
                    }
                }
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(err) if err.kind() == ErrorKind::NotFound => {}
                    Err(err) => {
                        return Err(Error::Failed(format!(
                            "could not remove old lock file \"{}\": {err}; remove it by hand",
                            path.display()
                        )));
                    }
                }
            }
        }
    }
    Err(Error::Failed(format!(
        "could not create lock file in {shown}: it kept coming back; is another server starting?"
    )))
}
// ANCHOR_END: lock

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_pid_and_our_parents_are_not_another_postmaster() {
        assert!(!owner_alive(std::process::id() as i32));
        assert!(!owner_alive(getppid().as_raw()));
        let mut cat = std::process::Command::new("cat")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = cat.id() as i32;
        assert!(owner_alive(pid), "a running process is alive");
        drop(cat.stdin.take());
        cat.wait().unwrap();
        assert!(!owner_alive(pid), "a reaped process is not");
    }
}
