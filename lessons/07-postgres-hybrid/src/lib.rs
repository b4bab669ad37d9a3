//! Lesson 07: PostgreSQL's hybrid: one big anonymous mapping, one tiny System V segment.
//!
//! Since 9.3 PostgreSQL keeps its shared memory in one anonymous `MAP_SHARED` mapping that the
//! postmaster makes before it forks anybody (lesson 03), and keeps a System V segment beside
//! it only for one fact the kernel tracks for System V segments and not for mappings: how
//! many processes have it attached (`shm_nattch`). Every child inherits the attachment
//! through `fork`, so while any process of a server lives, the count is not zero.
//!
//! A lock file in the data directory, `postmaster.pid`, records the postmaster's PID and the
//! segment's key and id. A starting server that finds one decides, like `CreateLockFile` in
//! `src/backend/utils/init/miscinit.c` ([`exercise::decide`] is that decision):
//! its PID is alive → another postmaster: refuse; dead, but its segment still attached →
//! the old postmaster's children live on: refuse; otherwise it is stale: clean up, start.
//!
//! The pieces, in the order a start uses them: [`lock_data_dir`] (the lock file), [`parts`]
//! and [`shmem_size`] (the size, like `CalculateShmemSize`), [`create_anonymous_segment`] (the
//! big mapping, huge pages or not), [`create_interlock`] (the tiny segment, by lesson 06's
//! key search). Each owns what it made and undoes it in `Drop`, in this process only.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use common::on_signal::Remove;
use common::{Error, Result};
use l01_mmap::{Mapping, PG_MMAP_FLAGS, page_size};
use l05_sysv_segments::remove;
use l06_keys_and_strangers::{Created, DirId, Found, Header, Key, Probe, classify, key_hex};
use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags};
use nix::sys::signal::kill;
use nix::unistd::{Pid, getpid, getppid};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

pub use exercise::decide;

// ANCHOR: size
/// What `CalculateShmemSize` (src/backend/storage/ipc/ipci.c) starts from: 100000 bytes "for
/// the stuff that's too small to bother with estimating". Our header lives in it.
pub const SLOP: usize = 100_000;
/// The size is rounded up to a multiple of this, "a typical page size".
pub const SIZE_ROUNDING: usize = 8192;
/// The bytes of one buffer, and of one slot per process in the lesson's process table.
pub const BLOCK_SIZE: usize = 8192;
pub const SLOT_SIZE: usize = 128;
/// Where the named parts begin: after a copy of the interlock's header, cache-line aligned.
pub const PARTS_OFFSET: usize = 128;

/// One named part of the shared area, as `pg_shmem_allocations` would list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmemPart {
    pub name: String,
    pub size: usize,
}

/// The parts this lesson's server needs for `buffers` buffers and `processes` processes.
/// The names are PostgreSQL's; the sizes are small, and each is counts times a unit.
pub fn parts(buffers: usize, processes: usize) -> Option<Vec<ShmemPart>> {
    let part = |name: String, count: usize, unit: usize| {
        Some(ShmemPart {
            name: format!("{name} ({count} x {unit})"),
            size: count.checked_mul(unit)?,
        })
    };
    Some(vec![
        part("process slots".into(), processes, SLOT_SIZE)?,
        part("Buffer Descriptors".into(), buffers, 64)?,
        // PostgreSQL's default: 1/32 of the buffers, at least 8 blocks (64 kB).
        part("WAL buffers".into(), (buffers / 32).max(8), BLOCK_SIZE)?,
        part("Buffer Blocks".into(), buffers, BLOCK_SIZE)?,
    ])
}

/// The slop plus every part, rounded up to [`SIZE_ROUNDING`]; `None` if that overflows.
pub fn shmem_size(parts: &[ShmemPart]) -> Option<usize> {
    parts
        .iter()
        .try_fold(SLOP, |sum, part| sum.checked_add(part.size))?
        .checked_next_multiple_of(SIZE_ROUNDING)
}

