//! Lesson 05: System V shared memory, through a small safe wrapper.
//!
//! A System V segment is shared memory with a name and a life of its own: `shmget` makes
//! it (or finds it) by a numeric key, `shmat` maps it into a process, `shmdt` unmaps it,
//! and `shmctl` asks about it (`IPC_STAT`) or marks it for removal (`IPC_RMID`). Unlike an
//! anonymous mapping it outlives every process that used it, until someone removes it,
//! and the kernel counts how many attachments it has (`shm_nattch`): the one
//! fact that makes PostgreSQL still keep a small System V segment today.
//!
//! nix wraps none of these calls, so they are wrapped here, once, for every later lesson:
//! - [`Segment`] owns a segment this process created and removes it in `Drop`, but only in
//!   the process that created it (a forked child holds a copy of the owner and must not
//!   remove its parent's memory);
//! - [`Attachment`] is one `shmat`, undone by `shmdt` in `Drop`;
//! - [`stat`] reads `IPC_STAT` into a plain Rust struct, [`find`] looks a key up, and
//!   [`remove`] marks any segment (not only ours) for destruction;
//! - [`proc_entry`] reads the segment's line of `/proc/sysvipc/shm`, the kernel's own table
//!   that `ipcs -m` prints, and [`limits`] the kernel's limits;
//! - [`leftovers`] finds the segments of a run killed by SIGKILL, for the next run to remove.

use std::ffi::c_void;
use std::ptr::NonNull;

use common::on_signal::Remove;
use common::{Error, Result};
use nix::errno::Errno;
use nix::unistd::{Pid, getpid};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;
pub mod leftovers;

/// A System V key: the name unrelated processes agree on. [`IPC_PRIVATE`] (0) means "no
/// name": a new segment nobody can find through `shmget(key)` (though `ipcs` lists it).
pub type Key = libc::key_t;
pub const IPC_PRIVATE: Key = libc::IPC_PRIVATE;

/// The `shm_perm.mode` bit Linux sets when a segment has been marked with `IPC_RMID` while
/// still attached (`SHM_DEST` in `<linux/shm.h>`; the libc crate does not export it).
pub const SHM_DEST: u16 = 0o1000;

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

// ANCHOR: attachment
/// One attachment of a segment (`shmat`), detached (`shmdt`) when dropped. Like lesson 01's
/// `Mapping`, it hands out a raw pointer only: other processes write this memory.
#[derive(Debug)]
pub struct Attachment {
    addr: NonNull<u8>,
    size: usize,
}

/// `shmat(shmid, NULL, 0)`: maps the segment read-write at an address the kernel picks.
pub fn attach(shmid: i32) -> Result<Attachment> {
    attach_with(shmid, 0)
}

/// `shmat(shmid, NULL, SHM_RDONLY)`: maps it read-only, to look at a segment that may be
/// somebody else's without any way to change it. A write through it is a SIGSEGV.
pub fn attach_read_only(shmid: i32) -> Result<Attachment> {
    attach_with(shmid, libc::SHM_RDONLY)
}

fn attach_with(shmid: i32, flags: i32) -> Result<Attachment> {
    let size = stat(shmid)?.size;
    // SAFETY: with a null address the kernel picks a free range, so no Rust object is
    // affected; the result is either a new mapping or (void *) -1.
    let addr = unsafe { libc::shmat(shmid, std::ptr::null(), flags) };
    if addr as isize == -1 {
        return Err(Error::sys("shmat")(Errno::last()));
    }
    let addr = NonNull::new(addr.cast()).expect("shmat never returns NULL on success");
    Ok(Attachment { addr, size })
}

impl Attachment {
    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    /// The segment's size as created (`shm_segsz`); the mapping itself covers whole pages.
    pub fn size(&self) -> usize {
        self.size
    }
}

