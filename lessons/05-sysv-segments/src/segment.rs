//! `Segment`: a System V segment this process created, and the calls that make, find and
//! remove one.
//!
//! A segment outlives every process that used it, until someone removes it. So whoever
//! creates one owns it, and removes it on every way out: `Drop` on a return or a panic,
//! the signal handler on Ctrl-C. Only in the creating process, though: a forked child
//! holds a copy of the owner, and must not remove its parent's memory.

use common::on_signal::{Remove, holding_off};
use common::{Error, Result};
use nix::errno::Errno;
use nix::unistd::{Pid, getpid};

/// A System V key: the name unrelated processes agree on. [`IPC_PRIVATE`] (0) means "no
/// name": a new segment nobody can find through `shmget(key)` (though `ipcs` lists it).
pub type Key = libc::key_t;
pub const IPC_PRIVATE: Key = libc::IPC_PRIVATE;

// ANCHOR: segment
/// A segment this process created. Dropping it marks the segment for destruction
/// (`IPC_RMID`), in the creating process only; so does SIGINT, SIGTERM or SIGHUP.
#[derive(Debug)]
pub struct Segment {
    shmid: i32,
    creator: Pid,
    /// Removes the segment if a signal ends the process before `Drop` can.
    on_signal: Option<Remove>,
}

impl Segment {
    /// `shmget(key, size, IPC_CREAT | IPC_EXCL | mode)`: a new segment or an error, never
    /// somebody else's existing one. `mode` is the permission bits, like a file's; 0o600
    /// keeps other users out.
    pub fn create(key: Key, size: usize, mode: u16) -> Result<Segment> {
        let flags = libc::IPC_CREAT | libc::IPC_EXCL | i32::from(mode & 0o777);
        // Ctrl-C and kill are held off from shmget to the registration: a signal in
        // between would leave a segment that nobody knows of.
        holding_off(|| {
            // SAFETY: shmget takes plain integers and touches no memory of ours.
            let shmid = unsafe { libc::shmget(key, size, flags) };
            if shmid < 0 {
                return Err(Error::sys("shmget")(Errno::last()));
            }
            let mut segment = Segment {
                shmid,
                creator: getpid(),
                on_signal: None,
            };
            segment.on_signal = Some(Remove::segment(shmid)?); // on error, Drop removes it
            Ok(segment)
        })
    }

    pub fn id(&self) -> i32 {
        self.shmid
    }

    /// Gives up ownership without removing the segment: it stays in the kernel after this
    /// process exits, for another process to find by key (lesson 06).
    pub fn keep(mut self) -> i32 {
        drop(self.on_signal.take());
        let shmid = self.shmid;
        std::mem::forget(self);
        shmid
    }

    /// `IPC_RMID` now, reporting failure (`Drop` can only ignore it), and gives up ownership:
    /// the segment is marked, and the kernel frees it when its last attachment goes.
    pub fn remove(self) -> Result<()> {
        let shmid = self.keep();
        remove(shmid)
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // A forked child that somehow dropped its copy must not remove the parent's segment.
        if getpid() == self.creator {
            drop(self.on_signal.take());
            let _ = remove(self.shmid);
        }
    }
}
// ANCHOR_END: segment

/// `shmctl(shmid, IPC_RMID, NULL)`: marks the segment for destruction. The kernel frees it
/// when the last process detaches; until then it stays usable by whoever is attached.
pub fn remove(shmid: i32) -> Result<()> {
    // SAFETY: IPC_RMID reads no buffer, so passing NULL is allowed.
    if unsafe { libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut()) } < 0 {
        return Err(Error::sys("shmctl(IPC_RMID)")(Errno::last()));
    }
    Ok(())
}

/// `shmget(key, 0, 0)`: the id of the existing segment with this key, if any.
pub fn find(key: Key) -> Result<Option<i32>> {
    // SAFETY: shmget takes plain integers and touches no memory of ours.
    let shmid = unsafe { libc::shmget(key, 0, 0) };
    match shmid {
        -1 if Errno::last() == Errno::ENOENT => Ok(None),
        -1 => Err(Error::sys("shmget")(Errno::last())),
        shmid => Ok(Some(shmid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{attach, segment_stat};

    #[test]
    fn a_private_segment_is_created_attached_and_removed_on_drop() {
        let segment = Segment::create(IPC_PRIVATE, 100, 0o600).unwrap();
        let shmid = segment.id();
        let info = segment_stat(shmid).unwrap();
        assert_eq!(
            (info.size, info.nattch, info.permissions()),
            (100, 0, 0o600)
        );
        let attachment = attach(shmid).unwrap();
        assert_eq!(segment_stat(shmid).unwrap().nattch, 1);
        drop(attachment);
        assert_eq!(segment_stat(shmid).unwrap().nattch, 0);
        drop(segment);
        assert_eq!(
            segment_stat(shmid).unwrap_err().to_string(),
            "shmctl(IPC_STAT): Invalid argument (EINVAL)"
        );
    }

    #[test]
    fn a_marked_segment_lives_until_its_last_detach() {
        let segment = Segment::create(IPC_PRIVATE, 4096, 0o600).unwrap();
        let attachment = attach(segment.id()).unwrap();
        remove(segment.id()).unwrap();
        let info = segment_stat(segment.id()).unwrap();
        assert!(info.marked_for_destruction());
        assert_eq!(info.key, IPC_PRIVATE);
        drop(attachment);
        assert!(segment_stat(segment.id()).is_err());
    }

    #[test]
    fn creating_an_existing_key_is_eexist() {
        let key = 0x5e05_0000 | (std::process::id() as Key & 0xffff);
        let first = Segment::create(key, 64, 0o600).unwrap();
        assert_eq!(find(key).unwrap(), Some(first.id()));
        let err = Segment::create(key, 64, 0o600).unwrap_err();
        assert_eq!(err.to_string(), "shmget: File exists (EEXIST)");
    }

    #[test]
    fn a_panic_still_removes_the_segment() {
        let mut shmid = -1;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let segment = Segment::create(IPC_PRIVATE, 64, 0o600).unwrap();
            shmid = segment.id();
            let _attachment = attach(shmid).unwrap();
            panic!("on purpose");
        }));
        assert!(outcome.is_err());
        assert!(
            segment_stat(shmid).is_err(),
            "the unwinding drops removed and detached it"
        );
    }

    #[test]
    fn remove_marks_at_once_and_gives_up_ownership() {
        let segment = Segment::create(IPC_PRIVATE, 64, 0o600).unwrap();
        let shmid = segment.id();
        let attachment = attach(shmid).unwrap();
        segment.remove().unwrap();
        assert!(segment_stat(shmid).unwrap().marked_for_destruction());
        drop(attachment);
        assert!(segment_stat(shmid).is_err());
    }
}