/// Where each part starts in the mapping: one after the other from [`PARTS_OFFSET`].
pub fn offsets(parts: &[ShmemPart]) -> Vec<usize> {
    parts
        .iter()
        .scan(PARTS_OFFSET, |next, part| {
            let offset = *next;
            *next += part.size;
            Some(offset)
        })
        .collect()
}
// ANCHOR_END: size

// ANCHOR: huge
/// `huge_pages`: whether to map the big area with huge pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HugePages {
    /// Normal pages only.
    Off,
    /// Huge pages if the kernel has enough reserved; normal pages otherwise.
    Try,
    /// Huge pages, or fail to start.
    On,
}

/// The kernel's default huge page size, from the "Hugepagesize:" line of /proc/meminfo,
/// like PostgreSQL's `GetHugePageSize`; 2 MiB if the line is missing, as it assumes too.
pub fn huge_page_size() -> usize {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("Hugepagesize:")?;
            let kb = rest
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<usize>()
                .ok()?;
            kb.checked_mul(1024)
        })
        .unwrap_or(2 * 1024 * 1024)
}

/// The big area and how it was made.
#[derive(Debug)]
pub struct SharedMemory {
    pub mapping: Mapping,
    /// `huge_pages_status`: whether the mapping really is made of huge pages.
    pub huge_pages: bool,
    /// When `try` fell back to normal pages: the failed call, for the record.
    pub fallback: Option<Error>,
}

/// The big area, like `CreateAnonymousSegment` in src/backend/port/sysv_shmem.c: with `on` or
/// `try`, the size rounded up to whole huge pages and `MAP_HUGETLB`; if that fails, `try`
/// maps the size asked for with normal pages, and `on` fails.
pub fn create_anonymous_segment(size: usize, huge: HugePages) -> Result<SharedMemory> {
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    if huge == HugePages::Off {
        let mapping = Mapping::anonymous(size, rw, PG_MMAP_FLAGS)?;
        return Ok(SharedMemory {
            mapping,
            huge_pages: false,
            fallback: None,
        });
    }
    let huge_size = size
        .checked_next_multiple_of(huge_page_size())
        .ok_or_else(|| Error::Usage(format!("{size} bytes in huge pages overflow a size_t")))?;
    match Mapping::anonymous(huge_size, rw, PG_MMAP_FLAGS | MapFlags::MAP_HUGETLB) {
        Ok(mapping) => Ok(SharedMemory {
            mapping,
            huge_pages: true,
            fallback: None,
        }),
        Err(err) if huge == HugePages::Try => Ok(SharedMemory {
            mapping: Mapping::anonymous(size, rw, PG_MMAP_FLAGS)?,
            huge_pages: false,
            fallback: Some(err),
        }),
        Err(err) => Err(Error::Failed(format!(
            "could not map {huge_size} bytes of anonymous shared memory with huge pages \
             ({err}); reserve huge pages (/proc/sys/vm/nr_hugepages) or use --huge-pages=try"
        ))),
    }
}
// ANCHOR_END: huge

// ANCHOR: pidfile
/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "postmaster.pid";

/// `postmaster.pid`, line by line, in the layout of src/include/utils/pidfile.h.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidFile {
    /// 1: the postmaster's PID.
    pub pid: i32,
    /// 2: the data directory; 3: when the postmaster started (seconds since 1970).
    pub data_dir: String,
    pub start_time: i64,
    /// 4: the port; 5: the first Unix socket directory; 6: the first listen address.
    /// The lesson listens on nothing: port 0 and two empty lines.
    pub port: u16,
    pub socket_dir: String,
    pub listen_addr: String,
    /// 7: the interlock segment's key and shmid, once it exists.
    pub shmem: Option<(Key, i32)>,
    /// 8: "starting", "ready   ", "stopping" (all 8 characters long).
    pub status: Option<String>,
}