impl Attachment {
    /// Detaches the copy of this attachment that a forked child inherited, as PostgreSQL's
    /// `PGSharedMemoryDetach` does for a child that needs no shared memory. Each process has
    /// its own attachment after `fork`, so the parent's is unaffected.
    ///
    /// # Safety
    /// Only in a forked child, which never drops its copy of `self` (it leaves with `_exit`),
    /// and nothing may read or write through `self` afterwards: the pages are gone.
    pub unsafe fn detach_inherited(&self) -> Result<()> {
        // SAFETY: `addr` is where this process has the segment attached (inherited through
        // fork); the caller promises nobody uses the range after this.
        if unsafe { libc::shmdt(self.addr.as_ptr().cast::<c_void>()) } < 0 {
            return Err(Error::sys("shmdt")(Errno::last()));
        }
        Ok(())
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // SAFETY: `addr` came from our own successful shmat and is detached only here.
        let _ = unsafe { libc::shmdt(self.addr.as_ptr().cast::<c_void>()) };
    }
}
// ANCHOR_END: attachment

// ANCHOR: stat
/// What `shmctl(shmid, IPC_STAT)` says about a segment: the same facts `ipcs -m` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmStat {
    /// The key it was created with; Linux shows 0 once it is marked for destruction.
    pub key: Key,
    /// Permission bits (0o600), plus [`SHM_DEST`] once marked for destruction.
    pub mode: u16,
    /// Size in bytes, as asked for at creation (not rounded to pages).
    pub size: usize,
    /// How many attachments exist right now, in all processes.
    pub nattch: u64,
    /// The process that created it, and the last one to attach or detach.
    pub creator_pid: i32,
    pub last_pid: i32,
    /// Owner and creator user ids.
    pub uid: u32,
    pub creator_uid: u32,
}

impl ShmStat {
    /// Marked with `IPC_RMID`: gone as soon as the last attachment is.
    pub fn marked_for_destruction(&self) -> bool {
        self.mode & SHM_DEST != 0
    }

    pub fn permissions(&self) -> u16 {
        self.mode & 0o777
    }
}

/// `shmctl(shmid, IPC_STAT, &buf)`.
pub fn stat(shmid: i32) -> Result<ShmStat> {
    // SAFETY: shmid_ds is plain old data; all zeroes is a valid value to be overwritten.
    let mut buf: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `buf` is a valid, writable shmid_ds for the kernel to fill.
    if unsafe { libc::shmctl(shmid, libc::IPC_STAT, &mut buf) } < 0 {
        return Err(Error::sys("shmctl(IPC_STAT)")(Errno::last()));
    }
    Ok(ShmStat {
        key: buf.shm_perm.__key,
        mode: buf.shm_perm.mode,
        size: buf.shm_segsz,
        nattch: buf.shm_nattch,
        creator_pid: buf.shm_cpid,
        last_pid: buf.shm_lpid,
        uid: buf.shm_perm.uid,
        creator_uid: buf.shm_perm.cuid,
    })
}
// ANCHOR_END: stat

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

/// The kernel's limits on System V shared memory, from `/proc/sys/kernel/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest segment, in bytes.
    pub shmmax: u64,
    /// All segments together, in pages.
    pub shmall: u64,
    /// How many segments may exist system-wide.
    pub shmmni: u64,
}

pub fn limits() -> Result<Limits> {
    let read = |name: &str| -> Result<u64> {
        let path = format!("/proc/sys/kernel/{name}");
        let text = std::fs::read_to_string(&path)?;
        text.trim()
            .parse()
            .map_err(|_| Error::Failed(format!("{path}: not a number: {text:?}")))
    };
    Ok(Limits {
        shmmax: read("shmmax")?,
        shmall: read("shmall")?,
        shmmni: read("shmmni")?,
    })
}

// ANCHOR: proc
/// One line of `/proc/sysvipc/shm`, the kernel's table of every segment (`ipcs -m` reads
/// it), as (column name, value) pairs in the kernel's order: `key shmid perms size cpid
/// lpid nattch uid gid cuid cgid atime dtime ctime rss swap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcShmLine {
    fields: Vec<(String, String)>,
}

impl ProcShmLine {
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The value in column `name`, as the kernel wrote it (all numbers; `perms` in octal).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value in column `name` as a decimal number (not for `perms`, which is octal).
    pub fn number(&self, name: &str) -> Option<i64> {
        self.get(name)?.parse().ok()
    }
}

/// Every segment on the system, as `/proc/sysvipc/shm` lists them.
pub fn proc_sysvipc_shm() -> Result<Vec<ProcShmLine>> {
    Ok(parse_proc_sysvipc_shm(&std::fs::read_to_string(
        "/proc/sysvipc/shm",
    )?))
}