pub const STATUS_STARTING: &str = "starting";
pub const STATUS_READY: &str = "ready   ";
pub const STATUS_STOPPING: &str = "stopping";

impl PidFile {
    /// Lines 1–6, as a new postmaster writes them for `dir`.
    pub fn new(dir: &Path, start_time: i64) -> PidFile {
        PidFile {
            pid: getpid().as_raw(),
            data_dir: dir.display().to_string(),
            start_time,
            port: 0,
            socket_dir: String::new(),
            listen_addr: String::new(),
            shmem: None,
            status: None,
        }
    }

    /// Line 7 as PostgreSQL writes it: `"%9lu %9lu"`, the key in decimal.
    pub fn shmem_line(key: Key, shmid: i32) -> String {
        format!("{:9} {:9}", key as u32, shmid)
    }

    /// The file's text: one line each, each ending in a newline; 7 and 8 once known.
    pub fn render(&self) -> String {
        let mut lines = vec![
            self.pid.to_string(),
            self.data_dir.clone(),
            self.start_time.to_string(),
            self.port.to_string(),
            self.socket_dir.clone(),
            self.listen_addr.clone(),
        ];
        if self.shmem.is_some() || self.status.is_some() {
            let (key, shmid) = self.shmem.unwrap_or_default();
            lines.push(
                self.shmem
                    .map_or(String::new(), |_| Self::shmem_line(key, shmid)),
            );
        }
        lines.extend(self.status.clone());
        lines.iter().map(|line| format!("{line}\n")).collect()
    }

    /// Reads a lock file's text. Lines 7 and 8 may be missing: PostgreSQL writes the file in
    /// steps, so a reader can find it half written, and must cope.
    pub fn parse(text: &str) -> Option<PidFile> {
        let lines: Vec<&str> = text.lines().collect();
        let line = |n: usize| lines.get(n - 1).copied().unwrap_or("");
        // A negative PID marks a single-user backend, not a postmaster; either way, a process.
        let pid = line(1).trim().parse::<i32>().ok()?.checked_abs()?;
        if pid == 0 {
            return None;
        }
        let mut ids = line(7).split_whitespace().map(str::parse::<u64>);
        let shmem = match (ids.next(), ids.next()) {
            (Some(Ok(key)), Some(Ok(shmid))) => Some((key as u32 as Key, shmid as i32)),
            _ => None,
        };
        Some(PidFile {
            pid,
            data_dir: line(2).to_string(),
            start_time: line(3).trim().parse().unwrap_or(0),
            port: line(4).trim().parse().unwrap_or(0),
            socket_dir: line(5).to_string(),
            listen_addr: line(6).to_string(),
            shmem,
            status: lines.get(7).map(|s| s.to_string()),
        })
    }
}
// ANCHOR_END: pidfile

// ANCHOR: lockfile
/// The lock file this process created; deleted when dropped, in this process only (a forked
/// child holds a copy and must not delete its parent's lock), or by SIGINT, SIGTERM and
/// SIGHUP (`common::on_signal`; a postmaster that reads those signals itself never meets
/// that handler).
#[derive(Debug)]
pub struct LockFile {
    path: PathBuf,
    contents: PidFile,
    creator: Pid,
    on_signal: Option<Remove>,
}

impl LockFile {
    /// Makes `DIR/postmaster.pid` with lines 1–6 in it, or fails with EEXIST if somebody's
    /// lock file is there. PostgreSQL opens it with `O_CREAT | O_EXCL` and then writes, so a
    /// crash in between leaves an empty file that every later start refuses ("lock file is
    /// empty": delete it by hand). We write the text, flushed to disk, into a file without a
    /// name first (`O_TMPFILE`), then give it its name with `linkat`, which fails with EEXIST
    /// just as `O_EXCL` does: the lock file appears complete or not at all, and a crash
    /// before the link leaves nothing. (A file system without `O_TMPFILE` gets PostgreSQL's
    /// way.)
    pub fn create(dir: &Path, contents: PidFile) -> std::io::Result<LockFile> {
        let path = dir.join(LOCK_FILE);
        let text = contents.render();
        let unnamed = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .mode(0o600)
            .open(dir);
        match unnamed {
            Ok(mut file) => {
                file.write_all(text.as_bytes())?;
                file.sync_all()?;
                let fd_path = format!("/proc/self/fd/{}", file.as_raw_fd());
                // (linkat follows the /proc link to the open file, as link(2) cannot.)
                let here = nix::fcntl::AT_FDCWD;
                let follow = nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW;
                nix::unistd::linkat(here, fd_path.as_str(), here, &path, follow)?;
            }
            Err(err) if matches!(err.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                file.write_all(text.as_bytes())?;
                file.sync_all()?;
            }
            Err(err) => return Err(err),
        }
        Ok(LockFile {
            on_signal: Some(Remove::file(&path).map_err(std::io::Error::other)?),
            path,
            contents,
            creator: getpid(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn contents(&self) -> &PidFile {
        &self.contents
    }

    /// Like `AddToDataDirLockFile`: changes some lines and rewrites the file in place, with
    /// one write at offset 0 and no truncation, so that a crash at any moment leaves the old
    /// text or the new, never an empty file. Lines are only added or replaced by lines of
    /// the same length (the status words are padded to 8 bytes, as PostgreSQL's are), so the
    /// new text is never shorter than the old and nothing of the old is left after it.
    pub fn update(&mut self, change: impl FnOnce(&mut PidFile)) -> Result<()> {
        let old = self.contents.render().len();
        change(&mut self.contents);
        let text = self.contents.render();
        assert!(text.len() >= old, "a lock file line was shortened");
        let file = OpenOptions::new().write(true).open(&self.path)?;
        file.write_all_at(text.as_bytes(), 0)?;
        file.sync_all()?;
        Ok(())
    }

    /// Deletes the file now, reporting failure (`Drop` can only ignore it).
    pub fn delete(mut self) -> Result<()> {
        drop(self.on_signal.take());
        let path = self.path.clone();
        std::mem::forget(self);
        std::fs::remove_file(&path)
            .map_err(|err| Error::Failed(format!("could not remove {}: {err}", path.display())))
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        if getpid() == self.creator {
            drop(self.on_signal.take());
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
// ANCHOR_END: lockfile

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

// ANCHOR: lock
/// `CreateLockFile`: make `dir/postmaster.pid` ours, or say why not. A lock file left by a
/// dead server is checked (see [`decide`]), cleaned up, and the creation tried again.
pub fn lock_data_dir(dir: &Path, start_time: i64, notes: &mut Vec<Note>) -> Result<LockFile> {
    DirId::of(dir)?;
    let shown = dir.display();
    for _ in 0..100 {
        let path = dir.join(LOCK_FILE);
        match LockFile::create(dir, PidFile::new(dir, start_time)) {
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
        let segment = match found.shmem {
            Some((key, shmid)) => Some(classify(shmid, dir).map_err(|err| {
                Error::Failed(format!(
                    "could not tell whether shared memory block (key {}, shmid {shmid}) is \
                     still in use ({err}); if no server runs in {shown}, remove it with ipcrm",
                    key_hex(key)
                ))
            })?),
            None => None,
        };
        match decide(&found, owner_alive(found.pid), segment) {
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

// ANCHOR: interlock
/// The tiny segment: just a [`Header`], at the first free key from `dir`'s inode number (lesson
/// 06's search, which skips strangers and removes a stale segment of ours). `report` hears of
/// every segment the search met on its way. It stays attached: that is our `nattch`.
pub fn create_interlock(dir: &Path, report: &mut dyn FnMut(&Probe)) -> Result<Created> {
    let key = l06_keys_and_strangers::key_from_inode(dir)?;
    l06_keys_and_strangers::create_from(dir, size_of::<Header>(), key, report)
}

/// Copies the interlock's header into the start of the big mapping, as PostgreSQL copies its
/// `PGShmemHeader` into the anonymous segment: whoever finds the big area finds it described.
pub fn copy_header(shmem: &Mapping, header: &Header) {
    assert!(shmem.len() >= PARTS_OFFSET && page_size() > 0);
    // SAFETY: the mapping is page-aligned and longer than a Header (asserted); no other
    // process exists yet, so nobody reads while we write.
    unsafe { shmem.as_ptr().cast::<Header>().write(*header) };
}
// ANCHOR_END: interlock

/// Seconds since 1970, for line 3.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The text of `dir/postmaster.pid`, or `None` if there is none.
pub fn read_lock_file(dir: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(dir.join(LOCK_FILE)) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_is_the_slop_plus_the_parts_rounded_up() {
        let parts = parts(16, 4).unwrap();
        let sum: usize = SLOP + parts.iter().map(|p| p.size).sum::<usize>();
        assert_eq!(sum, 100_000 + 512 + 1024 + 65_536 + 131_072);
        assert_eq!(shmem_size(&parts), Some(303_104));
        assert_eq!(shmem_size(&parts).unwrap() % SIZE_ROUNDING, 0);
        assert_eq!(offsets(&parts), [128, 640, 1664, 67_200]);
    }

    #[test]
    fn sizes_that_overflow_are_none() {
        assert_eq!(parts(usize::MAX / 2, 1), None);
        let huge = [ShmemPart {
            name: "x".into(),
            size: usize::MAX - 10,
        }];
        assert_eq!(shmem_size(&huge), None);
    }

    #[test]
    fn the_lock_file_round_trips_in_postgresqls_layout() {
        let mut pid_file = PidFile::new(Path::new("/srv/data"), 1_795_682_337);
        pid_file.pid = 32242;
        assert_eq!(pid_file.render(), "32242\n/srv/data\n1795682337\n0\n\n\n");
        pid_file.shmem = Some((382_114, 163_880));
        pid_file.status = Some(STATUS_READY.into());
        let text = pid_file.render();
        assert_eq!(
            text.lines().nth(6),
            Some("   382114    163880"),
            "line 7 is %9lu %9lu, as a real postmaster.pid shows"
        );
        assert_eq!(text.lines().nth(7), Some("ready   "));
        assert_eq!(PidFile::parse(&text), Some(pid_file));
    }

    #[test]
    fn a_real_postgresql_lock_file_parses() {
        let text = "32242\n/var/lib/postgresql/15/main\n1795682337\n5432\n/var/run/postgresql\n\
                    localhost\n   382114    163880\nready   \n";
        let pid_file = PidFile::parse(text).unwrap();
        assert_eq!(pid_file.pid, 32242);
        assert_eq!(pid_file.port, 5432);
        assert_eq!(pid_file.shmem, Some((0x0005_d4a2, 163_880)));
    }

    #[test]
    fn empty_or_garbled_lock_files_do_not_parse() {
        assert_eq!(PidFile::parse(""), None);
        assert_eq!(PidFile::parse("hello\n"), None);
        assert_eq!(PidFile::parse("0\n"), None);
        let half_written = PidFile::parse("4242\n/srv/data\n").unwrap();
        assert_eq!((half_written.pid, half_written.shmem), (4242, None));
    }

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

    #[test]
    fn the_huge_page_size_is_read_from_meminfo() {
        let size = huge_page_size();
        assert!(size >= 2 * 1024 * 1024 && size.is_power_of_two(), "{size}");
    }

    #[test]
    fn huge_pages_try_always_gives_memory() {
        let shmem = create_anonymous_segment(300_000, HugePages::Try).unwrap();
        let expected = if shmem.huge_pages {
            300_000usize.next_multiple_of(huge_page_size())
        } else {
            300_000
        };
        assert_eq!(shmem.mapping.len(), expected);
        assert_eq!(shmem.fallback.is_some(), !shmem.huge_pages);
    }
}