/// The line of `/proc/sysvipc/shm` for `shmid`, if the segment exists.
pub fn proc_entry(shmid: i32) -> Result<Option<ProcShmLine>> {
    let shmid = i64::from(shmid);
    Ok(proc_sysvipc_shm()?
        .into_iter()
        .find(|line| line.number("shmid") == Some(shmid)))
}

/// The first line names the columns; each further line is one segment.
fn parse_proc_sysvipc_shm(text: &str) -> Vec<ProcShmLine> {
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    lines
        .map(|line| ProcShmLine {
            fields: names
                .iter()
                .zip(line.split_whitespace())
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        })
        .filter(|line| !line.fields.is_empty())
        .collect()
}
// ANCHOR_END: proc

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_attachment_is_mapped_read_only() {
        let segment = Segment::create(IPC_PRIVATE, 100, 0o600).unwrap();
        let attachment = attach_read_only(segment.id()).unwrap();
        let start = format!("{:x}-", attachment.as_ptr() as usize);
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps.lines().find(|l| l.starts_with(&start)).unwrap();
        assert_eq!(line.split_whitespace().nth(1), Some("r--s"), "{line}");
    }

    #[test]
    fn a_private_segment_is_created_attached_and_removed_on_drop() {
        let segment = Segment::create(IPC_PRIVATE, 100, 0o600).unwrap();
        let shmid = segment.id();
        let info = stat(shmid).unwrap();
        assert_eq!(
            (info.size, info.nattch, info.permissions()),
            (100, 0, 0o600)
        );
        let attachment = attach(shmid).unwrap();
        assert_eq!(stat(shmid).unwrap().nattch, 1);
        drop(attachment);
        assert_eq!(stat(shmid).unwrap().nattch, 0);
        drop(segment);
        assert_eq!(
            stat(shmid).unwrap_err().to_string(),
            "shmctl(IPC_STAT): Invalid argument (EINVAL)"
        );
    }

    #[test]
    fn a_marked_segment_lives_until_its_last_detach() {
        let segment = Segment::create(IPC_PRIVATE, 4096, 0o600).unwrap();
        let attachment = attach(segment.id()).unwrap();
        remove(segment.id()).unwrap();
        let info = stat(segment.id()).unwrap();
        assert!(info.marked_for_destruction());
        assert_eq!(info.key, IPC_PRIVATE);
        drop(attachment);
        assert!(stat(segment.id()).is_err());
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
            stat(shmid).is_err(),
            "the unwinding drops removed and detached it"
        );
    }

    #[test]
    fn remove_marks_at_once_and_gives_up_ownership() {
        let segment = Segment::create(IPC_PRIVATE, 64, 0o600).unwrap();
        let shmid = segment.id();
        let attachment = attach(shmid).unwrap();
        segment.remove().unwrap();
        assert!(stat(shmid).unwrap().marked_for_destruction());
        drop(attachment);
        assert!(stat(shmid).is_err());
    }

    #[test]
    fn a_proc_sysvipc_shm_line_is_read_by_column_name() {
        let text = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n\
                    \x20        0          3  1600                  5000 13577 13578      1  1000  1000  1000  1000 1795681872          0 1795681872                  4096                     0\n";
        let lines = parse_proc_sysvipc_shm(text);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].fields().len(), 16);
        assert_eq!(lines[0].get("perms"), Some("1600"));
        assert_eq!(lines[0].number("lpid"), Some(13578));
        assert_eq!(lines[0].number("rss"), Some(4096));
    }

    #[test]
    fn our_segment_has_a_line_in_proc_sysvipc_shm_while_it_exists() {
        let segment = Segment::create(IPC_PRIVATE, 5000, 0o600).unwrap();
        let shmid = segment.id();
        let line = proc_entry(shmid).unwrap().expect("listed");
        assert_eq!(line.get("perms"), Some("600"));
        assert_eq!(line.number("size"), Some(5000));
        assert_eq!(line.number("cpid"), Some(i64::from(std::process::id())));
        drop(segment);
        assert_eq!(proc_entry(shmid).unwrap(), None);
    }

    #[test]
    fn limits_are_read() {
        let limits = limits().unwrap();
        assert!(limits.shmmax > 0 && limits.shmall > 0 && limits.shmmni > 0);
    }
}
